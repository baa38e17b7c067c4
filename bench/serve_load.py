"""Load on the prediction service: throughput and latency percentiles, single beats and batches, on loopback.

    python bench/serve_load.py [--model DIR] [--single 1000] [--batches 250] [--batch-size 64]
                               [--concurrency 1 4] [--max-seconds 60] [--threads 1] [--out CSV]

Starts ``python -m heartbeat.serve serve`` on a free port of 127.0.0.1 with a fresh SQLite
database in a temporary folder, makes a reader, and sends from this (client) process, for
each concurrency level (that many threads, each with its own keep-alive connection):
``--single`` requests of one beat to ``/predict`` and ``--batches`` requests of
``--batch-size`` beats to ``/predict/batch``. Every prediction is written to the database,
as in service. Each run stops at its request count or after ``--max-seconds``, whichever
comes first; 20 warm-up requests are not counted. Latency is per request, client side
(serialising, HTTP, validation, model, database commit, response).

Without ``--model`` a model folder is trained first from gin/models/cnn1d.gin as committed
(one short epoch on synthetic beats: the speed is the point, not the accuracy). The beats
sent are synthetic. A benchmark, not a test: numbers vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only
WARMUP = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def train_model(work: Path) -> Path:
    import heartbeat as hb
    from heartbeat.data import write_beats
    from heartbeat.data.synthetic import synthetic_beats

    out = work / "cnn1d"  # the service's speed does not depend on what the model learnt: synthetic beats
    data = hb.load_data(write_beats(synthetic_beats(3000, seed=0), work / "beats.parq"))
    hb.train(ROOT / "gin/models/cnn1d.gin", {"fit.beats_per_epoch": 1000}, data=data, out=out, epochs=1)
    return out


def start_server(model: Path, work: Path, threads: int, max_batch: int) -> tuple[subprocess.Popen, str, str]:
    admin = "hbk_" + secrets.token_urlsafe(32)
    port = free_port()
    env = {**os.environ, "HEARTBEAT_ADMIN_KEY": admin}
    log = open(work / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "heartbeat.serve", "serve", "--model", str(model), "--host", HOST,
                             "--port", str(port), "--db", f"sqlite:///{work / 'serve.db'}", "--threads", str(threads),
                             "--max-batch", str(max_batch), "--log-level", "warning"],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited ({proc.returncode}):\n" + (work / "server.log").read_text()[-3000:])
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return proc, url, admin
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not start in 60 s")


def run(url: str, key: str, path: str, payloads: list[str], count: int, concurrency: int,
        max_seconds: float) -> dict:
    """``count`` POSTs spread over ``concurrency`` threads; per-request latencies in seconds."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    next_i = [0]
    stop_at = time.monotonic() + max_seconds

    def worker():
        with requests.Session() as session:
            session.headers.update({"X-API-Key": key, "content-type": "application/json"})
            for i in range(WARMUP // concurrency + 1):
                session.post(url + path, data=payloads[i % len(payloads)], timeout=30)
            barrier.wait()
            while True:
                with lock:
                    i = next_i[0]
                    next_i[0] += 1
                if i >= count or time.monotonic() > stop_at:
                    return
                t0 = time.perf_counter()
                r = session.post(url + path, data=payloads[i % len(payloads)], timeout=30)
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    errors[0] += r.status_code != 200

    barrier = threading.Barrier(concurrency + 1)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {"requests": len(lat), "errors": errors[0], "seconds": seconds, "req_per_s": len(lat) / seconds,
            "p50_ms": np.percentile(lat, 50), "p95_ms": np.percentile(lat, 95), "p99_ms": np.percentile(lat, 99),
            "max_ms": lat.max()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model folder (default: train a small cnn1d first)")
    p.add_argument("--single", type=int, default=1000, help="single-beat requests per concurrency level (1000)")
    p.add_argument("--batches", type=int, default=250, help="batch requests per concurrency level (250)")
    p.add_argument("--batch-size", type=int, default=64, help="beats per batch request (64)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4], help="client threads (1 and 4)")
    p.add_argument("--max-seconds", type=float, default=60, help="time limit of each run (60)")
    p.add_argument("--threads", type=int, default=1, help="the server's torch threads (1)")
    p.add_argument("--out", default=None, help="also write the table as CSV here")
    args = p.parse_args(argv)

    from heartbeat.data.synthetic import synthetic_beats

    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        work = Path(tmp)
        model = Path(args.model).resolve() if args.model else train_model(work)  # the server runs in work/
        proc, url, admin = start_server(model, work, args.threads, max(args.batch_size, 64))
        try:
            made = requests.post(url + "/users", json={"name": "bench", "role": "reader"},
                                 headers={"X-API-Key": admin}, timeout=10)
            made.raise_for_status()
            key = made.json()["api_key"]
            X = synthetic_beats(2000, seed=11).X
            rng = np.random.default_rng(0)
            single = [json.dumps({"beat": x.tolist()}) for x in X[:500]]
            batch = [json.dumps({"beats": X[rng.choice(len(X), args.batch_size)].tolist()})
                     for _ in range(50)]
            rows = []
            for c in args.concurrency:
                for mode, path, payloads, count, beats in (
                        ("single", "/predict", single, args.single, 1),
                        (f"batch {args.batch_size}", "/predict/batch", batch, args.batches, args.batch_size)):
                    r = run(url, key, path, payloads, count, c, args.max_seconds)
                    rows.append({"mode": mode, "clients": c, **r, "beats_per_s": r["req_per_s"] * beats})
                    print(f"  {mode:<9} clients {c}: {r['requests']} requests in {r['seconds']:.1f} s",
                          file=sys.stderr, flush=True)
        finally:
            proc.terminate()
            proc.wait(10)

    table = pd.DataFrame(rows)[["mode", "clients", "requests", "errors", "seconds", "req_per_s", "beats_per_s",
                                "p50_ms", "p95_ms", "p99_ms", "max_ms"]]
    total = int(table.requests.sum())
    print(f"\nheartbeat serve on {HOST}: {total} requests from a client process "
          f"(server: 1 process, {args.threads} torch thread(s); {os.cpu_count()} CPUs shared by server and client)")
    with pd.option_context("display.width", 160, "display.float_format", "{:.1f}".format):
        print(table.to_string(index=False))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False, float_format="%.3f")
        print("wrote", args.out)
    return 1 if table.errors.sum() else 0


if __name__ == "__main__":
    sys.exit(main())
