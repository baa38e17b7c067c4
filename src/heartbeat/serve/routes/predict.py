"""Predictions: one beat, a batch, or every beat of a raw segment; each stored for monitoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from heartbeat.data.beatset import DataError
from heartbeat.data.rhythm import RHYTHM_NAMES
from heartbeat.inference.operating import abnormal
from heartbeat.inference.recording import (
    MAX_FS,
    MIN_FS,
    RateError,
    Recording,
    check_signal,
    pick_lead,
    recording_beats,
    summarise,
)
from heartbeat.serve import auth
from heartbeat.serve.db import Prediction, beat_bytes, beat_hash
from heartbeat.serve.deps import DB, Reader, Svc, invalid
from heartbeat.serve.limits import TimeLimit, call_with_time_limit
from heartbeat.serve.schemas import (
    BatchOut,
    BeatIn,
    BeatOut,
    BeatsIn,
    PredictionOut,
    RecordBeatOut,
    RecordIn,
    RecordOut,
)

router = APIRouter()


def predict_rows(svc: Svc, X: np.ndarray, p: auth.Principal, s: Session, request: Request,
                 rhythm: np.ndarray | None = None, commit: bool = True) -> list[BeatOut]:
    """Classify and store beats; ``commit=False`` only flushes (ids given), for a caller that stores
    more in the same transaction (an uploaded recording, heartbeat.serve.routes.page)."""
    request.state.beats = len(X)
    P = svc.model.predict_proba(X, rhythm=rhythm)  # (n, classes)
    bad = np.flatnonzero(~np.isfinite(P).all(axis=1))
    if len(bad):  # a NaN argmax is class 0, "normal": no label at all rather than that one
        raise invalid(("body",), f"beat {bad[0]}: the model gave non-finite probabilities ({len(bad)} beat(s) in "
                                 "all); nothing was stored or labelled", "non_finite_output")
    p_abnormal = 1.0 - P[:, 0]
    labels = svc.model.decide(P)  # at the model folder's operating point, where it has one
    flags = abnormal(P, labels, svc.settings.threshold)  # the one rule heartbeat predict follows too
    inputs = svc.model.inputs  # what the model took besides the beat is stored too: a label can then retrain it
    names = list(inputs.names) if rhythm is not None else None
    rows = [Prediction(user_id=p.user_id, model_version=svc.version, task=svc.model.task, input_hash=beat_hash(x),
                       beat=beat_bytes(x), probabilities=[float(v) for v in P[i]], predicted=int(labels[i]),
                       abnormal=bool(flags[i]), window=inputs.window,
                       rhythm=None if rhythm is None else np.asarray(rhythm[i], dtype="<f4").tobytes(),
                       rhythm_names=names) for i, x in enumerate(X)]
    s.add_all(rows)
    s.commit() if commit else s.flush()
    return [BeatOut(id=r.id, probabilities=dict(zip(svc.model.classes, r.probabilities)),
                    predicted_class=svc.model.classes[r.predicted], p_abnormal=float(p_abnormal[i]),
                    abnormal=r.abnormal, input_sha256=r.input_hash) for i, r in enumerate(rows)]


def rhythm_of(svc: Svc, given, n: int, field_name: str) -> np.ndarray | None:
    """The rhythm a model trained with it needs (a 422 naming the field where it is missing)."""
    if not svc.model.inputs.rhythm:
        return None
    if svc.model.inputs.context:  # a template of the patient's beats cannot come from beats sent one by one
        raise invalid(("body", field_name), f"model {svc.model.tag} judges each beat against the patient's own "
                                            "running template and rhythm (BeatInput.context): send the raw signal "
                                            "to /predict/record", "context")
    if given is None:
        raise invalid(("body", field_name), f"{field_name}: model {svc.model.tag} was trained with rhythm input: give "
                                            f"{'each beat' if n > 1 else 'the beat'}'s {len(RHYTHM_NAMES)} rhythm "
                                            f"values ({', '.join(RHYTHM_NAMES)}), or send the raw signal to "
                                            "/predict/record", "missing")
    if len(given) != n:
        raise invalid(("body", field_name), f"{field_name}: one rhythm per beat expected, got {len(given)} for "
                                            f"{n} beats")
    return np.asarray(given, dtype=np.float32).reshape(n, -1)


@router.post("/predict", tags=["predict"], response_model=PredictionOut)
def predict(svc: Svc, body: BeatIn, p: Reader, s: DB, request: Request) -> PredictionOut:
    """Classify one beat (with its rhythm, for a model trained with rhythm)."""
    rhythm = rhythm_of(svc, None if body.rhythm is None else [body.rhythm], 1, "rhythm")
    (row,) = predict_rows(svc, np.asarray([body.beat], dtype=np.float32), p, s, request, rhythm)
    return PredictionOut(**row.model_dump(), model_version=svc.version, threshold=svc.settings.threshold)


@router.post("/predict/batch", tags=["predict"], response_model=BatchOut)
def predict_batch(svc: Svc, body: BeatsIn, p: Reader, s: DB, request: Request) -> BatchOut:
    """Classify a batch of beats (at most ``max_batch``); results in the order of the beats."""
    if len(body.beats) > svc.settings.max_batch:
        raise invalid(("body", "beats"), f"beats: at most {svc.settings.max_batch} beats per request, "
                                         f"got {len(body.beats)}", "too_long")
    rhythm = rhythm_of(svc, body.rhythms, len(body.beats), "rhythms")
    rows = predict_rows(svc, np.asarray(body.beats, dtype=np.float32), p, s, request, rhythm)
    return BatchOut(model_version=svc.version, threshold=svc.settings.threshold, predictions=rows)


def check_record_size(svc: Svc, n: int, fs: float, field: str) -> None:
    """A 422 naming ``field`` where ``n`` samples at ``fs`` Hz pass ``max_record_seconds`` or ``max_record_work``:
    the limits of every raw recording the service reads (/predict/record, an upload of the review page)."""
    seconds, cfg = n / fs, svc.settings
    if seconds > cfg.max_record_seconds:
        raise invalid(("body", field), f"{field}: {seconds:.0f} s of signal at {fs:g} Hz; at most "
                                       f"{cfg.max_record_seconds:g} s per request", "too_long")
    work = n * fs
    if work > cfg.max_record_work:  # the cost of finding the beats grows with the samples and the rate
        raise invalid(("body", field), f"{field}: {n} samples at {fs:g} Hz is {work:.3g} "
                                       f"samples x Hz of work; at most {cfg.max_record_work:.3g} per request, "
                                       f"i.e. {cfg.max_record_work / fs ** 2:.3g} s at {fs:g} Hz: "
                                       "send shorter segments", "too_long")


def record_beats(svc: Svc, rec, field: str):
    """The beats of a checked recording (heartbeat.inference.recording.Recording) as the model takes them:
    ``(beats, X, rhythm)``, found in a child process killed at ``record_time_limit``, the rate
    checked as the CLI checks it; a 422 naming ``field`` (or ``fs``) otherwise."""
    try:
        beats = call_with_time_limit(recording_beats, (rec, svc.model.inputs.window), svc.settings.record_time_limit)
        X, rhythm = svc.model.inputs.arrays(beats, f"model {svc.model.tag}")
    except TimeLimit as exc:
        raise invalid(("body", field), f"{field}: finding the beats of {rec.seconds:.0f} s at {rec.fs:g} Hz {exc} "
                                       "(the record time limit): send shorter segments", "too_long") from None
    except RateError as exc:
        raise invalid(("body", "fs"), f"fs: {exc}") from exc
    except DataError as exc:
        raise invalid(("body", field), f"{field}: {exc}") from exc
    return beats, X, rhythm


@router.post("/predict/record", tags=["predict"], response_model=RecordOut)
def predict_record(svc: Svc, body: RecordIn, p: Reader, s: DB, request: Request) -> RecordOut:
    """Classify every beat of a raw segment (one lead, at most ``max_record_seconds``): R peaks, beats and
    rhythm are found as ``heartbeat predict`` finds them; each beat is stored like any other prediction,
    so it is monitored and open to feedback."""

    if not MIN_FS <= body.fs <= MAX_FS:
        raise invalid(("body", "fs"), f"fs: {body.fs} Hz is out of range; expected {MIN_FS:g}..{MAX_FS:g} Hz")
    check_record_size(svc, len(body.samples), body.fs, "samples")
    try:  # the lead is checked as heartbeat predict checks an NPY file's: one unnamed column
        _, lead, notes = pick_lead(["lead0"], body.lead, "the segment", named=False)
    except DataError as exc:
        raise invalid(("body", "lead"), f"lead: {exc}") from exc
    try:
        rec = check_signal(Recording(np.asarray(body.samples, dtype=np.float64), body.fs, lead, "the segment",
                                     notes))
    except DataError as exc:
        raise invalid(("body", "samples"), f"samples: {exc}") from exc
    beats, X, rhythm = record_beats(svc, rec, "samples")
    rows = predict_rows(svc, X, p, s, request, rhythm)
    out = [RecordBeatOut(**r.model_dump(), time_s=float(t), sample=int(n))
           for r, t, n in zip(rows, beats.time, beats.sample)]
    table = pd.DataFrame({"time_s": beats.time, "class": [r.predicted_class for r in rows],
                          "abnormal": [r.abnormal for r in rows]})
    summary = summarise(table, svc.model.classes, rec)
    return RecordOut(model_version=svc.version, threshold=svc.settings.threshold, fs=body.fs, lead=rec.lead,
                     seconds=rec.seconds, notes=rec.notes,
                     summary={k: summary[k] for k in ("beats", "per_class", "abnormal_burden_percent",
                                                      "longest_abnormal_runs")}, beats=out)
