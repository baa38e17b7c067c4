"""R-peak detectors on the shared MIT-BIH records: wfdb's XQRS, neurokit2 and sleepecg.

Each detector runs on lead MLII (the first lead where there is none) of every record; its peaks
are matched to the annotated beats within 150 ms (wfdb.processing.compare_annotations). Gross
sensitivity and positive predictivity pool every record's counts. Time is the detector's call
alone, on one thread. Writes results/bench/detectors.csv (a row per detector) and
results/bench/detectors_per_record.csv.

    python bench/detectors.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def detectors():
    import neurokit2 as nk
    from sleepecg import detect_heartbeats
    from wfdb.processing import xqrs_detect

    return {
        "sleepecg": lambda x, fs: detect_heartbeats(x, fs),
        "neurokit2": lambda x, fs: nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=fs), sampling_rate=fs)[1]["ECG_R_Peaks"],
        "xqrs": lambda x, fs: xqrs_detect(x, fs, verbose=False),
    }


def main(argv=None) -> int:
    import wfdb
    from wfdb.processing import compare_annotations

    from heartbeat.data.wfdb_beats import AAMI, list_records
    from heartbeat.recording import TOLERANCE_S, refine_peaks

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="folder holding mitdb/ (default: ../shared/data)")
    p.add_argument("--out", default="results/bench", help="output folder (default: results/bench)")
    args = p.parse_args(argv)
    folder = Path(args.data) / "mitdb"
    rows = []
    for name in list_records(folder):
        rec = wfdb.rdrecord(str(folder / name))
        ann = wfdb.rdann(str(folder / name), "atr")
        lead = rec.sig_name.index("MLII") if "MLII" in rec.sig_name else 0
        x, fs = rec.p_signal[:, lead], rec.fs
        ref = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in AAMI])
        for det, fn in detectors().items():
            t0 = time.perf_counter()
            peaks = np.asarray(fn(x, fs), dtype=np.int64)
            seconds = time.perf_counter() - t0
            for variant, found in ((det, peaks), (f"{det}+refine", refine_peaks(x, fs, peaks))):
                cmp = compare_annotations(ref, found, int(round(TOLERANCE_S * fs)))
                offset = np.abs(ref[cmp.matching_sample_nums >= 0] - found[cmp.matching_sample_nums[
                    cmp.matching_sample_nums >= 0]]) / fs
                rows.append({"record": name, "detector": variant, "annotated": len(ref), "detected": len(found),
                             "tp": cmp.tp, "fn": cmp.fn, "fp": cmp.fp, "seconds": seconds,
                             "record_seconds": len(x) / fs, "median_offset_ms": 1000 * float(np.median(offset))})
        print(f"{name}: " + "  ".join(f"{r['detector']} tp {r['tp']} fn {r['fn']} fp {r['fp']}"
                                      for r in rows[-6:] if "refine" not in r["detector"]), flush=True)
    per = pd.DataFrame(rows)
    g = per.groupby("detector").agg(records=("record", "count"), annotated=("annotated", "sum"), tp=("tp", "sum"),
                                    fn=("fn", "sum"), fp=("fp", "sum"), seconds=("seconds", "sum"),
                                    record_seconds=("record_seconds", "sum"),
                                    median_offset_ms=("median_offset_ms", "median")).reset_index()
    g["Se"] = g.tp / (g.tp + g.fn)
    g["P+"] = g.tp / (g.tp + g.fp)
    g["x_realtime"] = g.record_seconds / g.seconds
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g.to_csv(out / "detectors.csv", index=False, float_format="%.5f")
    per.to_csv(out / "detectors_per_record.csv", index=False, float_format="%.5f")
    print(g.to_string(index=False))
    print("wrote", out / "detectors.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
