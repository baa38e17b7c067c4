"""Gin plumbing: parse a model's gin file plus bindings, and write values back as bindings.

Gin state is module-global: every entry point (CLI command, Ray trial, model loader)
clears it and parses its own files, so nothing leaks from one fit to the next.
"""

from __future__ import annotations

import inspect
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
    import heartbeat.training.fit  # noqa: F401  (fit)


def binding_default(name: str):
    """The value a configurable's parameter takes where no config binds it: ``'BeatInput.context'`` -> False.

    Read from the signature of the function or class gin registered (``inspect.signature``); a
    ConfigError names a selector gin does not know or a parameter without a default."""
    register_all()
    selector, _, param = name.rpartition(".")
    match = gin.config._REGISTRY.get_match(selector) if selector else None
    if match is None:
        raise ConfigError(f"{name}: {selector or name!r} is not a registered configurable")
    try:
        default = inspect.signature(match.wrapped).parameters[param].default
    except KeyError:
        raise ConfigError(f"{name}: {selector} has no parameter {param!r}") from None
    if default is inspect.Parameter.empty:
        raise ConfigError(f"{name}: {selector}.{param} has no default; a config must bind it")
    return default


def parse_text(config: str, bindings: list[str] | None = None, safe: bool = False, where: str = "config") -> None:
    """Clear gin, then parse a config text (e.g. a model folder's config.gin) and extra bindings.

    ``safe``: the text comes from outside (a model folder the server loads) and may only bind the
    project's own configurables (:func:`check_safe`); it is checked before gin runs any of it."""
    register_all()
    if safe:
        check_safe(config, where)
    gin.clear_config()
    gin.parse_config([config, *(bindings or [])])


class _Recorder(gin.config_parser.ParserDelegate):
    """Notes the references and macros a config text uses, without resolving any (nothing runs)."""

    def __init__(self):
        self.references: list[tuple[str, bool]] = []
        self.macros: list[str] = []

    def configurable_reference(self, scoped_configurable_name, evaluate):
        self.references.append((scoped_configurable_name, evaluate))
        return scoped_configurable_name

    def macro(self, macro_name):
        self.macros.append(macro_name)
        return macro_name


def _project_configurable(selector: str) -> bool:
    try:
        match = gin.config._REGISTRY.get_match(selector)
    except Exception:  # an ambiguous or malformed selector
        return False
    return match is not None and (match.module or "").startswith("heartbeat.")


def check_safe(config: str, where: str = "config") -> None:
    """Refuse (ConfigError naming the line) a config text that asks for more than plain bindings of
    the project's own configurables: ``import``/``from`` lines (gin runs them when it parses),
    ``include`` (another file), a scope, a macro, an evaluated ``@name()`` reference, or a
    configurable or reference that is not the project's. A model folder's ``config.gin`` written
    by ``gin.operative_config_str()`` passes."""
    register_all()
    parser = gin.config_parser.ConfigParser(config, _Recorder())
    lines = config.splitlines()

    def refuse(location, why: str):
        n = location.line_num
        text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
        raise ConfigError(f"{where}, line {n}: {text!r}: {why}; a served model folder may only bind the "
                          "project's own configurables (heartbeat.*)")

    while True:
        delegate = parser._delegate
        delegate.references.clear()
        delegate.macros.clear()
        try:
            statement = parser.parse_statement()
        except SyntaxError as exc:
            raise ConfigError(f"{where}, line {exc.lineno}: {exc.msg}") from None
        if statement is None:
            return
        kind = type(statement).__name__
        if kind == "ImportStatement":
            refuse(statement.location, "an import runs code when the config is parsed")
        if kind != "BindingStatement":
            refuse(statement.location, f"{kind.removesuffix('Statement').lower()} statements are not allowed")
        if statement.scope:
            refuse(statement.location, f"the scope {statement.scope!r} is not allowed")
        if not _project_configurable(statement.selector):
            refuse(statement.location, f"{statement.selector!r} is not one of the project's configurables")
        if delegate.macros:
            refuse(statement.location, f"the macro %{delegate.macros[0]} is not allowed")
        for name, evaluate in delegate.references:
            if evaluate:
                refuse(statement.location, f"the evaluated reference @{name}() is not allowed")
            if "/" in name or not _project_configurable(name):
                refuse(statement.location, f"@{name} is not one of the project's configurables")


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
