"""Evaluate model folders: one model on any data, or every model in ``models/`` on its valid/test split.

The validation split of a model is rebuilt exactly as its search or fit carved it: the same
source resolution, split kind, seed and validation share recorded in its ``metrics.json``.
The test split is for the final evaluation only (``--on test``); searches never see it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from heartbeat.data import BeatSet, Dataset, load_dataset, valid_split
from heartbeat.data.sample import SAMPLE_NAME, SAMPLE_RECORDS, sample_dir
from heartbeat.data.sources import cached_wfdb_beats, resolve_source
from heartbeat.data.splits import DS1, protocol_beats
from heartbeat.errors import DataError, NotFoundError
from heartbeat.inference.modelio import LoadedModel, ModelInfo, load_model
from heartbeat.metrics import confusion, output_row


def evaluate(model: LoadedModel, beats: BeatSet) -> dict:
    """Metrics of ``model`` on ``beats``: the metrics module's dict plus the confusion matrix
    (:meth:`heartbeat.inference.modelio.LoadedModel.evaluate`, the one place they are computed)."""
    return model.evaluate(beats)


def json_ready(result: dict) -> dict:
    """NaN (a class absent from the data) becomes null; private keys are dropped."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, float) and math.isnan(v):
            return None
        return v

    return {k: clean(v) for k, v in result.items() if not k.startswith("_")}


def model_dirs(root: str | Path) -> list[Path]:
    root = Path(root)
    return sorted(p for p in root.iterdir() if (p / "config.gin").exists()) if root.is_dir() else []


def split_of(model: LoadedModel, data: str | Path | None, on: str, cache: dict) -> tuple[BeatSet, object]:
    """The model's valid or test beats, rebuilt from its recorded split (datasets cached by key)."""
    info = model.info
    key = (model.task, info.split, info.seed, info.valid_size, tuple(info.holdout), model.inputs.window)
    if key not in cache:
        ds = load_dataset(data, task=key[0], split_how=key[1], seed=key[2], holdout=key[4], window=key[5])
        cache[key] = (ds, valid_split(ds, key[3], key[2])[1])
    ds, valid = cache[key]
    if on == "holdout":
        if ds.synthetic:
            raise DataError(f"{model.tag}: no data found, so its held-out patients cannot be rebuilt; give --data")
        if ds.holdout is None:
            raise DataError(f"{model.tag} was trained without a patient holdout (--holdout): it has no holdout "
                             "split; evaluate it on other data with 'heartbeat evaluate --data'")
        return ds.holdout, ds
    return (valid if on == "valid" else ds.test), ds


def model_splits(models: str | Path | Iterable[str | Path], on: str = "valid", data: str | Path | None = None, *,
                 where: Callable[[LoadedModel], bool] | None = None,
                 warnings: list[str] | None = None) -> Iterator[tuple[LoadedModel, BeatSet, Dataset]]:
    """Each model folder, loaded, with its ``on`` split rebuilt as its fit carved it: (model, beats, dataset).

    The one loop that ``heartbeat score``, ``protocol`` and ``shift`` share.
    ``models`` is a folder of model folders (none there: NotFoundError) or the folders themselves (those
    without a config.gin are skipped). ``where(model)`` picks the models to score. Datasets are built
    once per recorded split (:func:`split_of`). Given a ``warnings`` list, a folder trained on synthetic
    beats, and under ``on='holdout'`` one trained without held-out patients, is named there and skipped.
    """
    if isinstance(models, (str, Path)):
        dirs = _folders(models)
    else:
        dirs = [Path(p) for p in models if (Path(p) / "config.gin").exists()]
    cache: dict = {}
    for path in dirs:
        model = load_model(path)
        if where is not None and not where(model):
            continue
        if warnings is not None:
            if _synthetic(model, warnings):
                continue
            if on == "holdout" and not model.info.holdout:
                # nothing to score: a ds1ds2 model's unseen patients are its test split (heartbeat protocol)
                warnings.append(f"{model.tag} was trained without a patient holdout: left out of the holdout scores")
                continue
        beats, ds = split_of(model, data, on, cache)
        yield model, beats, ds


@dataclass
class Scores:
    """What ``heartbeat score`` writes: ``table``, one ``results/output.csv`` row per model folder;
    ``confusions``, each model's confusion matrix in long form (model, true, predicted, beats), for
    ``results/confusions.csv``; the ``warnings`` to show; and whether the figures are stand-ins
    (synthetic beats, asked for with ``data='synthetic'``)."""

    table: pd.DataFrame
    confusions: pd.DataFrame
    warnings: list[str]
    stand_in: bool = False


def confusion_rows(tag: str, classes, y_true, y_pred) -> list[dict]:
    """One model's confusion matrix as long rows: every (true, predicted) pair of its classes, zeros included."""
    cm = confusion(y_true, y_pred, len(classes))
    return [{"model": tag, "true": t, "predicted": p, "beats": int(cm[i, j])}
            for i, t in enumerate(classes) for j, p in enumerate(classes)]


def _confusions(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model", "true", "predicted", "beats"])


def score_models(models_root: str | Path, on: str = "valid", data: str | Path | None = None,
                 log=print) -> Scores:
    """Every model folder scored on its ``on`` split: :class:`Scores` (the output.csv rows, the confusion
    matrices, the warnings, whether the figures are stand-ins).

    On the embedded sample (no data given anywhere) each model is scored on every sample beat it can
    label instead of its split: :func:`score_on_sample`. A folder trained on synthetic beats is named in
    the warnings and not scored against real data."""
    if resolve_source(data) == sample_dir():
        return score_on_sample(models_root, on, log)
    rows, cells, warnings, stand_in = [], [], [], False
    for model, beats, ds in model_splits(models_root, on, data, warnings=warnings):
        stand_in = stand_in or ds.synthetic
        recorded = model.info.data_path
        if not ds.synthetic and recorded is not None and recorded != ds.data_path:
            warnings.append(f"{model.tag} was trained on {model.info.data}; scored on {ds.source}")
        pred = model.predict_beats(beats)
        rows.append(output_row(model.tag, beats.y, pred, len(model.classes)))
        cells += confusion_rows(model.tag, model.classes, beats.y, pred)
        log(f"  {model.tag:<14} {on} {len(beats)} beats  Recallmacro {rows[-1]['Recallmacro']:.4f}  "
            f"F1scoremacro {rows[-1]['F1scoremacro']:.4f}")
    return Scores(pd.DataFrame(rows), _confusions(cells), warnings, stand_in)


def _folders(models_root: str | Path) -> list[Path]:
    """The model folders under ``models_root``; none there is a NotFoundError."""
    dirs = model_dirs(models_root)
    if not dirs:
        raise NotFoundError(f"no model folders in {models_root} (train one: heartbeat train, hypertune.py)")
    return dirs


def _synthetic(model: LoadedModel, warnings: list[str]) -> bool:
    """Whether ``model`` was trained on synthetic beats, then named in ``warnings``: not to be scored."""
    if model.info.synthetic:
        warnings.append(f"{model.path} was trained on SYNTHETIC beats: not scored (its figures would mean nothing; "
                        "retrain it on real data or delete the folder)")
    return model.info.synthetic


def _real_models(models_root: str | Path, warnings: list[str]):
    """The model folders to score, loaded, without rebuilding a split (the embedded sample's scores);
    those trained on synthetic beats are named and skipped."""
    for path in _folders(models_root):
        model = load_model(path)
        if not _synthetic(model, warnings):
            yield model


def seen_records(info: ModelInfo, records: tuple[str, ...]) -> tuple[str, ...] | None:
    """Which of ``records`` were in the model's training data, from its recorded split (None: not recorded)."""
    held = set(info.holdout)
    split = info.split
    if split == "intra":  # split by beat: every patient of the data is on the training side
        return tuple(r for r in records if r not in held)
    if split == "ds1ds2":
        return tuple(r for r in records if r in DS1 and r not in held)
    return None  # split by record with a seed: the assignment of these records is not recorded


def score_on_sample(models_root: str | Path, on: str, log=print) -> Scores:
    """Every MIT-BIH model on the embedded sample's beats (its own window and rhythm), saying which of the
    sample's patients it trained on. A ds1ds2 model sees the beats its protocol keeps (no paced record, no Q).
    ``on`` is only reported: the sample is too small to rebuild a model's split, so every beat is scored."""
    rows, cells, warnings, beats_of = [], [], [], {}
    warnings.append(f"no data given (--data, $HEARTBEAT_DATA, data/): scored on the EMBEDDED SAMPLE, "
                    f"{len(SAMPLE_RECORDS)} real MIT-BIH records ({','.join(SAMPLE_RECORDS)}), every beat of them "
                    f"instead of each model's {on} split. A check that the path works, not a benchmark: the full "
                    "database gives the README's figures (heartbeat data download, then make run)")
    for model in _real_models(models_root, warnings):
        if model.task != "mitbih":
            warnings.append(f"{model.tag} is a {model.task} model: the sample holds MIT-BIH records only, not scored")
            continue
        window = model.inputs.window
        if window not in beats_of:
            beats_of[window] = cached_wfdb_beats(sample_dir(), window=window)
        beats = beats_of[window]
        split = model.info.split
        if split == "ds1ds2":
            beats, _ = protocol_beats(beats)
        seen = seen_records(model.info, tuple(sorted(set(beats.record))))
        pred = model.predict_beats(beats)
        row = output_row(model.tag, beats.y, pred, len(model.classes))
        row.update({"data": f"{SAMPLE_NAME} records {','.join(sorted(set(beats.record)))}", "beats": len(beats),
                    "split": split, "window": window, "rhythm": bool(model.inputs.rhythm),
                    "trained_on_records": "not recorded" if seen is None else (",".join(seen) or "none")})
        rows.append(row)
        cells += confusion_rows(model.tag, model.classes, beats.y, pred)
        trained = ("which of them it trained on is not recorded" if seen is None
                   else f"it trained on {('record ' if len(seen) == 1 else 'records ') + ','.join(seen) if seen else 'none'} of them")
        log(f"  {model.tag:<22} {len(beats):>5} sample beats  Recallmacro {row['Recallmacro']:.4f}  "
            f"({'rhythm, ' if model.inputs.rhythm else ''}{window} window; {trained})")
    return Scores(pd.DataFrame(rows), _confusions(cells), warnings)
