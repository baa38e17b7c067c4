"""The service's database: users and their secrets, predictions, feedback, retraining requests, and the
recordings uploaded on the review page.

Everything the service knows lives here, so nothing is lost on a restart. Any SQLAlchemy URL
works; the default is a SQLite file ``serve.db`` in the working directory, and PostgreSQL is
``postgresql+psycopg://USER:PASSWORD@HOST:5432/DB`` (needs ``pip install 'psycopg[binary]'``).
Tables are created on first start (``create_all``); there are no migrations yet.

Secrets are never stored: an API key or access token is kept as the SHA-256 of the
(high-entropy, random) secret, a password as PBKDF2-HMAC-SHA256 with a per-user salt
(:mod:`heartbeat.serve.auth`). A prediction keeps the beat itself (187 float32, 748 bytes)
besides its SHA-256: the beat is what ``heartbeat retrain`` learns from once a clinician
has labelled it. Times are naive UTC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from heartbeat.data.beatset import BEAT_LEN


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def default_url() -> str:
    """``sqlite:///<cwd>/serve.db``: the service's database when no ``--db`` is given."""
    return f"sqlite:///{Path.cwd() / 'serve.db'}"


def redact(url: str) -> str:
    """The URL with its password masked, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    keys: Mapped[list["ApiKey"]] = relationship(back_populates="user")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # sha256 hex of the key
    prefix: Mapped[str] = mapped_column(String(12))  # first characters, to tell keys apart in listings
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    user: Mapped[User] = relationship(back_populates="keys")


class AccessToken(Base):
    """A bearer token of the OAuth2 password flow (``POST /token``), kept as its SHA-256."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Prediction(Base):
    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    model_version: Mapped[str] = mapped_column(String(200), index=True)
    task: Mapped[str] = mapped_column(String(16))
    input_hash: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the float32 beat
    beat: Mapped[bytes] = mapped_column(LargeBinary)  # (187,) float32 little-endian
    probabilities: Mapped[list] = mapped_column(JSON)
    predicted: Mapped[int] = mapped_column(Integer)
    abnormal: Mapped[bool] = mapped_column(Boolean)
    # what a model with rhythm input took besides the beat, so that a label can retrain it: the per-beat
    # features (float32 bytes, (k,)) named by rhythm_names (BeatInput.names), and the beat's window
    rhythm: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    rhythm_names: Mapped[list | None] = mapped_column(JSON, nullable=True)
    window: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: stored before it was kept
    feedback: Mapped["Feedback | None"] = relationship(back_populates="prediction")


class Feedback(Base):
    """The label a prediction is judged and retrained by: the latest one a clinician gave (the
    agreed rule, docs/serving.md); every label given, with who and when, is in :class:`Label`."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id"), unique=True, index=True)
    label: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    prediction: Mapped[Prediction] = relationship(back_populates="feedback")


class Label(Base):
    """Every label a clinician gave a prediction, with who and when: nothing is overwritten."""

    __tablename__ = "feedback_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id"), index=True)
    label: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RetrainRequest(Base):
    """Written when the recent macro recall falls below its threshold; closed by ``heartbeat retrain``."""

    __tablename__ = "retrain_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    model_version: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(Text)
    recall_macro: Mapped[float] = mapped_column(Float)
    labelled: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)


class StoredRecording(Base):
    """A recording uploaded on the review page (``POST /recordings``): what it is, the model that read it,
    its summary, and a min/max envelope of its signal (one bucket per second or so) for the overview.
    The signal itself is in :class:`RecordingChunk` rows, its beats in :class:`RecordingBeat` rows, each
    beat's prediction an ordinary :class:`Prediction` (so feedback and monitoring work on it); all of it
    is written in one transaction, so a refused upload leaves nothing behind."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))  # the file's or record's name: no patient identifier
    format: Mapped[str] = mapped_column(String(8))  # wfdb | csv | npy
    fs: Mapped[float] = mapped_column(Float)
    lead: Mapped[str] = mapped_column(String(32))
    units: Mapped[str] = mapped_column(String(16))
    samples: Mapped[int] = mapped_column(Integer)
    chunk: Mapped[int] = mapped_column(Integer)  # samples per RecordingChunk row
    model_version: Mapped[str] = mapped_column(String(200), index=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: abnormal = label not N
    summary: Mapped[dict] = mapped_column(JSON)  # beats, per_class, abnormal_burden_percent, longest runs, notes
    bucket: Mapped[int] = mapped_column(Integer)  # samples per envelope bucket
    envelope: Mapped[bytes] = mapped_column(LargeBinary)  # (2, buckets) float32: min row, max row


class RecordingChunk(Base):
    """``StoredRecording.chunk`` consecutive samples of a recording's signal (float32 little-endian), so that
    a window of a 24-hour recording is read without reading the rest."""

    __tablename__ = "recording_chunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    values: Mapped[bytes] = mapped_column(LargeBinary)


class RecordingBeat(Base):
    """One detected beat of a stored recording: its R peak's sample and the prediction made for it."""

    __tablename__ = "recording_beats"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id"), unique=True)
    sample: Mapped[int] = mapped_column(Integer)


class AuthFailure(Base):
    """One failed credential of a throttle key (``ip:<address>``, ``user:<name>``), at a wall-clock
    time: every worker process counts the same failures (heartbeat.serve.guard.DbThrottle)."""

    __tablename__ = "auth_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


class Lockout(Base):
    """A throttle key locked out until a wall-clock time (seconds since the epoch). A key may have
    several rows (two workers locking it out at once both write one): the latest ``until`` counts."""

    __tablename__ = "lockouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    until: Mapped[float] = mapped_column(Float)


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: :func:`default_url`) with the tables created.

    SQLite gets WAL journaling (readers do not block the writer), a busy timeout and
    foreign keys, and may be used from the server's worker threads.
    """
    url = url or default_url()
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {},
                           pool_pre_ping=not sqlite)
    if sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    Base.metadata.create_all(engine)
    add_missing_columns(engine)
    return engine


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the nullable columns a newer version declares to tables an older one created (create_all
    makes only missing tables): the one schema change so far, without a migration tool."""
    added = []
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have and column.nullable:
                kind = column.type.compile(dialect=engine.dialect)
                with engine.begin() as conn:
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
                added.append(f"{table.name}.{column.name}")
    return added


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# ---------------------------------------------------------------- beats in and out
def beat_bytes(beat: np.ndarray) -> bytes:
    return np.asarray(beat, dtype="<f4").tobytes()


def beat_hash(beat: np.ndarray) -> str:
    """SHA-256 of a beat's float32 little-endian bytes: the same beat always has the same hash."""
    return hashlib.sha256(beat_bytes(beat)).hexdigest()


def beats_of(blobs: list[bytes]) -> np.ndarray:
    """Stored beats back as (n, 187) float32."""
    if not blobs:
        return np.zeros((0, BEAT_LEN), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), BEAT_LEN).astype(np.float32)


def labelled_beats(session: Session, task: str, model_version: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Every clinician-labelled beat of ``task`` (optionally of one model version): (X (n, 187), y (n,)),
    each by its latest label."""
    q = (select(Prediction.beat, Feedback.label).join(Feedback, Feedback.prediction_id == Prediction.id)
         .where(Prediction.task == task).order_by(Prediction.id))
    if model_version is not None:
        q = q.where(Prediction.model_version == model_version)
    rows = session.execute(q).all()
    return beats_of([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=np.int64)


@dataclass
class Labelled:
    """The labelled beats a model with given inputs can learn from, and what was left out and why."""

    X: np.ndarray               # (n, 187)
    y: np.ndarray               # (n,)
    rhythm: np.ndarray | None   # (n, len(names)), or None for a beat-only model
    skipped: dict[str, int]     # reason -> labelled beats left out


def labelled_inputs(session: Session, task: str, names: tuple[str, ...] = (), window: str = "kachuee") -> Labelled:
    """Every labelled beat of ``task`` that a model taking ``window`` beats and the per-beat features
    ``names`` (BeatInput.names; empty: beat-only) can learn from, by its latest label. A beat stored
    without those features (a beat-only model's prediction, or one stored before they were kept) or of
    another window is left out and counted: guessing its rhythm would teach the model a wrong one."""
    rows = session.execute(select(Prediction.beat, Feedback.label, Prediction.rhythm, Prediction.rhythm_names,
                                  Prediction.window)
                           .join(Feedback, Feedback.prediction_id == Prediction.id)
                           .where(Prediction.task == task).order_by(Prediction.id)).all()
    keep, rhythms, skipped = [], [], {}
    for i, (_beat, _label, blob, have, win) in enumerate(rows):
        if (win or "kachuee") != window:  # a beat stored before windows were kept is a kachuee beat
            why = f"{win} window, the model takes {window}"
            skipped[why] = skipped.get(why, 0) + 1
            continue
        if names:
            have = tuple(have or ())
            if blob is None or any(c not in have for c in names):
                skipped["no stored rhythm"] = skipped.get("no stored rhythm", 0) + 1
                continue
            values = np.frombuffer(blob, dtype="<f4")
            rhythms.append(values[[have.index(c) for c in names]])
        keep.append(i)
    X = beats_of([rows[i][0] for i in keep])
    y = np.array([rows[i][1] for i in keep], dtype=np.int64)
    R = (np.stack(rhythms).astype(np.float32) if rhythms else np.zeros((0, len(names)), np.float32)) if names else None
    return Labelled(X, y, R, skipped)


def count(session: Session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
