"""The raw path's speed: R peaks, beats and rhythm, classification, against wfdb's XQRS alone.

On the same signal in one run (the shared MIT-BIH records' MLII leads end to end, or ``--hours``
of it, repeated), on one thread: the project's detector (:func:`heartbeat.inference.recording.detect_peaks`,
10-minute chunks), XQRS on the same signal, the rate check, beats and rhythm
(:func:`heartbeat.data.wfdb_beats.beats_from_signal`) and the model. Prints each stage's
seconds per 24 hours of ECG and times real time, and the detector's ratio to XQRS; writes
results/bench/raw_speed.csv.

    python bench/raw_speed.py --data ../shared/data --model models/cnn1d-rhythm-all --hours 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def signal(folder: Path, hours: float) -> tuple[np.ndarray, float]:
    """MLII of the records of ``folder`` end to end (360 Hz), cut or repeated to ``hours``."""
    import wfdb

    from heartbeat.data.wfdb_beats import list_records

    parts, fs = [], 360.0
    for name in list_records(folder):
        rec = wfdb.rdrecord(str(folder / name))
        parts.append(rec.p_signal[:, rec.sig_name.index("MLII") if "MLII" in rec.sig_name else 0])
        fs = float(rec.fs)
        if sum(map(len, parts)) >= hours * 3600 * fs:
            break
    x = np.concatenate(parts)
    n = int(hours * 3600 * fs)
    return np.resize(x, n) if n > len(x) else x[:n], fs


def main(argv=None) -> int:
    import torch

    from heartbeat.data.wfdb_beats import beats_from_signal
    from heartbeat.inference.modelio import load_model
    from heartbeat.inference.recording import Recording, check_rate, classify, detect_peaks

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="folder holding mitdb/ (default: ../shared/data)")
    p.add_argument("--model", default="models/cnn1d-rhythm-all")
    p.add_argument("--runtime", default="torch", choices=["torch", "onnx"])
    p.add_argument("--hours", type=float, default=2.0, help="hours of ECG to time (default 2)")
    p.add_argument("--no-xqrs", action="store_true", help="skip XQRS (about 80 s per 24 h)")
    p.add_argument("--out", default="results/bench")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    x, fs = signal(Path(args.data) / "mitdb", args.hours)
    seconds = len(x) / fs
    rec = Recording(x, fs, "MLII", "mitdb-end-to-end")
    model = load_model(args.model, runtime=args.runtime)
    times = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - t0
        return out

    peaks = timed("detect", lambda: detect_peaks(x, fs))
    if not args.no_xqrs:
        from wfdb.processing import xqrs_detect
        timed("xqrs", lambda: xqrs_detect(x, fs, verbose=False))
    timed("check_rate", lambda: check_rate(rec, peaks))
    timed("beats_from_signal", lambda: beats_from_signal(x, fs, peaks, model.inputs.window))
    timed("classify (beats + model)", lambda: classify(model, rec, peaks))
    times["raw path (detect + check_rate + classify)"] = times["detect"] + times["check_rate"] + times[
        "classify (beats + model)"]
    rows = [{"stage": k, "seconds": v, "seconds_per_24h": v * 86400 / seconds, "x_realtime": seconds / v,
             "hours": seconds / 3600, "beats": len(peaks), "model": args.model, "runtime": args.runtime}
            for k, v in times.items()]
    table = pd.DataFrame(rows)
    if "xqrs" in times:
        print(f"detector {times['xqrs'] / times['detect']:.1f}x faster than XQRS on the same {seconds / 3600:.1f} h")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "raw_speed.csv", index=False, float_format="%.4f")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
