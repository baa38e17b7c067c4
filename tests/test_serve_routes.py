"""Each router of the service can be read and tested on its own, over a stand-in service state."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from fastapi.testclient import TestClient

from heartbeat.serve.deps import Service
from heartbeat.serve.routes import service


class Monitor:
    def __init__(self, degraded: bool):
        self.degraded = degraded

    def recall_state(self, _session) -> dict:
        return {"degraded": self.degraded, "reason": "recent macro recall 0.61 < 0.8" if self.degraded else None}


def app_with(monitor: Monitor) -> TestClient:
    app = FastAPI()
    app.include_router(service.router)
    app.state.service = Service(settings=None, model=None, version="tiny@0123456789ab",
                                sessions=lambda: contextlib.nullcontext(None), monitor=monitor, throttle=None)
    return TestClient(app)


def test_health_router_alone_reports_the_monitor_state():
    assert app_with(Monitor(False)).get("/health").json() == {"status": "ok", "model_version": "tiny@0123456789ab",
                                                              "reason": None}
    degraded = app_with(Monitor(True)).get("/health").json()
    assert degraded["status"] == "degraded" and degraded["reason"].startswith("recent macro recall")
