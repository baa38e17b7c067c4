"""The errors of bad input: each says what was wrong, where, and what was expected.

The CLI turns any :class:`HeartbeatError` into a one-line ``error: ...`` and exit code 1
(usage errors exit 2, from argparse); anything else is a bug and shows its traceback. Each
class also derives from the built-in type a Python caller would catch (ValueError,
FileNotFoundError, LookupError), so ``except ValueError`` keeps working.
"""


class HeartbeatError(Exception):
    """Bad input to heartbeat: data, configuration, a model folder, a search."""


class DataError(HeartbeatError, ValueError):
    """Bad input data: the message names the file, the row/column and what was expected."""


class ConfigError(HeartbeatError, ValueError):
    """A gin file or binding, or an option value, that is not one heartbeat knows."""


class NotFoundError(HeartbeatError, FileNotFoundError):
    """A file or folder that should exist does not (a model folder, results to report on)."""


class RegistryError(HeartbeatError, LookupError):
    """An MLflow registry entry that does not exist or holds no heartbeat model."""


class ExistsError(HeartbeatError, FileExistsError):
    """A file or folder would be overwritten, and overwriting was not asked for (``--force``, ``force=True``)."""
