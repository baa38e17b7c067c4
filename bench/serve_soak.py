"""Soak and fault benchmark of the service: concurrent clients for minutes, a kill -9 halfway.

    python bench/serve_soak.py [--minutes 3] [--clients 4] [--workers 2] [--db URL]

Starts ``heartbeat serve`` on 127.0.0.1 (a tiny model trained here; the service's behaviour does
not depend on what it learnt) with ``--workers`` processes on one database (SQLite in WAL mode by
default, or --db, e.g. a PostgreSQL URL). ``--clients`` threads mix single predictions (60%),
batches of 8 (15%), feedback on their own earlier predictions (15%) and monitoring reads (10%),
for ``--minutes``. Halfway, the server's whole process group gets SIGKILL and is started again
on the same port and database. Every request is bounded in time (10 s) and the run stops by
itself. Then the database is read directly: is every prediction and feedback that got a 2xx
there? Writes results/bench/serve_soak.json: counts per call, the calls that failed and when
(around the restart or not), p50 and p99 latency before and after the restart, and what was lost.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_model(work: Path) -> Path:
    import heartbeat as hb
    from heartbeat.data import write_beats
    from heartbeat.data.synthetic import synthetic_beats

    out = work / "tiny"
    data = hb.load_data(write_beats(synthetic_beats(3000, seed=0), work / "beats.parq"))
    hb.train(ROOT / "gin/models/cnn1d.gin", {"fit.beats_per_epoch": 1000, "CNN1D.channels": 8}, data=data, out=out,
             epochs=1)
    return out


class Service:
    def __init__(self, model: Path, db: str, work: Path, workers: int, admin: str):
        self.model, self.db, self.work, self.workers, self.admin = model, db, work, workers, admin
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> float:
        env = {**os.environ, "HEARTBEAT_ADMIN_KEY": self.admin}
        cmd = [sys.executable, "-m", "heartbeat.serve", "serve", "--model", str(self.model), "--port",
               str(self.port), "--db", self.db, "--threads", "1", "--workers", str(self.workers),
               "--max-failures", "1000000"]
        with open(self.work / "server.log", "a") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return time.monotonic() - t0
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the server did not start in 60 s; see " + str(self.work / "server.log"))

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the master and every worker, no shutdown handler
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)


def client(url: str, key: str, stop_at: float, seed: int, log: list, lock: threading.Lock) -> None:
    rng = np.random.default_rng(seed)
    mine: list[int] = []
    headers = {"X-API-Key": key}
    while time.monotonic() < stop_at:
        r = rng.uniform()
        kind = "predict" if r < 0.6 else "batch" if r < 0.75 else "feedback" if r < 0.9 and mine else "monitoring"
        t0 = time.monotonic()
        status, acked = None, []
        try:
            if kind == "predict":
                resp = requests.post(url + "/predict", json={"beat": rng.uniform(0, 1, 187).round(4).tolist()},
                                     headers=headers, timeout=10)
                if resp.ok:
                    acked = [resp.json()["id"]]
            elif kind == "batch":
                resp = requests.post(url + "/predict/batch", json={"beats": rng.uniform(0, 1, (8, 187)).round(4).tolist()},
                                     headers=headers, timeout=10)
                if resp.ok:
                    acked = [p["id"] for p in resp.json()["predictions"]]
            elif kind == "feedback":
                pid = int(mine.pop(int(rng.integers(len(mine)))))
                label = ["N", "S", "V", "F", "Q"][int(rng.integers(5))]
                resp = requests.post(url + "/feedback", json={"prediction_id": pid, "label": label}, headers=headers,
                                     timeout=10)
                if resp.ok:
                    acked = [pid]
            else:
                resp = requests.get(url + "/monitoring", headers=headers, timeout=10)
            status = resp.status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        if kind in ("predict", "batch"):
            mine += acked
        with lock:
            log.append({"t": t0, "kind": kind, "status": status, "ms": 1000 * (time.monotonic() - t0), "acked": acked})


def markdown(paths: list[Path]) -> str:
    """A table of soak results (one JSON file a row), for docs/serving.md."""
    head = ("| database | workers | clients | minutes | requests | acked predictions | lost | acked feedback | lost "
            "| restart s | failed during restart | failed otherwise | p50 / p99 ms before | p50 / p99 ms after |")
    rows = [head, "|" + "---|" * 14]
    for path in paths:
        r = json.loads(path.read_text())
        during = sum(r["failed"]["restart"].values())
        other = sum(r["failed"]["before"].values()) + sum(r["failed"]["after"].values())
        rows.append(f"| {r['database']} | {r['workers']} | {r['clients']} | {r['minutes']:g} | {r['requests']:,} | "
                    f"{r['acked_predictions']:,} | {r['lost_predictions']} | {r['acked_feedback']:,} | "
                    f"{r['lost_feedback']} | {r['restart_s']:.1f} | {during:,} | {other} | "
                    f"{r['p50_ms_before']:.1f} / {r['p99_ms_before']:.1f} | {r['p50_ms_after']:.1f} / "
                    f"{r['p99_ms_after']:.1f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--db", default=None, help="database URL (default: a SQLite file in a scratch folder, WAL)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench" / "serve_soak.json"))
    p.add_argument("--markdown", action="store_true",
                   help="print results/bench/serve_soak*.json as one markdown table, and run nothing")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown(sorted((ROOT / "results" / "bench").glob("serve_soak*.json"))))
        return 0
    work = Path(tempfile.mkdtemp(prefix="heartbeat-soak-"))
    db = args.db or f"sqlite:///{work / 'serve.db'}"
    admin = "hbk_" + secrets.token_urlsafe(32)
    model = train_model(work)
    svc = Service(model, db, work, args.workers, admin)
    first_start = svc.start()
    made = requests.post(svc.url + "/users", json={"name": "soak", "role": "clinician"},
                         headers={"X-API-Key": admin}, timeout=10)
    key = made.json()["api_key"]
    log, lock = [], threading.Lock()
    start = time.monotonic()
    stop_at = start + 60 * args.minutes
    threads = [threading.Thread(target=client, args=(svc.url, key, stop_at, i, log, lock), daemon=True)
               for i in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(30 * args.minutes)  # halfway
    killed_at = time.monotonic()
    svc.kill9()
    restart_seconds = svc.start()
    back_at = time.monotonic()
    for t in threads:
        t.join(timeout=120)
    svc.stop()

    # what the database holds, read directly
    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    with engine.connect() as c:
        predictions = {r[0] for r in c.execute(text("SELECT id FROM predictions"))}
        feedback = {r[0] for r in c.execute(text("SELECT prediction_id FROM feedback"))}
    engine.dispose()
    acked_pred = {i for r in log if r["kind"] in ("predict", "batch") and isinstance(r["status"], int)
                  and r["status"] < 300 for i in r["acked"]}
    acked_fb = {i for r in log if r["kind"] == "feedback" and isinstance(r["status"], int) and r["status"] < 300
                for i in r["acked"]}

    def window(r) -> str:
        return "before" if r["t"] < killed_at - 1 else "after" if r["t"] > back_at + 1 else "restart"

    def pct(rows, q):
        ms = [r["ms"] for r in rows if isinstance(r["status"], int) and r["status"] < 300]
        return float(np.percentile(ms, q)) if ms else None

    failed = [r for r in log if not (isinstance(r["status"], int) and r["status"] < 300)]
    report = {
        "minutes": args.minutes, "clients": args.clients, "workers": args.workers,
        "database": "sqlite (WAL)" if db.startswith("sqlite") else db.split("://")[0],
        "requests": len(log), "per_kind": {k: sum(r["kind"] == k for r in log) for k in
                                           ("predict", "batch", "feedback", "monitoring")},
        "server_start_s": first_start, "restart_s": restart_seconds,
        "failed": {w: {f"{r['kind']} {r['status']}": 0 for r in failed if window(r) == w}
                   for w in ("before", "restart", "after")},
        "acked_predictions": len(acked_pred), "lost_predictions": len(acked_pred - predictions),
        "acked_feedback": len(acked_fb), "lost_feedback": len(acked_fb - feedback),
        "p50_ms_before": pct([r for r in log if window(r) == "before"], 50),
        "p99_ms_before": pct([r for r in log if window(r) == "before"], 99),
        "p50_ms_after": pct([r for r in log if window(r) == "after"], 50),
        "p99_ms_after": pct([r for r in log if window(r) == "after"], 99),
    }
    for r in failed:
        report["failed"][window(r)][f"{r['kind']} {r['status']}"] += 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print("wrote", out)
    return 0 if report["lost_predictions"] == 0 and report["lost_feedback"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
