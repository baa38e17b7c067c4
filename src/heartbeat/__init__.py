"""heartbeat: hyperparameter search for ECG heartbeat classification.

The Python API (heartbeat.api): ``load_data``, ``train``, ``search``, ``load_model`` and the
``Model`` they return (``predict``, ``evaluate``). They are imported on first use, so that
``import heartbeat`` and ``heartbeat --help`` stay fast.
"""

__version__ = "0.2.0"

_API = ("BeatSet", "Dataset", "Model", "SearchResult", "SyntheticDataWarning", "load_data", "load_model", "search",
        "train")


def __getattr__(name: str):
    if name in _API:
        from heartbeat import api  # torch and the whole API: only on first use, so `import heartbeat` stays fast

        return getattr(api, name)
    raise AttributeError(f"module 'heartbeat' has no attribute {name!r}")


__all__ = [*_API, "__version__"]
