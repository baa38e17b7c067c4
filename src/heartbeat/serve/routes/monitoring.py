"""Monitoring and feedback: figures, a clinician's label, retraining requests."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as FastPath
from sqlalchemy import select

from heartbeat.serve.db import Feedback, Label, Prediction, RetrainRequest, User, count, utcnow
from heartbeat.serve.deps import DB, Admin, Clinician, Reader, Svc, invalid
from heartbeat.serve.monitor import request_json
from heartbeat.serve.schemas import INT64_MAX, FeedbackIn, json_safe

log = logging.getLogger("heartbeat.serve")

router = APIRouter()


@router.get("/monitoring", tags=["monitoring"])
def monitoring(svc: Svc, p: Reader, s: DB) -> dict:
    """Recall per class on labelled predictions, recent macro recall, input drift, retraining requests."""
    return json_safe(svc.monitor.report(s))


@router.post("/feedback", tags=["monitoring"])
def feedback(svc: Svc, body: FeedbackIn, p: Clinician, s: DB) -> dict:
    """A clinician's label for an earlier prediction. Every label is kept (``GET /feedback/{id}``); the
    prediction is judged and retrained by the latest."""
    label = body.label
    names = ", ".join(svc.model.classes)
    if isinstance(label, int):
        if not 0 <= label < len(svc.model.classes):
            raise invalid(("body", "label"), f"label: expected a class index 0-{len(svc.model.classes) - 1} "
                                             f"or a class name ({names}), got {label}")
    elif label in svc.model.classes:
        label = svc.model.classes.index(label)
    else:
        raise invalid(("body", "label"), f"label: expected a class name ({names}) or index, got {label!r}")
    pred = s.get(Prediction, body.prediction_id)
    if pred is None:
        raise HTTPException(404, f"no prediction with id {body.prediction_id}")
    if pred.task != svc.model.task:
        raise invalid(("body", "prediction_id"), f"prediction {pred.id} is of task {pred.task}, "
                                                 f"not {svc.model.task}: its labels differ")
    now = utcnow()
    s.add(Label(prediction_id=pred.id, label=label, user_id=p.user_id, created_at=now))  # the history: kept
    fb = s.scalar(select(Feedback).where(Feedback.prediction_id == pred.id))
    updated = fb is not None
    if fb is None:  # the label it is judged and retrained by: the latest
        s.add(Feedback(prediction_id=pred.id, label=label, user_id=p.user_id, created_at=now, updated_at=now))
    else:
        fb.label, fb.user_id, fb.updated_at = label, p.user_id, now
    s.flush()
    state, request_made = svc.monitor.check(s)
    s.commit()
    if request_made is not None:
        log.warning("degraded", extra={"fields": {"model_version": svc.version, "reason": state["reason"],
                                                  "retrain_request": request_made.id}})
    return json_safe({
        "prediction_id": pred.id, "label": svc.model.classes[label], "predicted_class": svc.model.classes[pred.predicted],
        "correct": label == pred.predicted, "updated": updated,
        "labels": count(s, Label, Label.prediction_id == pred.id),
        "status": "degraded" if state["degraded"] else "ok",
        "recent_recall_macro": state["recent"]["recall_macro"],
        "retrain_request": request_made.id if request_made is not None else None})


@router.get("/feedback/{prediction_id}", tags=["monitoring"])
def feedback_history(svc: Svc, prediction_id: Annotated[int, FastPath(ge=1, le=INT64_MAX)], p: Clinician,
                     s: DB) -> dict:
    """Every label given to a prediction, oldest first, with who gave it and when; ``label`` is the one
    it is judged and retrained by (the latest)."""
    pred = s.get(Prediction, prediction_id)
    if pred is None:
        raise HTTPException(404, f"no prediction with id {prediction_id}")
    rows = s.execute(select(Label, User.name).join(User, User.id == Label.user_id)
                     .where(Label.prediction_id == prediction_id).order_by(Label.id)).all()
    history = [{"label": svc.model.classes[r.label] if r.label < len(svc.model.classes) else r.label, "by": name,
                "at": r.created_at.isoformat() + "Z"} for r, name in rows]
    return {"prediction_id": prediction_id, "predicted_class": svc.model.classes[pred.predicted],
            "label": history[-1]["label"] if history else None, "rule": "latest", "history": history}


@router.get("/retrain-requests", tags=["monitoring"])
def retrain_requests(p: Admin, s: DB) -> list[dict]:
    return [request_json(r) for r in s.scalars(select(RetrainRequest).order_by(RetrainRequest.id))]
