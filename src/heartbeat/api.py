"""The Python API: what notebooks, the CLI, the tests and the benchmarks call.

::

    import heartbeat as hb
    data = hb.load_data("../shared/data", split="ds1ds2", window="pwave")
    model = hb.train("gin/models/cnn1d.gin", bindings={"BeatInput.rhythm": True}, data=data, epochs=5)
    model.evaluate(data.test)["recall_macro"]
    hb.load_model("models/cnn1d-ds1ds2").predict(data.test)

None of these takes command-line arguments; the CLI is a thin shell that parses them, prints and
sets exit codes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import gin

from heartbeat.config import parse, preserved_gin
from heartbeat.data import SYNTHETIC_WARNING, BeatSet, DataError, Dataset, load_dataset, valid_split
from heartbeat.data.inputs import BeatInput
from heartbeat.errors import ExistsError
from heartbeat.inference.modelio import LoadedModel as Model
from heartbeat.inference.modelio import ModelInfo, load_model, save_model
from heartbeat.models.fusion import build_model  # noqa: F401  (registers RhythmFusion)
from heartbeat.options import SearchOptions
from heartbeat.training.fit import fit
from heartbeat.tuning.tune import SearchResult, run_search


class SyntheticDataWarning(UserWarning):
    """The built-in synthetic beats were asked for: figures on them mean nothing."""


def load_data(source: str | Path | None = None, task: str = "mitbih", split: str = "intra", seed: int = 0,
              holdout: str | tuple[str, ...] | None = None, window: str = "kachuee", test_size: float = 0.2,
              allow_synthetic: bool = True) -> Dataset:
    """Train and test beats of a task from ``source`` (else ``$HEARTBEAT_DATA``, else ``data/``, else the
    embedded sample of 4 real MIT-BIH records).

    ``source='synthetic'`` asks for the built-in synthetic beats, and a :class:`SyntheticDataWarning`
    says so (``allow_synthetic=False`` makes it a DataError instead); they are never a fall-back. ``split``: 'intra', 'inter' or
    'ds1ds2'; ``window``: 'kachuee' or 'pwave' (see heartbeat.data.inputs).
    """
    ds = load_dataset(source, task=task, split_how=split, seed=seed, test_size=test_size, holdout=holdout,
                      window=window)
    if ds.synthetic:
        if not allow_synthetic:
            raise DataError("synthetic beats were asked for (source='synthetic'), but this needs real data: give "
                            "source= a data folder or file, or leave it out for $HEARTBEAT_DATA, data/ or the "
                            "embedded sample")
        warnings.warn(SYNTHETIC_WARNING, SyntheticDataWarning, stacklevel=2)
    return ds


def config_values(config: str | Path, bindings: dict | list[str] | None = None) -> tuple["BeatInput", str]:
    """What a model config asks of the data and the fit: its BeatInput (window, rhythm) and objective.

    The caller's gin config is left as it was."""

    with preserved_gin():
        parse(config, bindings)
        return BeatInput(), gin.get_bindings("fit").get("objective", "f2_macro")


def refuse_existing(out: str | Path | None, how_to_force: str, force: bool = False) -> None:
    """Raise ExistsError when ``out`` is a folder with files in it (or a file) and ``force`` is not given."""
    if out is None or force:
        return
    out = Path(out)
    if out.is_file() or (out.is_dir() and any(out.iterdir())):
        raise ExistsError(f"{out} already exists and would be overwritten; {how_to_force}, or choose another folder")


def train(config: str | Path, bindings: dict | list[str] | None = None, data: Dataset | str | Path | None = None,
          out: str | Path | None = None, *, epochs: int | None = None, valid_size: float = 0.2, seed: int = 0,
          device: str = "cpu", on_epoch: Callable[[dict, object], None] | None = None, force: bool = False,
          fold: tuple[int, int] | None = None) -> Model:
    """Train the model of gin file ``config`` (plus ``bindings``) and return it, saved to ``out`` if given.

    An ``out`` folder that already holds files is refused (:class:`heartbeat.errors.ExistsError`) unless
    ``force=True``: a committed model is never overwritten by accident.

    ``data`` is a Dataset from :func:`load_data`, or a source for it (its split 'intra' and the
    model's own window). Validation is carved from the training side (``valid_size``, ``seed``), or
    is its ``fold=(i, k)``: the i-th of k patient-grouped folds (inter and ds1ds2 splits); the test
    side is not touched. ``on_epoch(row, net)`` sees every epoch's metrics.
    The caller's gin config is left as it was.
    """

    refuse_existing(out, "pass force=True to overwrite it", force)
    with preserved_gin():
        parse(config, bindings)
        inputs = BeatInput()
        ds = data if isinstance(data, Dataset) else load_data(data, seed=seed, window=inputs.window)
        train_set, valid = valid_split(ds, valid_size, seed, fold)
        result = fit(train_set, valid, on_epoch=on_epoch, max_epochs=epochs, device=device)

        info = ModelInfo.of_fit(result, ds, train_set.classes, seed, valid_size)
        config_text = gin.operative_config_str()
    if out is not None:
        save_model(out, result.model, config_text, info, result.inputs)
        return load_model(out, device=device)
    family = type(result.model.backbone if hasattr(result.model, "backbone") else result.model).__name__
    return Model(Path(out or "."), Path(str(config)).stem, family, ds.task, train_set.classes, config_text,
                 info, result.model, result.inputs)


def search(search_file: str | Path = "gin/search/cnn1d.gin", **options) -> SearchResult:
    """Search the space of ``search_file`` with Ray Tune (ASHA + Optuna TPE) and return its result.

    ``options`` are :class:`heartbeat.options.SearchOptions` (``num_samples``, ``time_budget`` in
    minutes, ``max_epochs``, ``data``, ``split``, ``name``, ``smoke_test``, ``resume``, ``force``,
    ``verbose``, ...). The result holds the trials table, the summary and the best model folder
    (``load_model(result.model_dir)``). Everything goes under ``runs/`` (ignored by git) unless
    ``root=`` (or ``results=``, ``models=``, ``best_gin=``) says otherwise. Raises
    :class:`heartbeat.tuning.tune.SearchError` before Ray starts when the data cannot serve the space or a
    folder would be overwritten (``force=True``), and when no trial finished;
    :class:`heartbeat.tuning.tune.SearchInterrupted` on Ctrl-C, saying how to continue (``resume=True``).
    """
    return run_search(SearchOptions(search=str(search_file), **options))


__all__ = ["BeatSet", "Dataset", "Model", "SearchResult", "SyntheticDataWarning", "load_data", "load_model",
           "search", "train"]
