"""The errors of bad input: each says what was wrong, where, and what was expected.

One policy for every entry point (``heartbeat``, ``python -m heartbeat.serve``, ``hypertune.py``,
``python -m heartbeat.report.summary``): :func:`run_entry` turns any :class:`HeartbeatError` into a
one-line ``error: ...`` on stderr and exit code 1; usage errors exit 2, from argparse; anything else
is a bug and shows its traceback. Each class also derives from the built-in type a Python caller
would catch (ValueError, FileNotFoundError, LookupError, RuntimeError), so ``except ValueError``
keeps working.
"""

import sys


class HeartbeatError(Exception):
    """Bad input to heartbeat: data, configuration, a model folder, a search."""


class DataError(HeartbeatError, ValueError):
    """Bad input data: the message names the file, the row/column and what was expected."""


class ConfigError(HeartbeatError, ValueError):
    """A value outside what heartbeat knows or allows: a gin file or binding, an option, a service setting."""


class NotFoundError(HeartbeatError, FileNotFoundError):
    """A file or folder that should exist does not (a model folder, results to report on)."""


class RegistryError(HeartbeatError, LookupError):
    """An MLflow registry entry that does not exist or holds no heartbeat model."""


class ExistsError(HeartbeatError, FileExistsError):
    """A file or folder would be overwritten, and overwriting was not asked for (``--force``, ``force=True``)."""


class ConflictError(HeartbeatError, LookupError):
    """A name that is already taken (a user of the service)."""


class ReportError(HeartbeatError, RuntimeError):
    """Results that cannot be reported as asked (a summary that does not fit its pages)."""


def run_entry(work, *args) -> int:
    """Run an entry point's ``work(*args)``: its exit code (0 for None); bad input is one line and exit 1."""
    try:
        return work(*args) or 0
    except HeartbeatError as exc:  # bad input: one line; anything else is a bug and keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
