"""``python -m heartbeat.serve serve|retrain ...``: the two verbs without the rest of the CLI."""

from __future__ import annotations

import argparse
import sys

from heartbeat.data import DataError
from heartbeat.serve.cli import add_parsers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heartbeat.serve", description=__doc__.split(":")[1].strip())
    add_parsers(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (DataError, ValueError, FileNotFoundError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
