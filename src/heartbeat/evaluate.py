"""Evaluate model folders: one model on any data, or every model in ``models/`` on its valid/test split.

The validation split of a model is rebuilt exactly as its search or fit carved it: the same
source resolution, split kind, seed and validation share recorded in its ``metrics.json``.
The test split is for the final evaluation only (``--on test``); searches never see it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.data import BeatSet, load_dataset, valid_split
from heartbeat.errors import DataError, NotFoundError
from heartbeat.metrics import classification_metrics, confusion, output_row
from heartbeat.modelio import LoadedModel, load_model


def evaluate(model: LoadedModel, beats: BeatSet) -> dict:
    """Metrics of ``model`` on ``beats``: the metrics module's dict plus the confusion matrix."""
    if beats.task != model.task:
        raise DataError(f"model {model.tag} is for task {model.task!r} but the data is {beats.task!r}")
    pred = model.predict_beats(beats)
    metrics = classification_metrics(beats.y, pred, model.classes)
    present = set(np.unique(beats.y))
    return {
        "model": model.tag,
        "n": len(beats),
        **{k: v for k, v in metrics.items() if k != "n"},
        "recall_per_class": {c: metrics[f"recall_{c}"] for c in model.classes},
        "absent_classes": [c for i, c in enumerate(model.classes) if i not in present],
        "confusion": confusion(beats.y, pred, len(model.classes)).tolist(),
        "_pred": pred,
    }


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
    key = (model.task, info.get("split", "intra"), int(info.get("seed", 0)), float(info.get("valid_size", 0.2)),
           tuple(info.get("holdout") or ()), model.inputs.window)
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


def score_models(models_root: str | Path, on: str = "valid", data: str | Path | None = None,
                 log=print) -> tuple[pd.DataFrame, list[str], bool]:
    """One ``results/output.csv`` row per model folder; also returns warnings to show, and whether a
    model trained on real data had to be scored on synthetic beats (no data found)."""
    rows, warnings, cache, stand_in = [], [], {}, False
    dirs = model_dirs(models_root)
    if not dirs:
        raise NotFoundError(f"no model folders in {models_root} (train one: heartbeat train, hypertune.py)")
    for path in dirs:
        model = load_model(path)
        if on == "holdout" and not model.info.get("holdout"):
            # nothing to score: a ds1ds2 model's unseen patients are its test split (heartbeat protocol)
            warnings.append(f"{model.tag} was trained without a patient holdout: left out of the holdout scores")
            continue
        beats, ds = split_of(model, data, on, cache)
        if ds.synthetic and not model.info.get("synthetic", False):
            stand_in = True
            warnings.append(f"{model.tag} was trained on {model.info.get('data')} but no data was found: "
                            "scored on SYNTHETIC beats, the figures mean nothing")
        recorded = model.info.get("data_path")
        if not ds.synthetic and recorded is not None and recorded != ds.data_path:
            warnings.append(f"{model.tag} was trained on {model.info.get('data')}; scored on {ds.source}")
        pred = model.predict_beats(beats)
        rows.append(output_row(model.tag, beats.y, pred, len(model.classes)))
        log(f"  {model.tag:<14} {on} {len(beats)} beats  Recallmacro {rows[-1]['Recallmacro']:.4f}  "
            f"F1scoremacro {rows[-1]['F1scoremacro']:.4f}")
    return pd.DataFrame(rows), warnings, stand_in
