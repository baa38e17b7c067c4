"""Training and inference speed of each family's default config, on one thread, beside the CPU's ceiling.

    python bench/train_throughput.py [--data PATH] [--threads 1] [--steps 30] [--out results/bench/train_throughput.csv]

For each deep family (gin/models/<family>.gin as committed): training beats/s (forward,
backward and AdamW step on batches of fit.batch_size real beats), batched inference beats/s
(4096 per batch), single-beat latency (median of 200 calls), and the GFLOP/s these reach,
counted with torch's FlopCounterMode (training = 3 x forward FLOPs, the usual estimate).
The ceiling is the best float32 matrix multiply (square, 256 to 1024) on the same --threads,
measured before and after the families (the higher is kept), so a clock that moves during the
run cannot put a family above it. Each timed section also records cpu_per_wall (process CPU
seconds over wall seconds), which shows how many threads it really used.
The classical baseline is timed on fit and predict. A benchmark, not a test: numbers vary.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gin
import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from heartbeat.config import parse
from heartbeat.data import load_dataset
from heartbeat.models import BASELINES

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = ["cnn1d", "cnn2d", "gru", "transformer", "resnet1d"]


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def ceiling_gflops(trials: int = 3) -> float:
    """Best matmul GFLOP/s over a few sizes and trials, on torch's current thread count.

    One 1024 x 1024 size alone read 72.6 GFLOP/s where 256 x 256 reached 99 on the same
    core, which put resnet1d at 125 % of its "ceiling".
    """
    sizes = {256: 400, 512: 60, 1024: 10}  # about the same work per size
    return max(matmul_gflops(n, repeats) for _ in range(trials) for n, repeats in sizes.items())


class Clock:
    """Wall and process-CPU seconds of a block: cpu / wall is the threads it really used."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    @property
    def threads_used(self) -> float:
        return self.cpu / self.wall


def forward_flops(net: torch.nn.Module, batch: int = 64) -> float:
    """FLOPs of one beat's forward pass."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.zeros(batch, 1, 187))
    return counter.get_total_flops() / batch


def time_training(net, X, y, batch_size: int, steps: int) -> tuple[float, float]:
    """Training beats/s, and the threads the steps used."""
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    idx = torch.randint(0, len(X), (steps + 3, batch_size), generator=torch.Generator().manual_seed(0))

    def step(i):
        xb, yb = X[idx[i]].unsqueeze(1), y[idx[i]]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(xb), yb).backward()
        opt.step()

    for i in range(3):  # warm-up steps excluded
        step(i)
    with Clock() as clock:
        for i in range(3, steps + 3):
            step(i)
    return steps * batch_size / clock.wall, clock.threads_used


@torch.inference_mode()
def time_inference(net, X, batch: int = 4096, repeats: int = 3) -> tuple[float, float, float]:
    """Batched beats/s, single-beat latency in ms, and the threads the batched calls used."""
    net.eval()
    xb = X[:batch].unsqueeze(1)
    net(xb)
    with Clock() as clock:
        for _ in range(repeats):
            net(xb)
    batched = repeats * len(xb) / clock.wall
    one = X[:1].unsqueeze(1)
    lat = []
    for _ in range(200):
        t = time.perf_counter()
        net(one)
        lat.append(time.perf_counter() - t)
    return batched, float(np.median(lat)) * 1e3, clock.threads_used


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="data source (default: $HEARTBEAT_DATA, data/, synthetic)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=30, help="training steps timed per family")
    p.add_argument("--out", default=str(ROOT / "results" / "bench" / "train_throughput.csv"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    if ds.synthetic:
        print("WARNING: no real data found; timing on synthetic beats", file=sys.stderr)
    X, y = torch.from_numpy(ds.train.X), torch.from_numpy(ds.train.y)
    ceiling = ceiling_gflops()
    print(f"data: {ds.source}; threads: {args.threads}; matmul ceiling {ceiling:.1f} GFLOP/s", flush=True)
    rows = []
    for family in FAMILIES:
        parse(ROOT / "gin" / "models" / f"{family}.gin")
        batch_size = gin.query_parameter("fit.batch_size")
        net = gin.get_bindings("fit")["model"](in_channels=1, num_classes=5)
        flops = forward_flops(net)
        train_bps, train_threads = time_training(net, X, y, batch_size, args.steps)
        infer_bps, latency_ms, infer_threads = time_inference(net, X)
        rows.append({
            "family": family, "params": sum(p.numel() for p in net.parameters()),
            "MFLOP_per_beat": flops / 1e6, "train_beats_s": train_bps, "train_GFLOPs": 3 * flops * train_bps / 1e9,
            "train_cpu_per_wall": train_threads,
            "infer_beats_s": infer_bps, "infer_GFLOPs": flops * infer_bps / 1e9,
            "infer_cpu_per_wall": infer_threads, "latency_ms": latency_ms,
        })
        print(f"  {family:<12} train {train_bps:8.0f} beats/s   infer {infer_bps:8.0f} beats/s   "
              f"latency {latency_ms:.2f} ms", flush=True)
    parse(ROOT / "gin" / "models" / "baseline.gin")
    est = gin.get_bindings("fit")["model"](num_classes=5)
    n = min(20000, len(X))
    start = time.perf_counter()
    est.fit(ds.train.X[:n], ds.train.y[:n])
    fit_bps = n / (time.perf_counter() - start)
    start = time.perf_counter()
    est.predict_proba(ds.train.X[:n])
    rows.append({"family": "baseline (" + next(iter(BASELINES)) + ")", "train_beats_s": fit_bps,
                 "infer_beats_s": n / (time.perf_counter() - start)})
    table = pd.DataFrame(rows)
    ceiling = max(ceiling, ceiling_gflops())  # again at the end: the clock may have moved
    table["train_pct_ceiling"] = 100 * table["train_GFLOPs"] / ceiling
    table["infer_pct_ceiling"] = 100 * table["infer_GFLOPs"] / ceiling
    table["threads"] = args.threads
    table["ceiling_GFLOPs"] = ceiling
    over = table[(table[["train_pct_ceiling", "infer_pct_ceiling"]] > 100).any(axis=1)]
    for family in over["family"]:
        print(f"WARNING: {family} is above the measured ceiling; its FLOP count or the ceiling is wrong",
              file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4g")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3g}".format):
        print(table.to_string(index=False))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
