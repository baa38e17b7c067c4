"""Open and read-only routes: ``/health`` and ``/model``."""

from __future__ import annotations

from fastapi import APIRouter

from heartbeat.serve.deps import DB, Reader, Svc
from heartbeat.serve.schemas import json_safe

router = APIRouter()


@router.get("/health", tags=["service"])
def health(svc: Svc, s: DB) -> dict:
    """Liveness and state: ``ok``, or ``degraded`` when the recent recall fell below its threshold."""
    state = svc.monitor.recall_state(s)
    return {"status": "degraded" if state["degraded"] else "ok", "model_version": svc.version,
            "reason": state["reason"]}




@router.get("/model", tags=["model"])
def model_info(svc: Svc, p: Reader) -> dict:
    """The served model: tag, svc.version, config and validation metrics."""
    info = svc.model.info
    return json_safe({
        "tag": svc.model.tag, "version": svc.version, "source": svc.settings.source or str(svc.settings.model_dir),
        "family": svc.model.family, "task": svc.model.task, "classes": list(svc.model.classes),
        "threshold": svc.settings.threshold, "config": svc.model.config, "valid": info.valid,
        "data": info.data, "synthetic": info.synthetic, "split": info.split, "seed": info.seed,
        "best_epoch": info.best_epoch, "objective": info.objective,
        "retrained_from": info.extra.get("retrained_from"), "feedback_beats": info.extra.get("feedback_beats")})
