"""The prediction service: a FastAPI app over one model folder and one database.

``create_app(settings)`` loads the model, opens (and if needed creates) the database,
creates the first admin from a bootstrap key, and returns the app: its routes are APIRouters
in :mod:`heartbeat.serve.routes` (service, users, predict, monitoring), its shared state one
:class:`heartbeat.serve.deps.Service` in ``app.state``, its front door the Guard
(:mod:`heartbeat.serve.guard`), its bodies in :mod:`heartbeat.serve.schemas`. Endpoints, with the
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
  segment of at most ``max_record_seconds`` and ``max_record_work`` (samples x Hz), its beats found
  within ``record_time_limit`` seconds -> every beat found in it, with its time, class and
  probabilities (stored like any prediction), and the segment's summary;
- ``GET /model`` (reader): tag, version, family, task, classes, threshold, gin config,
  validation metrics, data source;
- ``GET /monitoring`` (reader): recall on labelled predictions, drift, degraded state,
  retraining requests (:mod:`heartbeat.serve.monitor`);
- ``POST /feedback`` (clinician): ``{"prediction_id": 12, "label": "V"}``, a clinician's label
  for an earlier prediction;
- ``POST /users`` (admin): ``{"name", "role", "password"?}`` -> the user and their API key
  (shown once); ``GET /users``: every user and their keys' ids and prefixes, no secrets;
  ``POST /users/{name}/keys``: a new key (``?revoke_others=true``: and revoke the others);
  ``DELETE /users/{name}/keys/{id}``: revoke one key; ``DELETE /users/{name}``: disable a user,
  revoke their keys and tokens; ``POST /users/{name}/enable``: re-enable, with a new key;
- ``GET /retrain-requests`` (admin): every retraining request, open and done.

``/`` is the review page for clinicians (upload a recording, review and relabel its beats, watch the
model), with its recordings' endpoints (``/recordings``...; reader, relabelling through ``/feedback``):
:mod:`heartbeat.serve.routes.page`. Like ``/docs`` its files answer without a credential and hold no data.

``/docs`` (Swagger UI, with an *Authorize* button for both credentials) and
``/openapi.json`` describe the API and hold no data; ``--no-docs`` turns them off. ``/docs``
loads its assets from the service itself (``/static/...``, :mod:`heartbeat.serve.docs`), so it
works on a network without internet.

A beat is exactly 187 numbers in [0, 1], as the preprocessing scales beats (JSON numbers, not
strings; 0.01 either side tolerated); anything else is a 422 whose ``detail`` names the beat and
value index, the value and what was expected, and whose ``message`` sums it up. Probabilities that
come out non-finite are a 422 too: they never become a label.

``abnormal`` follows the project's one rule (:func:`heartbeat.inference.operating.abnormal`), as
``heartbeat predict`` does: the predicted class is not class 0. Started with ``--threshold``, it is
``P(not class 0) >= threshold`` instead, which can be true while the most probable class is still
class 0: a lower threshold trades false alarms for missed sick beats. Every request is logged as one JSON line (request id, method, path,
status, milliseconds, user; never a secret).
"""

import json
import logging
import math
import os
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

# /predict/record finds beats in a forked child: its code is imported here, once, before any fork
import heartbeat.data.wfdb_beats  # noqa: F401
import heartbeat.inference.detect  # noqa: F401
import heartbeat.inference.recording  # noqa: F401
from heartbeat.data.beatset import BEAT_LEN
from heartbeat.data.rhythm import RHYTHM_NAMES
from heartbeat.errors import ConfigError
from heartbeat.inference.modelio import folder_version, load_model
from heartbeat.serve import auth
from heartbeat.serve.db import make_engine, redact, session_factory
from heartbeat.serve.deps import Service
from heartbeat.serve.docs import add_docs
from heartbeat.serve.guard import DbThrottle, Guard
from heartbeat.serve.logs import configure_logging
from heartbeat.serve.monitor import Monitor, MonitorSettings, read_reference
from heartbeat.serve.routes import monitoring, page, predict, users
from heartbeat.serve.routes import service as service_routes
from heartbeat.serve.schemas import explain

log = logging.getLogger("heartbeat.serve")
NUMBER_BYTES = 32  # room per JSON number in a body bound


@dataclass
class Settings:
    """Everything the service is started with (``heartbeat serve`` builds it from its options)."""

    model_dir: Path
    model_version: str | None = None  # default: <tag>@<first 12 hex of the SHA-256 of the folder's files>
    source: str | None = None  # how the model was found (folder or registry entry), for /model
    db_url: str | None = None  # default: sqlite:///<cwd>/serve.db
    threshold: float | None = None  # None: abnormal = the label is not class 0; else P(not class 0) >= threshold
    admin_key: str | None = None
    token_minutes: float = 60.0
    max_batch: int = 1024
    max_record_seconds: float = 600.0  # /predict/record: the longest segment taken, at its own fs
    #: /predict/record: the most work taken, samples x Hz (finding the beats costs both: 600 s at 1,000 Hz
    #: is 6e8 and ~10 s of one core; 600 s at 10 kHz took 258 s); past it a 422 at once
    max_record_work: float = 6e8
    record_time_limit: float | None = 30.0  # seconds to find a segment's beats; past them a 422 (None: no limit)
    max_failures: int = 10       # failed credentials from one address (or logins of one user) ...
    failure_window: float = 60.0  # ... within this many seconds lock it out ...
    lockout: float = 60.0         # ... for this many seconds (429 with Retry-After)
    docs: bool = True
    trust_pickle: bool = False  # load a classical baseline's model.joblib (a pickle: it can run code)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)

    def __post_init__(self) -> None:
        self.model_dir = Path(self.model_dir)
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold {self.threshold}: expected a probability in [0, 1]")
        if self.max_record_seconds <= 0 or self.max_record_work <= 0 or (self.record_time_limit or 1) <= 0:
            raise ConfigError("max_record_seconds, max_record_work and record_time_limit must be > 0")
        if self.max_batch < 1:
            raise ConfigError(f"max_batch {self.max_batch}: expected at least 1")
        if self.max_failures < 1 or self.failure_window <= 0 or self.lockout <= 0:
            raise ConfigError("max_failures must be >= 1, failure_window and lockout > 0 seconds")
        m = self.monitor
        if m.recall_window < 1 or m.recall_min_labels < 1 or m.drift_reference < 10 or m.drift_window < 1:
            raise ConfigError("recall window, recall min labels and drift window must be >= 1, drift reference >= 10")

    @property
    def max_record_samples(self) -> int:
        """The most samples any /predict/record can take: n <= seconds x fs and n x fs <= work meet at
        fs = sqrt(work / seconds), n = sqrt(work x seconds) (600,000 by default: 600 s at 1,000 Hz)."""
        return int(math.sqrt(self.max_record_work * self.max_record_seconds))

    def max_numbers(self, path: str) -> int | None:
        """The most JSON numbers a path's body may hold (the Guard counts commas before parsing)."""
        if path == "/predict/batch":
            return self.max_batch * (BEAT_LEN + len(RHYTHM_NAMES))
        if path == "/predict/record":
            return self.max_record_samples
        return None

    def body_limit(self, path: str) -> int:
        """The largest body a path takes, in bytes. A JSON number takes at most ~25 characters
        (``-1.2345678901234567e-05,``): 32 are allowed; a batch's beats may carry their 8 rhythm values."""
        if path == "/recordings":  # an upload of the review page: a file as long as /predict/record takes
            return self.max_record_samples * NUMBER_BYTES + 65536
        numbers = self.max_numbers(path)
        return 65536 if numbers is None else numbers * NUMBER_BYTES + 65536


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
    """The service for ``settings``: model loaded, database opened, first admin bootstrapped.

    Loading and the bootstrap happen here, before a port is bound, so that a bad model folder or
    bootstrap key fails at once; the lifespan handler disposes of the database engine at shutdown.
    The routes are APIRouters (heartbeat.serve.routes) reading this state from ``app.state.service``.
    """
    # a model folder is a trust boundary: no gin imports, and no pickle unless the operator vouches for it
    model = load_model(settings.model_dir, safe=True, trust_pickle=settings.trust_pickle)
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

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        engine.dispose()  # the pool's connections closed before the process ends

    app = FastAPI(
        title="heartbeat", version=version, lifespan=lifespan,
        description=(f"ECG heartbeat classification: model **{model.tag}** ({model.family}, task {model.task}, "
                     f"classes {', '.join(model.classes)}). Authorize with an API key (X-API-Key) or a user "
                     "name and password (OAuth2 password flow)."),
        docs_url=None, redoc_url=None,  # /docs is served offline by heartbeat.serve.docs
        openapi_url="/openapi.json" if settings.docs else None)
    if settings.docs:
        add_docs(app, "/openapi.json")
    # in the database: every worker (--workers N) counts the same failures and honours the same lockouts
    throttle = DbThrottle(sessions, settings.max_failures, settings.failure_window, settings.lockout)
    app.state.service = Service(settings, model, version, sessions, monitor, throttle)

    def authenticate(key: str | None, bearer: str | None) -> auth.Principal:
        with sessions() as s:
            return auth.authenticate(s, key, bearer)

    # the Guard runs before FastAPI reads a body; RequestLog, added last, wraps it and logs its answers too
    app.add_middleware(Guard, authenticate=authenticate, throttle=throttle, limit=settings.body_limit,
                       numbers=settings.max_numbers)
    app.add_middleware(RequestLog)

    @app.exception_handler(auth.AuthError)
    async def _auth_error(_request, exc: auth.AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):
        errors = [explain(e) for e in exc.errors()]
        head = "; ".join(e["msg"] for e in errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        return JSONResponse({"message": head, "detail": errors}, status_code=422)

    for router in (service_routes.router, users.router, predict.router, monitoring.router, page.router):
        app.include_router(router)
    return app


SETTINGS_ENV = "HEARTBEAT_SERVE_SETTINGS"


def settings_to_env(settings: Settings) -> str:
    """Settings as JSON, for worker processes that build the app themselves (uvicorn --workers)."""
    d = asdict(settings)
    d["model_dir"] = str(settings.model_dir)
    return json.dumps(d)


def app_from_env() -> FastAPI:
    """The app of each uvicorn worker (``heartbeat serve --workers N``), from ``$HEARTBEAT_SERVE_SETTINGS``.

    Workers start at once on one database: when two create the first admin together, the one that
    loses the race finds the admin the other made (a unique name), so it simply tries again."""
    configure_logging(os.environ.get("HEARTBEAT_SERVE_LOG_LEVEL", "info"))  # a spawned worker logs as JSON too
    d = json.loads(os.environ[SETTINGS_ENV])
    settings = Settings(**{**d, "monitor": MonitorSettings(**d["monitor"])})
    try:
        return create_app(settings)
    except IntegrityError:
        return create_app(settings)
