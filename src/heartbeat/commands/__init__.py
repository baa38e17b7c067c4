"""The verbs of ``heartbeat``: one module per group, each registering its own parsers (``add_parsers(sub)``).

A command parses nothing itself: argparse hands it its arguments, it calls the library (the API
in heartbeat.api, and the modules under it), prints, and returns an exit code. Heavy imports stay
inside the commands, so ``heartbeat --help`` loads no torch, sklearn, ray or pandas.
"""

from __future__ import annotations

#: the modules whose verbs ``heartbeat`` offers, in the order of its help (the service's verbs come from
#: heartbeat.serve.cli, which registers itself the same way)
VERB_MODULES = ("data", "train", "evaluate", "predict", "search", "report")


def warn_if_synthetic(dataset) -> None:
    """:func:`heartbeat.data.sources.warn_if_synthetic`, imported when called: ``heartbeat --help`` loads no data code."""
    from heartbeat.data.sources import warn_if_synthetic as warn

    warn(dataset)
