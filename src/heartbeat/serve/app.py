"""The prediction service: a FastAPI app over one model folder and one database.

``create_app(settings)`` loads the model, opens (and if needed creates) the database,
creates the first admin from a bootstrap key, and returns the app. Endpoints, with the
lowest role each accepts (:mod:`heartbeat.serve.auth`):

- ``GET /health`` (open): ``ok`` or ``degraded`` (and why), the model version;
- ``POST /token`` (open): OAuth2 password flow, a form (username, password) -> a bearer token;
- ``GET /me`` (reader): who the credential belongs to;
- ``POST /predict`` (reader): ``{"beat": [187 numbers]}`` -> probabilities, predicted class,
  abnormal flag, prediction id;
- ``POST /predict/batch`` (reader): ``{"beats": [[187 numbers], ...]}``, up to ``max_batch``
  beats -> one result per beat, in order; a model trained with rhythm also needs ``"rhythm"``
  (``"rhythms"`` for a batch): the beat's 8 RR values (heartbeat.data.rhythm);
- ``POST /predict/record`` (reader): ``{"samples": [...], "fs": 360, "lead": "MLII"}``, a raw
  segment of at most ``max_record_seconds`` -> every beat found in it, with its time, class
  and probabilities (stored like any prediction), and the segment's summary;
- ``GET /model`` (reader): tag, version, family, task, classes, threshold, gin config,
  validation metrics, data source;
- ``GET /monitoring`` (reader): recall on labelled predictions, drift, degraded state,
  retraining requests (:mod:`heartbeat.serve.monitor`);
- ``POST /feedback`` (clinician): ``{"prediction_id": 12, "label": "V"}``, a clinician's label
  for an earlier prediction;
- ``POST /users`` (admin): ``{"name", "role", "password"?}`` -> the user and their API key
  (shown once); ``GET /users``: every user, no secrets; ``POST /users/{name}/keys``: a new
  key; ``DELETE /users/{name}``: disable a user, revoke their keys and tokens;
- ``GET /retrain-requests`` (admin): every retraining request, open and done.

``/docs`` (Swagger UI, with an *Authorize* button for both credentials) and
``/openapi.json`` describe the API and hold no data; ``--no-docs`` turns them off.

A beat is exactly 187 finite numbers (JSON numbers, not strings); anything else is a 422
whose ``detail`` names the beat and value index and what was expected, and whose
``message`` sums it up. ``abnormal`` is ``P(not class 0) >= threshold``, so it can be true
while the most probable class is still class 0: the threshold trades false alarms for
missed sick beats. Every request is logged as one JSON line (request id, method, path,
status, milliseconds, user; never a secret).
"""

import hashlib
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import Depends, FastAPI, Form, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from heartbeat.data.beatset import BEAT_LEN, DataError
from heartbeat.data.rhythm import RHYTHM_NAMES
from heartbeat.serve import auth
from heartbeat.serve.db import (ApiKey, Feedback, Prediction, RetrainRequest, User, beat_bytes, beat_hash, count,
                                make_engine, redact, session_factory, utcnow)
from heartbeat.serve.guard import Guard, Throttle, too_many
from heartbeat.serve.monitor import Monitor, MonitorSettings, read_reference, request_json

log = logging.getLogger("heartbeat.serve")
#: /predict/record's body bound assumes at most this rate over max_record_seconds: a recording sampled
#: faster is sent in shorter segments (the 413 says so)
RECORD_FS_BOUND = 1000
NUMBER_BYTES = 32  # room per JSON number in a body bound


@dataclass
class Settings:
    """Everything the service is started with (``heartbeat serve`` builds it from its options)."""

    model_dir: Path
    model_version: str | None = None  # default: <tag>@<first 12 hex of the SHA-256 of the folder's files>
    source: str | None = None  # how the model was found (folder or registry entry), for /model
    db_url: str | None = None  # default: sqlite:///<cwd>/serve.db
    threshold: float = 0.5
    admin_key: str | None = None
    token_minutes: float = 60.0
    max_batch: int = 1024
    max_record_seconds: float = 600.0  # /predict/record: the longest segment taken, at its own fs
    max_failures: int = 10       # failed credentials from one address (or logins of one user) ...
    failure_window: float = 60.0  # ... within this many seconds lock it out ...
    lockout: float = 60.0         # ... for this many seconds (429 with Retry-After)
    docs: bool = True
    monitor: MonitorSettings = field(default_factory=MonitorSettings)

    def __post_init__(self) -> None:
        self.model_dir = Path(self.model_dir)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold {self.threshold}: expected a probability in [0, 1]")
        if self.max_batch < 1:
            raise ValueError(f"max_batch {self.max_batch}: expected at least 1")
        if self.max_failures < 1 or self.failure_window <= 0 or self.lockout <= 0:
            raise ValueError("max_failures must be >= 1, failure_window and lockout > 0 seconds")
        m = self.monitor
        if m.recall_window < 1 or m.recall_min_labels < 1 or m.drift_reference < 10 or m.drift_window < 1:
            raise ValueError("recall window, recall min labels and drift window must be >= 1, drift reference >= 10")

    def body_limit(self, path: str) -> int:
        """The largest body a path takes, in bytes. A JSON number takes at most ~25 characters
        (``-1.2345678901234567e-05,``): 32 are allowed; a batch's beats may carry their 8 rhythm values."""
        if path == "/predict/batch":
            return self.max_batch * (BEAT_LEN + len(RHYTHM_NAMES)) * NUMBER_BYTES + 65536
        if path == "/predict/record":
            return int(self.max_record_seconds * RECORD_FS_BOUND * NUMBER_BYTES) + 65536
        return 65536


def folder_version(model_dir: Path) -> str:
    """``<tag>@<hash>``: the SHA-256 of the folder's config and weights, so a version names exact weights."""
    h = hashlib.sha256()
    for name in ("config.gin", "model.pt", "model.joblib"):
        if (model_dir / name).exists():
            h.update(name.encode() + (model_dir / name).read_bytes())
    return f"{model_dir.name}@{h.hexdigest()[:12]}"


# ---------------------------------------------------------------- request and response bodies
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Beat = Annotated[list[Finite], Field(min_length=BEAT_LEN, max_length=BEAT_LEN,
                                     description=f"one beat: {BEAT_LEN} finite numbers (125 Hz, scaled to [0, 1])")]


Rhythm = Annotated[list[Finite], Field(min_length=len(RHYTHM_NAMES), max_length=len(RHYTHM_NAMES),
                                       description=f"the beat's rhythm ({', '.join(RHYTHM_NAMES)}; seconds and "
                                                   "ratios), for a model trained with rhythm")]


class BeatIn(BaseModel):
    beat: Beat
    rhythm: Rhythm | None = None


class BeatsIn(BaseModel):
    beats: Annotated[list[Beat], Field(min_length=1, description="beats, each of 187 finite numbers")]
    rhythms: list[Rhythm] | None = Field(None, description="one rhythm per beat, for a model trained with rhythm")


class RecordIn(BaseModel):
    samples: Annotated[list[Finite], Field(min_length=1, description="one lead of a raw ECG, in its own units")]
    fs: Annotated[float, Field(gt=0, description="sampling rate in Hz")]
    lead: str | None = Field(None, max_length=32, description="the lead's name, for the record (e.g. MLII)")


class BeatOut(BaseModel):
    id: int = Field(description="prediction id, for feedback")
    probabilities: dict[str, float]
    predicted_class: str
    p_abnormal: float = Field(description="P(not class 0)")
    abnormal: bool = Field(description="p_abnormal >= threshold")
    input_sha256: str


class PredictionOut(BeatOut):
    model_version: str
    threshold: float


class BatchOut(BaseModel):
    model_version: str
    threshold: float
    predictions: list[BeatOut]


class RecordBeatOut(BeatOut):
    time_s: float = Field(description="the beat's R peak, seconds from the segment's start")
    sample: int = Field(description="the R peak's sample index in the segment")


class RecordOut(BaseModel):
    model_version: str
    threshold: float
    fs: float
    lead: str | None
    seconds: float
    summary: dict = Field(description="beats per class, abnormal burden in %, the longest abnormal runs")
    notes: list[str]
    beats: list[RecordBeatOut]


class FeedbackIn(BaseModel):
    prediction_id: Annotated[int, Field(strict=True, ge=1)]
    label: str | int = Field(description="the true class: its name (e.g. 'V') or its index")


class UserIn(BaseModel):
    name: str = Field(description="1-64 letters, digits or _.@-")
    role: Literal["reader", "clinician", "admin"]
    password: str | None = Field(None, description="optional, for the OAuth2 password flow; >= 8 characters")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


# ---------------------------------------------------------------- 422 messages
def _where(loc: tuple) -> str:
    path = loc[1:] if loc and loc[0] == "body" else loc
    if len(path) >= 2 and path[0] == "beats" and isinstance(path[1], int):
        return f"beat {path[1]}" + (f", value {path[2]}" if len(path) > 2 else "")
    if len(path) >= 2 and path[0] == "beat" and isinstance(path[1], int):
        return f"beat value {path[1]}"
    return ".".join(map(str, path)) or "body"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def explain(err: dict) -> dict:
    """A validation error with a message that says where (beat, value index) and what was expected."""
    loc, typ, value = tuple(err.get("loc", ())), err.get("type", ""), err.get("input")
    where = _where(loc)
    if "input" not in err:  # raised by an endpoint, already worded
        return {"loc": list(loc), "type": typ, "msg": err.get("msg", typ)}
    is_beat = loc[-1:] == ("beat",) or (len(loc) == 3 and loc[1] == "beats" and isinstance(loc[2], int))
    if is_beat and typ in ("too_short", "too_long"):
        msg = f"{where}: expected {BEAT_LEN} numbers, got {len(value)}"
    elif typ in ("too_short", "too_long") and loc[-1:] == ("beats",):
        msg = f"beats: expected at least 1 beat, got {len(value)}"
    elif is_beat and typ == "list_type":
        msg = f"{where}: expected a list of {BEAT_LEN} numbers, got {_short(value)}"
    elif typ in ("float_type", "float_parsing", "finite_number"):
        msg = f"{where}: expected a finite number, got {_short(value)}"
    elif typ == "json_invalid":
        msg = f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
    elif typ == "missing":
        msg = f"{where}: required"
    else:
        msg = f"{where}: {err.get('msg', typ)}"
    return {"loc": list(loc), "type": typ, "msg": msg}


def json_safe(value):
    """NaN and infinities (e.g. the recall of a class absent from the validation set) as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# ---------------------------------------------------------------- logging middleware
class RequestLog:
    """Pure ASGI middleware: one JSON log line per request, and an ``X-Request-ID`` header."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, rid, status = time.perf_counter(), uuid.uuid4().hex[:12], [500]
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope["state"]
            client = scope.get("client") or ("-", 0)
            log.info("request", extra={"fields": {
                "request_id": rid, "method": scope["method"], "path": scope["path"], "status": status[0],
                "ms": round((time.perf_counter() - start) * 1000, 2), "user": state.get("user"),
                "role": state.get("role"), "beats": state.get("beats"), "client": client[0]}})


# ---------------------------------------------------------------- the app
def create_app(settings: Settings) -> FastAPI:
    """The service for ``settings``: model loaded, database opened, first admin bootstrapped."""
    from heartbeat.modelio import load_model

    model = load_model(settings.model_dir)
    version = settings.model_version or folder_version(settings.model_dir)
    engine = make_engine(settings.db_url)
    sessions = session_factory(engine)
    reference = read_reference(settings.model_dir)
    monitor = Monitor(version, model.classes, settings.monitor, reference)
    with sessions.begin() as s:
        said = auth.bootstrap_admin(s, settings.admin_key)
    log.info("startup", extra={"fields": {
        "model": str(settings.model_dir), "model_version": version, "task": model.task, "classes": model.classes,
        "db": redact(str(engine.url)), "threshold": settings.threshold,
        "drift_reference": reference.source if reference else f"first {settings.monitor.drift_reference} served beats",
        "admin": said}})

    app = FastAPI(
        title="heartbeat", version=version,
        description=(f"ECG heartbeat classification: model **{model.tag}** ({model.family}, task {model.task}, "
                     f"classes {', '.join(model.classes)}). Authorize with an API key (X-API-Key) or a user "
                     "name and password (OAuth2 password flow)."),
        docs_url="/docs" if settings.docs else None, redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None)
    throttle = Throttle(settings.max_failures, settings.failure_window, settings.lockout)

    def authenticate(key: str | None, bearer: str | None) -> auth.Principal:
        with sessions() as s:
            return auth.authenticate(s, key, bearer)

    # the Guard runs before FastAPI reads a body; RequestLog, added last, wraps it and logs its answers too
    app.add_middleware(Guard, authenticate=authenticate, throttle=throttle, limit=settings.body_limit)
    app.add_middleware(RequestLog)
    app.state.settings, app.state.model, app.state.monitor, app.state.engine = settings, model, monitor, engine
    app.state.throttle = throttle

    api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key, hbk_...")
    oauth2 = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)

    def db():
        with sessions() as s:
            yield s

    def principal(request: Request, key: str | None = Security(api_key), bearer: str | None = Security(oauth2),
                  s: Session = Depends(db)) -> auth.Principal:
        p = getattr(request.state, "principal", None) or auth.authenticate(s, key, bearer)  # the Guard's, if any
        request.state.user, request.state.role = p.name, p.role
        return p

    def role(name: str, what: str):
        def check(p: auth.Principal = Depends(principal)) -> auth.Principal:
            auth.require_role(p, name, what)
            return p
        return check

    Reader = Annotated[auth.Principal, Depends(role("reader", "this endpoint"))]
    Clinician = Annotated[auth.Principal, Depends(role("clinician", "feedback"))]
    Admin = Annotated[auth.Principal, Depends(role("admin", "user management"))]
    DB = Annotated[Session, Depends(db)]

    @app.exception_handler(auth.AuthError)
    async def _auth_error(_request, exc: auth.AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):
        errors = [explain(e) for e in exc.errors()]
        head = "; ".join(e["msg"] for e in errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        return JSONResponse({"message": head, "detail": errors}, status_code=422)

    def invalid(loc: tuple, msg: str, typ: str = "value_error"):
        return RequestValidationError([{"type": typ, "loc": loc, "msg": msg}])

    # ------------------------------------------------------------ open
    @app.get("/health", tags=["service"])
    def health(s: DB) -> dict:
        """Liveness and state: ``ok``, or ``degraded`` when the recent recall fell below its threshold."""
        state = monitor.recall_state(s)
        return {"status": "degraded" if state["degraded"] else "ok", "model_version": version,
                "reason": state["reason"]}

    @app.post("/token", tags=["users"], response_model=TokenOut)
    def token(request: Request, s: DB, username: Annotated[str, Form()],
              password: Annotated[str, Form()]) -> TokenOut:
        """OAuth2 password flow: a user name and password (form fields) for a bearer token.

        Failed logins are limited per user and per client address (429 with Retry-After)."""
        keys = (("ip", request.client.host if request.client else "unknown"), ("user", username))
        retry = throttle.retry_after(*keys)
        if retry > 0:
            status, detail, headers = too_many(retry)
            raise HTTPException(status, detail, headers=headers)
        try:
            tok, _ = auth.login(s, username, password, settings.token_minutes)
        except auth.AuthError:
            locked = throttle.fail(*keys)
            if locked:
                log.warning("lockout", extra={"fields": {"client": keys[0][1], "user": username, "seconds": locked,
                                                         "why": "failed logins"}})
            raise
        throttle.succeed(*keys)
        s.commit()
        return TokenOut(access_token=tok, expires_in=int(settings.token_minutes * 60))

    @app.get("/me", tags=["users"])
    def me(p: Reader) -> dict:
        return {"name": p.name, "role": p.role, "via": p.via}

    # ------------------------------------------------------------ predictions
    def predict_rows(X: np.ndarray, p: auth.Principal, s: Session, request: Request,
                     rhythm: np.ndarray | None = None) -> list[BeatOut]:
        request.state.beats = len(X)
        P = model.predict_proba(X, rhythm=rhythm)  # (n, classes)
        p_abnormal = 1.0 - P[:, 0]
        rows = [Prediction(user_id=p.user_id, model_version=version, task=model.task, input_hash=beat_hash(x),
                           beat=beat_bytes(x), probabilities=[float(v) for v in P[i]], predicted=int(P[i].argmax()),
                           abnormal=bool(p_abnormal[i] >= settings.threshold)) for i, x in enumerate(X)]
        s.add_all(rows)
        s.commit()
        return [BeatOut(id=r.id, probabilities=dict(zip(model.classes, r.probabilities)),
                        predicted_class=model.classes[r.predicted], p_abnormal=float(p_abnormal[i]),
                        abnormal=r.abnormal, input_sha256=r.input_hash) for i, r in enumerate(rows)]

    def rhythm_of(given, n: int, field_name: str) -> np.ndarray | None:
        """The rhythm a model trained with it needs (a 422 naming the field where it is missing)."""
        if not model.inputs.rhythm:
            return None
        if given is None:
            raise invalid(("body", field_name), f"{field_name}: model {model.tag} was trained with rhythm input: give "
                                                f"{'each beat' if n > 1 else 'the beat'}'s {len(RHYTHM_NAMES)} rhythm "
                                                f"values ({', '.join(RHYTHM_NAMES)}), or send the raw signal to "
                                                "/predict/record", "missing")
        if len(given) != n:
            raise invalid(("body", field_name), f"{field_name}: one rhythm per beat expected, got {len(given)} for "
                                                f"{n} beats")
        return np.asarray(given, dtype=np.float32).reshape(n, -1)

    @app.post("/predict", tags=["predict"], response_model=PredictionOut)
    def predict(body: BeatIn, p: Reader, s: DB, request: Request) -> PredictionOut:
        """Classify one beat (with its rhythm, for a model trained with rhythm)."""
        rhythm = rhythm_of(None if body.rhythm is None else [body.rhythm], 1, "rhythm")
        (row,) = predict_rows(np.asarray([body.beat], dtype=np.float32), p, s, request, rhythm)
        return PredictionOut(**row.model_dump(), model_version=version, threshold=settings.threshold)

    @app.post("/predict/batch", tags=["predict"], response_model=BatchOut)
    def predict_batch(body: BeatsIn, p: Reader, s: DB, request: Request) -> BatchOut:
        """Classify a batch of beats (at most ``max_batch``); results in the order of the beats."""
        if len(body.beats) > settings.max_batch:
            raise invalid(("body", "beats"), f"beats: at most {settings.max_batch} beats per request, "
                                             f"got {len(body.beats)}", "too_long")
        rhythm = rhythm_of(body.rhythms, len(body.beats), "rhythms")
        rows = predict_rows(np.asarray(body.beats, dtype=np.float32), p, s, request, rhythm)
        return BatchOut(model_version=version, threshold=settings.threshold, predictions=rows)

    @app.post("/predict/record", tags=["predict"], response_model=RecordOut)
    def predict_record(body: RecordIn, p: Reader, s: DB, request: Request) -> RecordOut:
        """Classify every beat of a raw segment (one lead, at most ``max_record_seconds``): R peaks, beats and
        rhythm are found as ``heartbeat predict`` finds them; each beat is stored like any other prediction,
        so it is monitored and open to feedback."""
        from heartbeat.recording import MAX_FS, MIN_FS, Recording, check_signal, recording_beats, summarise

        import pandas as pd

        if not MIN_FS <= body.fs <= MAX_FS:
            raise invalid(("body", "fs"), f"fs: {body.fs} Hz is out of range; expected {MIN_FS:g}..{MAX_FS:g} Hz")
        seconds = len(body.samples) / body.fs
        if seconds > settings.max_record_seconds:
            raise invalid(("body", "samples"), f"samples: {seconds:.0f} s of signal at {body.fs:g} Hz; at most "
                                               f"{settings.max_record_seconds:g} s per request", "too_long")
        try:
            rec = check_signal(Recording(np.asarray(body.samples, dtype=np.float64), body.fs, body.lead or "lead",
                                         "the segment"))
            beats = recording_beats(rec, model.inputs.window)
            X, rhythm = model.inputs.arrays(beats, f"model {model.tag}")
        except DataError as exc:
            raise invalid(("body", "samples"), f"samples: {exc}") from exc
        rows = predict_rows(X, p, s, request, rhythm)
        out = [RecordBeatOut(**r.model_dump(), time_s=float(t), sample=int(n))
               for r, t, n in zip(rows, beats.time, beats.sample)]
        table = pd.DataFrame({"time_s": beats.time, "class": [r.predicted_class for r in rows],
                              "abnormal": [r.abnormal for r in rows]})
        summary = summarise(table, model.classes, rec)
        return RecordOut(model_version=version, threshold=settings.threshold, fs=body.fs, lead=body.lead,
                         seconds=rec.seconds, notes=rec.notes,
                         summary={k: summary[k] for k in ("beats", "per_class", "abnormal_burden_percent",
                                                          "longest_abnormal_runs")}, beats=out)

    @app.get("/model", tags=["model"])
    def model_info(p: Reader) -> dict:
        """The served model: tag, version, config and validation metrics."""
        info = model.info
        return json_safe({
            "tag": model.tag, "version": version, "source": settings.source or str(settings.model_dir),
            "family": model.family, "task": model.task, "classes": list(model.classes),
            "threshold": settings.threshold, "config": model.config, "valid": info.get("valid", {}),
            "data": info.get("data"), "synthetic": info.get("synthetic"), "split": info.get("split"),
            "seed": info.get("seed"), "best_epoch": info.get("best_epoch"), "objective": info.get("objective"),
            "retrained_from": info.get("retrained_from"), "feedback_beats": info.get("feedback_beats")})

    # ------------------------------------------------------------ monitoring and feedback
    @app.get("/monitoring", tags=["monitoring"])
    def monitoring(p: Reader, s: DB) -> dict:
        """Recall per class on labelled predictions, recent macro recall, input drift, retraining requests."""
        return json_safe(monitor.report(s))

    @app.post("/feedback", tags=["monitoring"])
    def feedback(body: FeedbackIn, p: Clinician, s: DB) -> dict:
        """A clinician's label for an earlier prediction (labelling it again replaces the label)."""
        label = body.label
        names = ", ".join(model.classes)
        if isinstance(label, int):
            if not 0 <= label < len(model.classes):
                raise invalid(("body", "label"), f"label: expected a class index 0-{len(model.classes) - 1} "
                                                 f"or a class name ({names}), got {label}")
        elif label in model.classes:
            label = model.classes.index(label)
        else:
            raise invalid(("body", "label"), f"label: expected a class name ({names}) or index, got {label!r}")
        pred = s.get(Prediction, body.prediction_id)
        if pred is None:
            raise HTTPException(404, f"no prediction with id {body.prediction_id}")
        if pred.task != model.task:
            raise invalid(("body", "prediction_id"), f"prediction {pred.id} is of task {pred.task}, "
                                                     f"not {model.task}: its labels differ")
        fb = s.scalar(select(Feedback).where(Feedback.prediction_id == pred.id))
        updated = fb is not None
        if fb is None:
            s.add(Feedback(prediction_id=pred.id, label=label, user_id=p.user_id))
        else:
            fb.label, fb.user_id, fb.updated_at = label, p.user_id, utcnow()
        s.flush()
        state, request_made = monitor.check(s)
        s.commit()
        if request_made is not None:
            log.warning("degraded", extra={"fields": {"model_version": version, "reason": state["reason"],
                                                      "retrain_request": request_made.id}})
        return json_safe({
            "prediction_id": pred.id, "label": model.classes[label], "predicted_class": model.classes[pred.predicted],
            "correct": label == pred.predicted, "updated": updated,
            "status": "degraded" if state["degraded"] else "ok",
            "recent_recall_macro": state["recent"]["recall_macro"],
            "retrain_request": request_made.id if request_made is not None else None})

    @app.get("/retrain-requests", tags=["monitoring"])
    def retrain_requests(p: Admin, s: DB) -> list[dict]:
        return [request_json(r) for r in s.scalars(select(RetrainRequest).order_by(RetrainRequest.id))]

    # ------------------------------------------------------------ users
    @app.post("/users", tags=["users"], status_code=201)
    def create_user(body: UserIn, p: Admin, s: DB) -> dict:
        """A new user with an API key; the key is shown here once and stored only as its hash."""
        try:
            user, key = auth.create_user(s, body.name, body.role, body.password, created_by=p.name)
        except LookupError as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise invalid(("body",), str(exc)) from None
        s.commit()
        log.info("user_created", extra={"fields": {"name": user.name, "role": user.role, "by": p.name,
                                                   "password": body.password is not None}})
        return {"name": user.name, "role": user.role, "api_key": key}

    @app.get("/users", tags=["users"])
    def list_users(p: Admin, s: DB) -> list[dict]:
        users = s.scalars(select(User).order_by(User.id)).all()
        return [{"name": u.name, "role": u.role, "active": u.active, "password": u.password_hash is not None,
                 "created_at": u.created_at.isoformat() + "Z", "created_by": u.created_by,
                 "api_keys": [k.prefix + "..." for k in u.keys if k.revoked_at is None]} for u in users]

    def user_named(s: Session, name: str) -> User | None:
        return s.scalar(select(User).where(User.name == name))

    @app.post("/users/{name}/keys", tags=["users"], status_code=201)
    def new_key(name: str, p: Admin, s: DB) -> dict:
        user = user_named(s, name)
        if user is None or not user.active:
            raise HTTPException(404, f"no active user named {name!r}")
        key = auth.add_api_key(s, user)
        s.commit()
        log.info("api_key_created", extra={"fields": {"name": name, "by": p.name, "prefix": key[:8]}})
        return {"name": name, "api_key": key}

    @app.delete("/users/{name}", tags=["users"])
    def disable_user(name: str, p: Admin, s: DB) -> dict:
        user = user_named(s, name)
        if user is None:
            raise HTTPException(404, f"no user named {name!r}")
        admins = count(s, User, User.role == "admin", User.active.is_(True))
        if user.role == "admin" and user.active and admins <= 1:
            raise HTTPException(409, "cannot disable the last active admin")
        auth.deactivate_user(s, user)
        s.commit()
        log.info("user_disabled", extra={"fields": {"name": name, "by": p.name}})
        return {"name": name, "active": False,
                "revoked_keys": count(s, ApiKey, ApiKey.user_id == user.id, ApiKey.revoked_at.is_not(None))}

    return app


SETTINGS_ENV = "HEARTBEAT_SERVE_SETTINGS"


def settings_to_env(settings: Settings) -> str:
    """Settings as JSON, for worker processes that build the app themselves (uvicorn --workers)."""
    import json
    from dataclasses import asdict

    d = asdict(settings)
    d["model_dir"] = str(settings.model_dir)
    return json.dumps(d)


def app_from_env() -> FastAPI:
    """The app of each uvicorn worker (``heartbeat serve --workers N``), from ``$HEARTBEAT_SERVE_SETTINGS``.

    Workers start at once on one database: when two create the first admin together, the one that
    loses the race finds the admin the other made (a unique name), so it simply tries again."""
    import json
    import os

    from sqlalchemy.exc import IntegrityError

    from heartbeat.serve.cli import configure_logging

    configure_logging(os.environ.get("HEARTBEAT_SERVE_LOG_LEVEL", "info"))  # a spawned worker logs as JSON too
    d = json.loads(os.environ[SETTINGS_ENV])
    settings = Settings(**{**d, "monitor": MonitorSettings(**d["monitor"])})
    try:
        return create_app(settings)
    except IntegrityError:
        return create_app(settings)
