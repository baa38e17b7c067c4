"""Gin plumbing: parse a model's gin file plus bindings, and write values back as bindings.

Gin state is module-global: every entry point (CLI command, Ray trial, model loader)
clears it and parses its own files, so nothing leaks from one fit to the next.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import gin

from heartbeat.data.sources import project_root
from heartbeat.errors import ConfigError


def binding(name: str, value) -> str:
    """``name = value`` in gin syntax (strings quoted, tuples/lists kept, ``@Ref`` left as is)."""
    if isinstance(value, str) and value.startswith("@"):
        return f"{name} = {value}"
    return f"{name} = {value!r}"


def register_all() -> None:
    """Import every module that registers configurables, so any project gin text parses."""
    import heartbeat.data.augment  # noqa: F401  (Augment)
    import heartbeat.models  # noqa: F401  (the families)
    import heartbeat.fit  # noqa: F401  (fit)


def parse_text(config: str, bindings: list[str] | None = None) -> None:
    """Clear gin, then parse a config text (e.g. a model folder's config.gin) and extra bindings."""
    register_all()
    gin.clear_config()
    gin.parse_config([config, *(bindings or [])])


def parse(files: list[str | Path] | str | Path, bindings: list[str] | dict | None = None) -> None:
    """Clear gin, then parse ``files`` (relative paths and includes resolve from the project root)."""
    register_all()
    files = [files] if isinstance(files, (str, Path)) else list(files)
    if isinstance(bindings, dict):
        bindings = [binding(k, v) for k, v in bindings.items()]
    gin.clear_config()
    root = str(project_root())
    if root not in gin.config._LOCATION_PREFIXES:  # includes like 'gin/base.gin' from any cwd
        gin.add_config_file_search_path(root)
    resolved = [f if Path(f).exists() else Path(root) / f for f in map(str, files)]
    missing = [str(f) for f in resolved if not Path(f).exists()]
    if missing:
        raise ConfigError(f"gin file {missing[0]} not found (relative paths are tried from the working directory "
                          f"and the project root {root}); expected e.g. gin/models/cnn1d.gin or gin/best/<tag>.gin")
    gin.parse_config_files_and_bindings([str(f) for f in resolved], bindings or [], finalize_config=False)


@contextmanager
def preserved_gin():
    """Run a block that parses its own gin config, then put the caller's bindings back.

    Gin's state is module-global; the library's entry points (load_model, train) parse model
    configs, and a notebook user's own bindings must survive them.
    """
    saved = gin.config_str()
    try:
        yield
    finally:
        gin.clear_config()
        if saved.strip():
            register_all()
            gin.parse_config(saved)
