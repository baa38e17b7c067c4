"""``heartbeat <verb>``: the command line, a thin shell over the library.

Each verb lives in a module of :mod:`heartbeat.commands` (the service's in
:mod:`heartbeat.serve.cli`) that registers its own parsers; this module only builds the top
parser, runs the verb, and turns bad input into one line and exit code 1 (usage errors exit 2,
from argparse; anything else is a bug and shows its traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from heartbeat.commands import VERB_MODULES, warn_if_synthetic  # noqa: F401  (warn_if_synthetic: re-exported)
from heartbeat.errors import run_entry
from heartbeat.options import EPILOG_DATA

START_HERE = """
where to start (each verb has its own --help):
  heartbeat score                              # every committed model in models/ -> results/output*.csv (make run)
  heartbeat predict src/heartbeat/data/sample/mitdb/208 --model models/cnn1d-rhythm-all  # -> predictions/208/
  heartbeat data download                      # the full MIT-BIH database into data/mitdb (needs internet)
  heartbeat train gin/models/cnn1d.gin --out models/mine --epochs 5  # one model from a gin file
  python hypertune.py --smoke-test             # a 1-minute search; python hypertune.py --help for real ones
  heartbeat serve --model models/cnn1d-rhythm-all                    # the prediction service (see docs/serving.md)
"""


def build_parser() -> argparse.ArgumentParser:
    from heartbeat import __version__
    from heartbeat.serve.cli import add_parsers as add_serve_parsers

    p = argparse.ArgumentParser(prog="heartbeat", description="ECG heartbeat classification: data, training, "
                                "hyperparameter search, evaluation, reports and serving.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=START_HERE + EPILOG_DATA)
    p.add_argument("--version", action="version", version=f"heartbeat {__version__}")
    sub = p.add_subparsers(dest="verb", required=True)
    for name in VERB_MODULES:
        importlib.import_module(f"heartbeat.commands.{name}").add_parsers(sub)
    add_serve_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a usage error exits 2 here, from argparse
    return run_entry(args.func, args)  # bad input: one line and exit 1 (heartbeat.errors)


if __name__ == "__main__":
    sys.exit(main())
