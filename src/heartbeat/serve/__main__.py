"""``python -m heartbeat.serve serve|retrain ...``: the two verbs without the rest of the CLI."""

from __future__ import annotations

import argparse
import sys

from heartbeat.errors import run_entry
from heartbeat.serve.cli import add_parsers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heartbeat.serve", description=__doc__.split(":")[1].strip())
    add_parsers(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    return run_entry(args.func, args)  # bad input: one line and exit 1, as heartbeat does


if __name__ == "__main__":
    sys.exit(main())
