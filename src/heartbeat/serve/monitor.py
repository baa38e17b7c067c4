"""Monitoring of a served model: recall on clinicians' labels, and drift of the input beats.

**Recall.** Over the predictions of the served model version that a clinician has labelled,
per-class recall and macro recall (the mean over the classes present among the labels, as
in :mod:`heartbeat.metrics`), each prediction judged by its latest label. The *recent* macro recall
is taken over the ``recall_window`` (K) most recently labelled predictions, and says how many
clinicians gave those labels (``clinicians``; the degraded reason names it too); once at least
``recall_min_labels`` of them exist and it falls below ``recall_threshold``, the service is *degraded*: ``/health`` and
``/monitoring`` say so and a retraining request is written to the database (one open
request per model version; ``heartbeat retrain`` closes it). The state is computed from the
database, so it survives a restart, and clears by itself when the recent recall recovers.

**Drift.** Each beat is reduced to six summary features over its unpadded part (the beat
without its trailing zero padding): ``mean``, ``std``, ``max``, ``length`` (the unpadded
length, a proxy of the RR interval), ``r_amplitude`` (the first sample, the R peak) and
``line_length`` (total variation). For each feature the population stability index (PSI)
of the recent beats against a reference is

    PSI = sum over bins b of (a_b - e_b) * ln(a_b / e_b)

with 10 bins cut at the reference's deciles, ``e_b`` the reference share and ``a_b`` the
recent share of bin ``b`` (both floored at 1e-4). Read as: < 0.1 stable, 0.1-0.25 moderate
shift, > 0.25 major shift (``drift`` is then flagged; it does not degrade the service, as a
shift in the inputs is not by itself a loss of recall).

The reference is the training data's statistics in the model folder (``reference.json``,
written by :func:`write_reference`; ``heartbeat retrain`` writes it) when present, else the
first ``drift_reference`` (N) beats served by this model version. The recent beats are the
last ``drift_window`` served beats (after the reference ones), and the PSI is reported once
there are at least ``MIN_DRIFT_BEATS`` of them. A beat with a non-finite feature (stored before beats
were range-checked) is left out of both sides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from heartbeat.errors import DataError
from heartbeat.metrics import recall_per_class
from heartbeat.serve.db import Feedback, Prediction, RetrainRequest, beats_of, count, utcnow

FEATURES = ("mean", "std", "max", "length", "r_amplitude", "line_length")
REFERENCE_FILE = "reference.json"
BINS = 10
PSI_FLOOR = 1e-4
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25
MIN_DRIFT_BEATS = 30


def summary_features(X: np.ndarray) -> np.ndarray:
    """(n, 187) beats -> (n, 6) features named :data:`FEATURES`, over each beat's unpadded part."""
    X = np.asarray(X, dtype=np.float64)
    n, T = X.shape
    nonzero = X != 0
    length = np.where(nonzero.any(1), T - np.argmax(nonzero[:, ::-1], axis=1), 1)  # last non-zero index + 1
    mask = np.arange(T)[None, :] < length[:, None]  # (n, T): inside the unpadded part
    L = length.astype(np.float64)
    mean = (X * mask).sum(1) / L
    std = np.sqrt((((X - mean[:, None]) * mask) ** 2).sum(1) / L)
    line = (np.abs(np.diff(X, axis=1)) * mask[:, 1:]).sum(1)
    return np.stack([mean, std, np.where(mask, X, -np.inf).max(1), L, X[:, 0], line], axis=1)


@dataclass
class Reference:
    """Per feature: the inner bin edges (the reference's deciles) and the reference share per bin."""

    edges: dict[str, list[float]]
    shares: dict[str, list[float]]
    n: int
    source: str

    @classmethod
    def from_beats(cls, X: np.ndarray, source: str) -> "Reference":
        with np.errstate(invalid="ignore", over="ignore"):
            F = finite_rows(summary_features(X))  # one NaN beat would make every cut point NaN
        edges, shares = {}, {}
        for j, name in enumerate(FEATURES):
            inner = np.unique(np.quantile(F[:, j], np.linspace(0, 1, BINS + 1)[1:-1])) if len(F) else np.zeros(0)
            edges[name] = inner.tolist()
            shares[name] = _shares(F[:, j], inner).tolist()
        return cls(edges, shares, len(F), source)

    def psi(self, X: np.ndarray) -> dict[str, float]:
        with np.errstate(invalid="ignore", over="ignore"):
            F = finite_rows(summary_features(X))
        out = {}
        for j, name in enumerate(FEATURES):
            a = np.maximum(_shares(F[:, j], np.asarray(self.edges[name])), PSI_FLOOR)
            e = np.maximum(np.asarray(self.shares[name]), PSI_FLOOR)
            out[name] = float(np.sum((a - e) * np.log(a / e)))
        return out

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "edges": self.edges, "shares": self.shares, "n": self.n,
                "source": self.source}

    @classmethod
    def from_json(cls, d: dict) -> "Reference":
        if tuple(d.get("features", ())) != FEATURES:
            raise DataError(f"reference features {d.get('features')} differ from {list(FEATURES)}")
        return cls(d["edges"], d["shares"], int(d["n"]), d.get("source", "?"))


def finite_rows(F: np.ndarray) -> np.ndarray:
    """The rows of a feature table whose features are all finite (a stored beat from before the range
    check, or one that overflowed float32, is left out of the drift figures)."""
    return F[np.isfinite(F).all(axis=1)]


def _shares(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each of the len(inner_edges) + 1 bins (right-closed bins)."""
    idx = np.searchsorted(inner_edges, values, side="left")
    return np.bincount(idx, minlength=len(inner_edges) + 1) / max(len(values), 1)


def write_reference(model_dir: str | Path, X: np.ndarray, source: str = "training data") -> Path:
    """Write the drift reference of a model folder from its training beats (n, 187)."""
    path = Path(model_dir) / REFERENCE_FILE
    path.write_text(json.dumps(Reference.from_beats(X, source).to_json(), indent=1) + "\n")
    return path


def read_reference(model_dir: str | Path) -> Reference | None:
    path = Path(model_dir) / REFERENCE_FILE
    return Reference.from_json(json.loads(path.read_text())) if path.exists() else None


def drift_level(psi: float) -> str:
    return "major" if psi > PSI_MAJOR else "moderate" if psi > PSI_MODERATE else "stable"


def recall_figures(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Per-class recall (None where a class is absent from the labels) and macro recall."""
    if len(y_true) == 0:
        return {"n": 0, "recall_macro": None, "recall_per_class": {c: None for c in classes}}
    r = recall_per_class(y_true, y_pred, len(classes))
    present = ~np.isnan(r)
    return {"n": int(len(y_true)), "recall_macro": float(np.mean(r[present])),
            "recall_per_class": {c: (None if np.isnan(v) else float(v)) for c, v in zip(classes, r)}}


@dataclass
class MonitorSettings:
    recall_window: int = 200
    recall_threshold: float = 0.8
    recall_min_labels: int = 20
    drift_reference: int = 500
    drift_window: int = 500


class Monitor:
    """Monitoring figures of one served model version, computed from the database."""

    def __init__(self, model_version: str, classes: tuple[str, ...], settings: MonitorSettings,
                 reference: Reference | None = None):
        self.version, self.classes, self.s = model_version, classes, settings
        self.reference = reference
        self.reference_from_file = reference is not None
        self._reference_last_id: int | None = None  # id of the last served beat in a served reference

    # -------------------------------------------------------- recall
    def labelled(self, session: Session, limit: int | None = None,
                 who: bool = False) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels, predictions[, who labelled]) of this version's labelled predictions (their latest
        labels), most recently labelled first."""
        q = (select(Feedback.label, Prediction.predicted, Feedback.user_id)
             .join(Prediction, Feedback.prediction_id == Prediction.id)
             .where(Prediction.model_version == self.version)
             .order_by(Feedback.updated_at.desc(), Feedback.id.desc()))
        rows = session.execute(q.limit(limit) if limit else q).all()
        out = tuple(np.array([r[i] for r in rows], dtype=np.int64) for i in range(3))
        return out if who else out[:2]

    def recall_state(self, session: Session, overall: bool = False) -> dict:
        """The recent recall and the degraded verdict (and, if ``overall``, recall over every label)."""
        k = self.s.recall_window
        y, p, who = self.labelled(session, None if overall else k, who=True)
        recent = recall_figures(y[:k], p[:k], self.classes)
        clinicians = len(set(who[:k].tolist()))  # how many clinicians' labels the verdict stands on
        recent["clinicians"] = clinicians
        judged = recent["n"] >= self.s.recall_min_labels
        degraded = judged and recent["recall_macro"] < self.s.recall_threshold
        reason = (f"macro recall {recent['recall_macro']:.3f} over the {recent['n']} most recently labelled "
                  f"predictions (labelled by {clinicians} clinician{'s' if clinicians != 1 else ''}) is below "
                  f"{self.s.recall_threshold}") if degraded else None
        overall_figures = {**recall_figures(y, p, self.classes), "clinicians": len(set(who.tolist()))} \
            if overall else None
        return {"all": overall_figures,
                "recent": {**recent, "window": k, "threshold": self.s.recall_threshold,
                           "min_labels": self.s.recall_min_labels, "judged": judged},
                "degraded": degraded, "reason": reason}

    def check(self, session: Session) -> tuple[dict, RetrainRequest | None]:
        """The recall state; when degraded with no open request for this version, a new request (added)."""
        state = self.recall_state(session)
        if not state["degraded"] or self.open_request(session) is not None:
            return state, None
        req = RetrainRequest(model_version=self.version, reason=state["reason"],
                             recall_macro=state["recent"]["recall_macro"], labelled=state["recent"]["n"])
        session.add(req)
        return state, req

    def open_request(self, session: Session) -> RetrainRequest | None:
        return session.scalar(select(RetrainRequest).where(RetrainRequest.model_version == self.version,
                                                           RetrainRequest.status == "open").limit(1))

    # -------------------------------------------------------- drift
    def _served_reference(self, session: Session) -> None:
        """Fix the reference from the first N served beats once there are N (they never change)."""
        if self.reference is not None:
            return
        rows = session.execute(select(Prediction.id, Prediction.beat).where(Prediction.model_version == self.version)
                               .order_by(Prediction.id).limit(self.s.drift_reference)).all()
        if len(rows) == self.s.drift_reference:
            self.reference = Reference.from_beats(beats_of([r[1] for r in rows]),
                                                  f"first {self.s.drift_reference} served beats")
            self._reference_last_id = rows[-1][0]

    def drift(self, session: Session) -> dict:
        self._served_reference(session)
        if self.reference is None:
            served = count(session, Prediction, Prediction.model_version == self.version)
            return {"status": "collecting reference",
                    "reference": f"first {self.s.drift_reference} served beats ({served} so far)",
                    "psi": None, "psi_max": None, "drifted": False}
        q = select(Prediction.beat).where(Prediction.model_version == self.version)
        if self._reference_last_id is not None:
            q = q.where(Prediction.id > self._reference_last_id)
        blobs = session.scalars(q.order_by(Prediction.id.desc()).limit(self.s.drift_window)).all()
        base = {"reference": self.reference.source, "reference_beats": self.reference.n, "recent_beats": len(blobs),
                "window": self.s.drift_window, "statistic": "population stability index, 10 reference-decile bins"}
        if len(blobs) < MIN_DRIFT_BEATS:
            return {**base, "status": f"waiting for {MIN_DRIFT_BEATS} recent beats", "psi": None,
                    "psi_max": None, "drifted": False}
        psi = self.reference.psi(beats_of(list(blobs)))
        worst = max(psi.values())
        return {**base, "status": drift_level(worst), "psi": psi, "psi_max": worst, "drifted": worst > PSI_MAJOR}

    # -------------------------------------------------------- together
    def report(self, session: Session) -> dict:
        state = self.recall_state(session, overall=True)
        requests = session.scalars(select(RetrainRequest).where(RetrainRequest.model_version == self.version)
                                   .order_by(RetrainRequest.id)).all()
        return {
            "model_version": self.version,
            "status": "degraded" if state["degraded"] else "ok",
            "degraded": state["degraded"],
            "reason": state["reason"],
            "predictions": count(session, Prediction, Prediction.model_version == self.version),
            "labelled": state["all"]["n"],
            "recall": state["all"],
            "recent_recall": state["recent"],
            "drift": self.drift(session),
            "retrain_requests": [request_json(r) for r in requests],
            "computed_at": utcnow().isoformat() + "Z",
        }


def request_json(r: RetrainRequest) -> dict:
    return {"id": r.id, "created_at": r.created_at.isoformat() + "Z", "model_version": r.model_version,
            "reason": r.reason, "recall_macro": r.recall_macro, "labelled": r.labelled, "status": r.status,
            "resolved_at": r.resolved_at.isoformat() + "Z" if r.resolved_at else None, "resolution": r.resolution}
