"""The review page (``GET /``) and the recordings it shows.

The page is three static files in :mod:`heartbeat.serve` 's ``page/`` folder (``index.html``,
``page.js``, ``page.css``) and plotly.js, taken from the installed ``plotly`` Python package, so
nothing is fetched from outside the service (a Content-Security-Policy of ``'self'`` says so to
the browser too). They hold no data and answer without a credential, like ``/docs``; the page
logs in with ``POST /token`` and keeps the token in memory only.

What the page reads and writes:

- ``POST /recordings`` (reader): a multipart upload of one recording: a WFDB record (its ``.hea``
  and the ``.dat`` its header names), a ``.csv`` or a ``.npy`` file (``fs`` in Hz is then required),
  optionally ``lead``. It is read by the reader of ``heartbeat predict``
  (:func:`heartbeat.inference.recording.read_recording`), bounded by the limits of ``/predict/record``
  (``max_record_seconds``, ``max_record_work``, ``record_time_limit``; the body by the Guard), and
  its beats found, classified and stored by the same code (:func:`heartbeat.serve.routes.predict.record_beats`,
  :func:`~heartbeat.serve.routes.predict.predict_rows`): each beat is an ordinary prediction, open to
  ``POST /feedback``. Signal, beats, predictions and summary are written in one transaction: a refused
  upload (a 422 naming the field) leaves nothing behind.
- ``GET /recordings`` (reader): every stored recording, newest first: date, model version, beats per
  class, abnormal burden.
- ``GET /recordings/{id}`` (reader): the recording, its summary, and every beat as columns (R-peak
  sample, class, abnormal flag, probabilities, prediction id, the latest label with who and when).
- ``GET /recordings/{id}/signal?start=&end=&points=`` (reader): the samples of a window (seconds), or,
  where it holds more than ``2 x points`` samples, its min/max envelope in ``points`` buckets: what is
  on screen, never the whole of a 24-hour recording.
- ``GET /monitoring/recall-history`` (reader): recall per class of the served model on labelled beats,
  per period of the labels' time (minutes, hours or days, whichever gives at most ``buckets`` periods).
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as FastPath
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import insert, select

from heartbeat.data.beatset import DataError
from heartbeat.inference.recording import MAX_FS, MIN_FS, read_recording, summarise
from heartbeat.metrics import recall_per_class
from heartbeat.serve.db import Feedback, Prediction, RecordingBeat, RecordingChunk, StoredRecording, User, utcnow
from heartbeat.serve.deps import DB, Reader, Svc, Uploader, invalid
from heartbeat.serve.routes.predict import check_record_size, predict_rows, record_beats
from heartbeat.serve.schemas import INT64_MAX, json_safe

router = APIRouter()

PAGE = Path(__file__).resolve().parents[1] / "page"
#: URL -> (file, media type): the page's own files; plotly.js comes from the plotly package
ASSETS = {
    "/page/page.js": ("page.js", "text/javascript"),
    "/page/page.css": ("page.css", "text/css"),
    "/static/plotly.min.js": (None, "text/javascript"),
}
PATHS = frozenset({"/", *ASSETS})  # open: they hold no data (heartbeat.serve.guard.OPEN_PATHS)
#: the page loads nothing from elsewhere; plotly sets inline styles and draws into data: and blob: images
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
CHUNK = 65536          # samples per stored chunk (256 KB of float32): a window reads one or two
MAX_POINTS = 20000     # the most values one /signal answer carries
FORMATS = {".hea": "wfdb", ".dat": "wfdb", ".csv": "csv", ".npy": "npy"}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
ID = Annotated[int, FastPath(ge=1, le=INT64_MAX)]


def plotly_js() -> Path:
    """plotly.min.js as the ``plotly`` Python package ships it (a dependency of heartbeat)."""
    import plotly  # plotly: only to hand out its script file

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"the review page needs plotly.min.js, missing from {path.parent}: reinstall plotly")
    return path


def _asset(name: str | None, media: str):
    def serve() -> FileResponse:
        path = plotly_js() if name is None else PAGE / name
        return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache",
                                                              "X-Content-Type-Options": "nosniff"})
    return serve


for _url, (_name, _media) in ASSETS.items():
    router.add_api_route(_url, _asset(_name, _media), methods=["GET"], include_in_schema=False)


@router.get("/", include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse((PAGE / "index.html").read_text(encoding="utf-8"),
                        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache",
                                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


# ---------------------------------------------------------------- upload
def _saved(files: list[UploadFile], folder: Path) -> dict[str, Path]:
    """The uploaded files written into ``folder`` under their own (checked) names."""
    out = {}
    for f in files:
        name = Path(f.filename or "").name
        if not SAFE_NAME.fullmatch(name):
            raise invalid(("body", "files"), f"files: {name!r} is not a usable file name (letters, digits, "
                                             "_ . + - only)")
        if name in out:
            raise invalid(("body", "files"), f"files: {name} was sent twice")
        with open(folder / name, "wb") as dst:
            shutil.copyfileobj(f.file, dst)
        out[name] = folder / name
    return out


def _what(files: dict[str, Path], fs: float | None) -> tuple[str, Path]:
    """The upload's format and the path to read: one WFDB record whose header's signal files are all
    here, or one CSV or NPY file with its rate given; a 422 saying what is missing otherwise."""
    import wfdb  # wfdb: only where records are read or fetched

    kinds = {FORMATS.get(p.suffix.lower()) for p in files.values()}
    expected = "expected a WFDB record (its .hea and .dat files), a .csv or a .npy file"
    if not files:
        raise invalid(("body", "files"), f"files: nothing was uploaded; {expected}")
    if None in kinds or len(kinds) > 1:
        odd = [n for n, p in files.items() if FORMATS.get(p.suffix.lower()) is None]
        raise invalid(("body", "files"), f"files: {', '.join(odd) or ', '.join(files)} is not a recording; "
                                         f"{expected}, one recording per upload")
    kind = kinds.pop()
    if kind != "wfdb":
        if len(files) > 1:
            raise invalid(("body", "files"), f"files: {len(files)} {kind.upper()} files; one recording per upload")
        if fs is None:
            raise invalid(("body", "fs"), f"fs: a {kind.upper()} file does not say its sampling rate: give it in Hz")
        return kind, next(iter(files.values()))
    heads = [p for p in files.values() if p.suffix.lower() == ".hea"]
    if len(heads) != 1:
        raise invalid(("body", "files"), "files: a WFDB record is one .hea header with the .dat file(s) it names; "
                                         f"got {len(heads)} headers ({', '.join(files)})")
    head = heads[0]
    try:
        header = wfdb.rdheader(str(head.with_suffix("")))
    except Exception as exc:  # wfdb raises several types for a header it cannot parse
        raise invalid(("body", "files"), f"files: {head.name} is not a WFDB header ({exc})") from None
    if getattr(header, "n_seg", None):
        raise invalid(("body", "files"), f"files: {head.name} is a multi-segment record; upload a single-segment one")
    named = sorted(set(header.file_name or []))
    missing = [n for n in named if n not in files]
    if missing:
        raise invalid(("body", "files"), f"files: {head.name} names the signal file {', '.join(missing)}, which was "
                                         "not uploaded: choose the .hea and the .dat together")
    return kind, head


def _clean(msg: str, folder: Path) -> str:
    """A reader's message without the temporary folder the upload was written to."""
    return msg.replace(str(folder) + "/", "").replace(str(folder), "")


def envelope(x: np.ndarray, bucket: int) -> np.ndarray:
    """(2, ceil(n / bucket)) float32: the min and max of each ``bucket`` consecutive samples."""
    n = len(x)
    pad = (-n) % bucket
    lo = np.concatenate([x, np.full(pad, x[-1])]).reshape(-1, bucket)
    return np.stack([lo.min(1), lo.max(1)]).astype("<f4")


def recording_json(r: StoredRecording, by: str | None) -> dict:
    s = r.summary
    return json_safe({
        "id": r.id, "name": r.name, "format": r.format, "created_at": r.created_at.isoformat() + "Z",
        "uploaded_by": by, "model_version": r.model_version, "threshold": r.threshold, "fs": r.fs,
        "lead": r.lead, "units": r.units, "seconds": r.samples / r.fs, "beats": s["beats"],
        "per_class": s["per_class"], "abnormal_burden_percent": s["abnormal_burden_percent"]})


@router.post("/recordings", tags=["recordings"], status_code=201)
def upload_recording(svc: Svc, p: Uploader, s: DB, request: Request,
                     files: Annotated[list[UploadFile], File(description="a WFDB record's .hea and .dat, or one "
                                                                         ".csv or .npy file")],
                     fs: Annotated[float | None, Form(gt=0, description="Hz: required for CSV and NPY")] = None,
                     lead: Annotated[str | None, Form(max_length=32)] = None) -> dict:
    """Analyse a recording as ``/predict/record`` does and store it, its beats and their predictions at once."""

    with tempfile.TemporaryDirectory(prefix="heartbeat-upload-") as tmp:
        folder = Path(tmp)
        kind, path = _what(_saved(files, folder), fs)
        if kind != "wfdb" and not MIN_FS <= fs <= MAX_FS:
            raise invalid(("body", "fs"), f"fs: {fs:g} Hz is out of range; expected {MIN_FS:g}..{MAX_FS:g} Hz")
        try:
            rec = read_recording(path, fs=None if kind == "wfdb" else fs, lead=lead or None)
        except DataError as exc:
            raise invalid(("body", "files"), f"files: {_clean(str(exc), folder)}") from None
        except Exception as exc:  # a parser's own error on a file that is no recording at all
            raise invalid(("body", "files"), f"files: {path.name} is not a readable {kind.upper()} recording "
                                             f"({type(exc).__name__}: {_clean(str(exc), folder)})") from None
        rec.source = path.stem if kind == "wfdb" else path.name
        check_record_size(svc, len(rec.signal), rec.fs, "files")
        beats, X, rhythm = record_beats(svc, rec, "files")
    rows = predict_rows(svc, X, p, s, request, rhythm, commit=False)  # flushed, not committed: one transaction
    table = pd.DataFrame({"time_s": beats.time, "class": [r.predicted_class for r in rows],
                          "abnormal": [r.abnormal for r in rows]})
    summary = summarise(table, svc.model.classes, rec)
    x = rec.signal.astype("<f4")
    bucket = max(1, int(round(rec.fs)))  # about a second a bucket: 86,400 of them for 24 h
    stored = StoredRecording(user_id=p.user_id, name=Path(rec.source).name[:200], format=kind, fs=rec.fs,
                             lead=rec.lead, units=rec.units or "mV", samples=len(x), chunk=CHUNK,
                             model_version=svc.version, threshold=svc.settings.threshold, bucket=bucket,
                             envelope=envelope(x, bucket).tobytes(), created_at=utcnow(),
                             summary={k: summary[k] for k in ("beats", "per_class", "abnormal_burden_percent",
                                                              "longest_abnormal_runs", "notes")})
    s.add(stored)
    s.flush()
    s.execute(insert(RecordingChunk), [{"recording_id": stored.id, "index": i, "values": x[a:a + CHUNK].tobytes()}
                                       for i, a in enumerate(range(0, len(x), CHUNK))])
    s.execute(insert(RecordingBeat), [{"recording_id": stored.id, "prediction_id": r.id, "sample": int(n)}
                                      for r, n in zip(rows, beats.sample)])
    s.commit()
    return {**recording_json(stored, p.name), "notes": rec.notes}


# ---------------------------------------------------------------- reading
def _recording(s, recording_id: int) -> StoredRecording:
    r = s.get(StoredRecording, recording_id)
    if r is None:
        raise HTTPException(404, f"no recording with id {recording_id}")
    return r


@router.get("/recordings", tags=["recordings"])
def list_recordings(p: Reader, s: DB) -> list[dict]:
    """Every stored recording, newest first (no signal, no beats)."""
    q = (select(StoredRecording, User.name).join(User, User.id == StoredRecording.user_id)
         .order_by(StoredRecording.id.desc()))
    return [recording_json(r, by) for r, by in s.execute(q).all()]


@router.get("/recordings/{recording_id}", tags=["recordings"])
def get_recording(svc: Svc, recording_id: ID, p: Reader, s: DB) -> dict:
    """A recording, its summary, and every beat as columns, in time order; ``can_review``: whether this
    caller may relabel (a clinician or an admin)."""
    r = _recording(s, recording_id)
    by = s.scalar(select(User.name).where(User.id == r.user_id))
    labeller = User.__table__.alias("labeller")
    rows = s.execute(
        select(RecordingBeat.sample, Prediction.id, Prediction.predicted, Prediction.abnormal,
               Prediction.probabilities, Feedback.label, labeller.c.name, Feedback.updated_at)
        .join(Prediction, Prediction.id == RecordingBeat.prediction_id)
        .outerjoin(Feedback, Feedback.prediction_id == Prediction.id)
        .outerjoin(labeller, labeller.c.id == Feedback.user_id)
        .where(RecordingBeat.recording_id == r.id).order_by(RecordingBeat.sample)).all()
    cols = list(zip(*rows)) if rows else [()] * 8
    return json_safe({
        **recording_json(r, by), "classes": list(svc.model.classes), "summary": r.summary,
        "can_review": p.allows("clinician"), "role": p.role, "user": p.name,
        "beats": {"sample": list(cols[0]), "id": list(cols[1]), "class": list(cols[2]),
                  "abnormal": [bool(v) for v in cols[3]],
                  "p": [[round(float(v), 4) for v in probs] for probs in cols[4]],
                  "label": list(cols[5]), "labelled_by": list(cols[6]),
                  "labelled_at": [t.isoformat() + "Z" if t else None for t in cols[7]]}})


@router.get("/recordings/{recording_id}/signal", tags=["recordings"])
def signal(recording_id: ID, p: Reader, s: DB, start: Annotated[float, Query(ge=0)] = 0.0,
           end: Annotated[float | None, Query(gt=0)] = None,
           points: Annotated[int, Query(ge=10, le=MAX_POINTS)] = 4000) -> dict:
    """The window [start, end) s: its samples (``kind: raw``, one every ``dt`` s from ``t0``), or where that
    is more than ``2 x points`` samples its min/max ``envelope`` in at most ``points`` buckets of ``dt`` s."""
    r = _recording(s, recording_id)
    a = min(int(math.floor(start * r.fs)), r.samples)
    b = r.samples if end is None else min(int(math.ceil(end * r.fs)), r.samples)
    if b <= a:
        raise invalid(("query", "end"), f"end: the window {start:g}..{end:g} s holds no sample of this "
                                        f"{r.samples / r.fs:.1f} s recording")
    n = b - a
    if n <= 2 * points:  # raw
        return {"kind": "raw", "t0": a / r.fs, "dt": 1 / r.fs, "y": _rounded(_samples(s, r, a, b))}
    step = int(math.ceil(n / points))  # samples per output bucket
    if step >= 4 * r.bucket:  # a long window: from the stored per-second envelope, never the samples
        env = np.frombuffer(r.envelope, dtype="<f4").reshape(2, -1)
        k = max(1, step // r.bucket)
        i, j = a // r.bucket, int(math.ceil(b / r.bucket))
        lo, hi = env[0, i:j], env[1, i:j]
        pad = (-len(lo)) % k
        lo = np.concatenate([lo, np.full(pad, lo[-1])]).reshape(-1, k).min(1)
        hi = np.concatenate([hi, np.full(pad, hi[-1])]).reshape(-1, k).max(1)
        return {"kind": "envelope", "t0": i * r.bucket / r.fs, "dt": k * r.bucket / r.fs, "min": _rounded(lo),
                "max": _rounded(hi)}
    env = envelope(_samples(s, r, a, b), step)
    return {"kind": "envelope", "t0": a / r.fs, "dt": step / r.fs, "min": _rounded(env[0]), "max": _rounded(env[1])}


def _samples(s, r: StoredRecording, a: int, b: int) -> np.ndarray:
    """Samples [a, b) of a stored recording, reading only the chunks that hold them."""
    first, last = a // r.chunk, (b - 1) // r.chunk
    blobs = s.scalars(select(RecordingChunk.values).where(RecordingChunk.recording_id == r.id,
                                                          RecordingChunk.index >= first,
                                                          RecordingChunk.index <= last)
                      .order_by(RecordingChunk.index)).all()
    x = np.frombuffer(b"".join(blobs), dtype="<f4")
    return x[a - first * r.chunk:b - first * r.chunk]


def _rounded(x: np.ndarray) -> list[float]:
    return np.round(np.asarray(x, dtype=np.float64), 4).tolist()  # 0.1 uV: far below an ECG's noise


# ---------------------------------------------------------------- monitoring over time
PERIODS = (("minute", 60), ("hour", 3600), ("day", 86400), ("week", 7 * 86400))


@router.get("/monitoring/recall-history", tags=["monitoring"])
def recall_history(svc: Svc, p: Reader, s: DB, buckets: Annotated[int, Query(ge=1, le=500)] = 30) -> dict:
    """Recall per class of the served model version on labelled beats (each by its latest label), per period
    of the label's time: the shortest of minute, hour, day, week that gives at most ``buckets`` periods."""
    rows = s.execute(select(Feedback.updated_at, Feedback.label, Prediction.predicted)
                     .join(Prediction, Prediction.id == Feedback.prediction_id)
                     .where(Prediction.model_version == svc.version, Prediction.task == svc.model.task)
                     .order_by(Feedback.updated_at)).all()
    classes = list(svc.model.classes)
    if not rows:
        return {"model_version": svc.version, "classes": classes, "period": None, "points": []}
    t = np.array([r[0].replace(tzinfo=timezone.utc).timestamp() for r in rows])  # naive UTC in the db
    span = t[-1] - t[0]
    period, width = next(((name, w) for name, w in PERIODS if span / w < buckets), PERIODS[-1])
    origin = t[0] // width * width  # periods start on whole minutes, hours, days (UTC)
    which = np.floor((t - origin) / width).astype(int)
    y = np.array([r[1] for r in rows])
    pred = np.array([r[2] for r in rows])
    points = []
    for b in np.unique(which):
        m = which == b
        rec = recall_per_class(y[m], pred[m], len(classes))
        start = datetime.fromtimestamp(origin + b * width, timezone.utc).replace(tzinfo=None)
        points.append({"start": start.isoformat() + "Z",
                       "n": int(m.sum()), "recall": dict(zip(classes, rec.tolist())),
                       "labelled": {c: int((y[m] == i).sum()) for i, c in enumerate(classes)}})
    return json_safe({"model_version": svc.version, "classes": classes, "period": period, "points": points})
