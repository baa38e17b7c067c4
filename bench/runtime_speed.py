"""Inference speed of a model folder under torch and onnxruntime, on one thread.

For each model: beats/s at batch 1024 (the best of 5 runs of 20,000 beats) and single-beat
latency (median of 300 calls), with torch eager and with onnxruntime on the folder's
model.onnx (written by `heartbeat export` if absent). Real beats where the data is found.
Writes results/bench/runtime.csv.

    python bench/runtime_speed.py --models models/cnn1d-long models/cnn1d-ds1ds2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def beats_per_second(predict, X, R, batch: int = 1024, total: int = 20000, repeats: int = 5) -> float:
    n = min(total, len(X))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            predict(X[i:i + batch], None if R is None else R[i:i + batch])
        best = min(best, time.perf_counter() - t0)
    return n / best


def latency_ms(predict, X, R, calls: int = 300) -> float:
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        predict(X[i:i + 1], None if R is None else R[i:i + 1])
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main(argv=None) -> int:
    import torch

    from heartbeat.data import load_dataset
    from heartbeat.inference.modelio import load_model
    from heartbeat.inference.runtime import FILENAME, export_onnx, onnx_session

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["models/cnn1d-long", "models/cnn1d-ds1ds2"])
    p.add_argument("--data", default=None, help="data source (default: $HEARTBEAT_DATA)")
    p.add_argument("--out", default="results/bench/runtime.csv")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for folder in map(Path, args.models):
        model = load_model(folder)
        if not (folder / FILENAME).exists():
            export_onnx(model)
        session = onnx_session(folder / FILENAME, threads=1)
        ds = load_dataset(args.data, split_how=model.info.get("split", "intra"), window=model.inputs.window)
        X, R = model.inputs.arrays(ds.test, model.tag)
        X = np.ascontiguousarray(X[:20000])
        R = None if R is None else np.ascontiguousarray(R[:20000])
        from heartbeat.inference.runtime import onnx_proba

        runs = {"torch": lambda x, r: model.predict_proba(x, batch_size=1024, rhythm=r),
                "onnx": lambda x, r: onnx_proba(session, x, r, batch_size=1024)}
        for runtime, predict in runs.items():
            rows.append({"model": model.tag, "runtime": runtime, "threads": 1,
                         "beats_per_s_batch1024": beats_per_second(predict, X, R),
                         "latency_ms_one_beat": latency_ms(predict, X, R), "synthetic": ds.synthetic})
            print(rows[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False, float_format="%.3f")
    print("wrote", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
