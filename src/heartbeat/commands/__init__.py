"""The verbs of ``heartbeat``: one module per group, each registering its own parsers (``add_parsers(sub)``).

A command parses nothing itself: argparse hands it its arguments, it calls the library (the API
in heartbeat.api, and the modules under it), prints, and returns an exit code. Heavy imports stay
inside the commands, so ``heartbeat --help`` loads no torch, sklearn, ray or pandas.
"""

from __future__ import annotations

import sys

#: the modules whose verbs ``heartbeat`` offers, in the order of its help (the service's verbs come from
#: heartbeat.serve.cli, which registers itself the same way)
VERB_MODULES = ("data", "train", "evaluate", "predict", "search", "report")


def warn_if_synthetic(dataset) -> None:
    """Say loudly, on stderr, that the data are the built-in synthetic beats."""
    from heartbeat.data import SYNTHETIC_WARNING

    if dataset.synthetic:
        print("\n" + SYNTHETIC_WARNING + "\n", file=sys.stderr)
