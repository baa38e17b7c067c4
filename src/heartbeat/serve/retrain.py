"""``heartbeat retrain``: a served model retrained on its original data plus the clinicians' labels.

The model folder's own ``config.gin`` is parsed again (same family, bindings and ``fit.*``),
the original data is loaded with the folder's task, split and seed (``metrics.json``; or
``--data PATH``), and the validation side is carved exactly as at first, so the new
version's validation metrics compare like for like with the old one's. A model with rhythm
input learns from the labelled beats the service stored with that rhythm (the model's own
``BeatInput.names`` and window); the training side keeps the same features, so the new folder
takes the same inputs as the source. Labelled beats without them are left out and counted. Every beat a
clinician labelled in the service's database (any model version of the same task) is added
to the *training* side only (``feedback_repeat`` times, to give a few hundred labels weight
beside tens of thousands of beats). The result is a new model folder with a drift reference
of its training beats (``reference.json``), optionally registered as a new version in
MLflow; open retraining requests in the database are then closed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import gin
import numpy as np
from sqlalchemy import select

from heartbeat.config import parse_text
from heartbeat.data import BeatSet, DataError, Dataset, load_dataset, split, valid_split
from heartbeat.data.inputs import BeatInput
from heartbeat.data.sample import SAMPLE_NAME, sample_dir
from heartbeat.data.sources import default_source
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.errors import ConfigError, NotFoundError
from heartbeat.inference.modelinfo import ModelInfo
from heartbeat.serve.db import (
    Labelled,
    RetrainRequest,
    labelled_beats,
    labelled_inputs,
    make_engine,
    redact,
    session_factory,
    utcnow,
)
from heartbeat.serve.monitor import write_reference


@dataclass
class RetrainResult:
    out: Path
    info: ModelInfo
    feedback_beats: int
    registered: str | None  # "NAME/VERSION"
    closed_requests: list[int]


def original_dataset(info: ModelInfo, data: str | Path | None = None) -> Dataset:
    """The data a model folder was trained on: ``data`` if given, else the source in its metrics.json."""
    task, seed, how = info.task, info.seed, info.split
    holdout = tuple(info.holdout)  # the same patients stay unseen by the retrained model
    if data is not None:
        return load_dataset(data, task=task, split_how=how, seed=seed, holdout=holdout, window=info.window)
    if info.synthetic:
        # load_dataset's own fallback, made explicit: it would prefer any data found on this machine

        beats = synthetic_beats(20000, task=task, seed=seed)
        train, test = split(beats, "intra", 0.2, seed)
        return Dataset(train, test, source=beats.report.source, synthetic=True)
    # the record names what was read relative to the data root; the root is this machine's own
    root = default_source()
    if root == sample_dir() and not info.data.startswith(SAMPLE_NAME):
        raise DataError(f"the model's training data ({info.data}) is not found here: give --data PATH, or "
                        "set HEARTBEAT_DATA to the folder holding it")
    rel = info.data_path
    path = root / rel if rel else root
    if not path.exists():
        raise DataError(f"the model's training data <data>/{rel} is not found under {root}; give --data PATH")
    return load_dataset(path, task=task, split_how=how, seed=seed, holdout=holdout, window=info.window)


def feedback_beats(db_url: str, task: str) -> tuple[np.ndarray, np.ndarray]:
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            return labelled_beats(s, task)
    finally:
        engine.dispose()


def feedback_inputs(db_url: str, task: str, names: tuple[str, ...], window: str) -> Labelled:
    """The labelled beats of ``db_url`` a model taking ``window`` beats and the features ``names`` learns from."""
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            return labelled_inputs(s, task, names, window)
    finally:
        engine.dispose()


def with_features(beats: BeatSet, inputs: BeatInput, who: str) -> BeatSet:
    """``beats`` with only the per-beat features the model takes (``inputs.names``, in that order): beats
    from records carry 19 (heartbeat.data.context.ALL_RHYTHM_NAMES), a model takes some of them, and the
    labelled beats stored by the service carry exactly those."""
    _, rhythm = inputs.arrays(beats, who)  # a DataError names what is missing
    return replace(beats, rhythm=np.ascontiguousarray(rhythm, dtype=np.float32), rhythm_names=inputs.names)


def retrain(model_dir: str | Path, data: str | Path | None = None, db_url: str | None = None,
            out: str | Path | None = None, register: str | None = None, epochs: int | None = None,
            feedback_repeat: int = 1, on_epoch=None) -> RetrainResult:
    """Retrain ``model_dir`` from its own config on its data plus the labelled beats of ``db_url``."""
    # heartbeat.inference.modelio brings torch: only where this function runs
    from heartbeat.inference.modelio import folder_version, save_model
    from heartbeat.training.fit import fit  # heartbeat.training.fit brings torch: only where this function runs

    model_dir = Path(model_dir)
    for name in ("config.gin", "metrics.json"):
        if not (model_dir / name).exists():
            raise NotFoundError(f"{model_dir}: not a model folder ({name} missing)")
    if feedback_repeat < 1:
        raise ConfigError(f"feedback_repeat {feedback_repeat}: expected at least 1")
    info = ModelInfo.read(model_dir)
    task = info.task
    dataset = original_dataset(info, data)
    parse_text((model_dir / "config.gin").read_text())
    seed = info.seed
    train, valid = valid_split(dataset, info.valid_size, seed)

    inputs = BeatInput()  # the window and per-beat features the model takes, from its config.gin
    names = inputs.names
    if db_url is not None:
        fb = feedback_inputs(db_url, task, names, inputs.window)
    else:
        fb = Labelled(np.zeros((0, train.X.shape[1]), np.float32), np.zeros(0, np.int64),
                      np.zeros((0, len(names)), np.float32) if names else None, {})
    if names:  # the training side keeps only the model's own features, so the labelled beats line up with it
        train = with_features(train, inputs, f"model {model_dir.name}")
    labelled = BeatSet(fb.X, fb.y, task, rhythm=fb.rhythm, rhythm_names=names if names else (), window=inputs.window)
    parts = [train] + [labelled] * (feedback_repeat if len(labelled) else 0)
    train_all = BeatSet.concat(parts) if len(parts) > 1 else train

    result = fit(train_all, valid, on_epoch=on_epoch, max_epochs=epochs)
    out = Path(out or model_dir.parent / f"{model_dir.name}-retrained-{time.strftime('%Y%m%d-%H%M%S')}")
    record = ModelInfo.of_fit(
        result, dataset, train.classes, seed, info.valid_size,
        retrained_from={"tag": info.tag or model_dir.name, "version": folder_version(model_dir),
                        "path": str(model_dir), "valid": info.valid},
        feedback_beats=int(len(labelled)), feedback_repeat=feedback_repeat, feedback_skipped=fb.skipped,
        feedback_classes={c: int(n) for c, n in labelled.class_counts().items()},
        feedback_db=redact(db_url) if db_url else None, train_beats=int(len(train_all)))
    save_model(out, result.model, gin.operative_config_str(), record, result.inputs)
    new_info = ModelInfo.read(out)
    write_reference(out, train_all.X, "training data (original and labelled beats)")
    registered = None
    if register:
        # heartbeat.registry brings fastapi, mlflow: only where this function runs
        from heartbeat.registry import register_model_dir

        version = register_model_dir(out, register, tags={"retrained_from": new_info.extra["retrained_from"]["version"],
                                                          "feedback_beats": str(len(labelled))})
        registered = f"{register}/{version}"
    closed = close_requests(db_url, f"retrained into {out}" + (f", registered as {registered}" if registered else "")) \
        if db_url else []
    return RetrainResult(out, new_info, int(len(labelled)), registered, closed)


def close_requests(db_url: str, resolution: str) -> list[int]:
    """Close every open retraining request; returns their ids."""
    engine = make_engine(db_url)
    try:
        with session_factory(engine).begin() as s:
            requests = s.scalars(select(RetrainRequest).where(RetrainRequest.status == "open")).all()
            for req in requests:
                req.status, req.resolved_at, req.resolution = "done", utcnow(), resolution
            return [req.id for req in requests]
    finally:
        engine.dispose()


def describe_run(result: RetrainResult, old_valid: dict | None, out=None) -> None:
    """Print the feedback used and the validation metrics before and after."""
    out = out or sys.stdout
    m, extra = result.info.valid, result.info.extra
    print(f"feedback beats: {result.feedback_beats} ("
          + ", ".join(f"{c} {n}" for c, n in extra["feedback_classes"].items()) + f"), "
          f"x{extra['feedback_repeat']}; training beats {extra['train_beats']}", file=out)
    for why, n in (extra.get("feedback_skipped") or {}).items():
        print(f"left out {n} labelled beat(s): {why}", file=out)
    keys = ("recall_macro", "f2_macro", "f1_macro", "accuracy")
    print(f"{'valid metric':<16}{'before':>10}{'after':>10}", file=out)
    for k in keys + tuple(f"recall_{c}" for c in result.info.classes):
        before = (old_valid or {}).get(k)
        fmt = lambda v: "-" if v is None or v != v else f"{v:.4f}"  # noqa: E731  (NaN: absent class)
        print(f"{k:<16}{fmt(before):>10}{fmt(m.get(k)):>10}", file=out)
    print("wrote", result.out, file=out)
    if result.registered:
        print("registered", result.registered, file=out)
    if result.closed_requests:
        print("closed retraining requests", ", ".join(map(str, result.closed_requests)), file=out)
