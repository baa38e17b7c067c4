"""R-peak detectors on the shared MIT-BIH records: the project's (heartbeat.inference.detect), wfdb's XQRS,
sleepecg and neurokit2.

Each detector runs on lead MLII (the first lead where there is none) of every record; its peaks
are matched to the annotated beats as ``heartbeat ec57`` matches them (heartbeat.evaluation.ec57: 150 ms,
ventricular flutter episodes left out). Gross sensitivity and positive predictivity pool every
record's counts, over all the records, the non-paced ones, DS1 and DS2 (the project's detector
learnt its weights on DS1 only, so DS2 is its figure for new patients). Time is the detector's
call alone, on one thread. Writes results/bench/detectors.csv (a row per detector, all records: what
the README and the summary read), results/bench/detectors_by_set.csv (a row per detector and record
set) and results/bench/detectors_per_record.csv.

    python bench/detectors.py --data ../shared/data
    python bench/detectors.py --data ../shared/data --learn   # refit heartbeat.inference.detect's weights on DS1
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def detectors(which: list[str] | None = None):
    from heartbeat.inference.recording import detect_peaks

    def heartbeat(x, fs):  # what predict, ec57 and the service run: the detector, in chunks, then the fiducial rule
        return detect_peaks(x, fs)

    def sleepecg(x, fs):
        from sleepecg import detect_heartbeats
        return detect_heartbeats(x, fs)

    def neurokit2(x, fs):
        import neurokit2 as nk
        return nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=fs), sampling_rate=fs)[1]["ECG_R_Peaks"]

    def xqrs(x, fs):
        from wfdb.processing import xqrs_detect
        return xqrs_detect(x, fs, verbose=False)

    every = {"heartbeat": heartbeat, "sleepecg": sleepecg, "neurokit2": neurokit2, "xqrs": xqrs}
    return {k: v for k, v in every.items() if which is None or k in which}


def read(folder: Path, name: str):
    import wfdb

    from heartbeat.evaluation.ec57 import reference_beats

    rec = wfdb.rdrecord(str(folder / name))
    lead = rec.sig_name.index("MLII") if "MLII" in rec.sig_name else 0
    ref, _, episodes = reference_beats(folder, name)
    return rec.p_signal[:, lead], float(rec.fs), ref, episodes


def learn(folder: Path) -> None:
    """Refit heartbeat.inference.detect's logistic weights on the DS1 records present and print them."""
    from heartbeat.data.splits import DS1
    from heartbeat.data.wfdb_beats import list_records
    from heartbeat.evaluation.ec57 import outside
    from heartbeat.inference.detect import FEATURES
    from heartbeat.inference.detect import learn as fit

    names = [r for r in list_records(folder) if r in DS1]
    data = [read(folder, r) for r in names]
    w, b = fit([d[0] for d in data], [d[1] for d in data], [d[2][outside(d[2], d[3])] for d in data],
               [lambda pos, ep=d[3]: outside(pos, ep) for d in data])
    print(f"# learnt on {len(names)} DS1 records: {' '.join(names)}")
    print("WEIGHTS = (" + ", ".join(f"{v:.6g}" for v in w) + ")")
    print(f"BIAS = {b:.6g}")
    for name, v in zip(FEATURES, w):
        print(f"#   {name}: {v:+.4f}")


def summary(per: pd.DataFrame) -> pd.DataFrame:
    from heartbeat.data.splits import DS1, DS2, PACED

    sets = {"all": per.record.unique(), "non-paced": [r for r in per.record.unique() if r not in PACED],
            "DS1": DS1, "DS2": DS2}
    rows = []
    for set_name, records in sets.items():
        part = per[per.record.isin(records)]
        for det, g in part.groupby("detector", sort=False):
            tp, fn, fp = g.tp.sum(), g.fn.sum(), g.fp.sum()
            se_r, ppv_r = g.tp / (g.tp + g.fn), g.tp / (g.tp + g.fp)
            rows.append({"detector": det, "records_set": set_name, "records": len(g), "annotated": g.annotated.sum(),
                         "tp": tp, "fn": fn, "fp": fp, "Se": tp / (tp + fn), "P+": tp / (tp + fp),
                         "worst_record": g.record.iloc[int(np.argmin(np.minimum(se_r, ppv_r)))],
                         "worst_Se_or_P+": float(np.minimum(se_r, ppv_r).min()),
                         "median_offset_ms": float(g.median_offset_ms.median()), "seconds": g.seconds.sum(),
                         "record_seconds": g.record_seconds.sum(), "x_realtime": g.record_seconds.sum() / g.seconds.sum()})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    from heartbeat.data.wfdb_beats import list_records
    from heartbeat.evaluation.ec57 import match, outside

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="folder holding mitdb/ (default: ../shared/data)")
    p.add_argument("--out", default="results/bench", help="output folder (default: results/bench)")
    p.add_argument("--detectors", help="comma-separated subset of heartbeat,sleepecg,neurokit2,xqrs (default: all)")
    p.add_argument("--learn", action="store_true", help="refit heartbeat.inference.detect's weights on DS1 and print them")
    args = p.parse_args(argv)
    folder = Path(args.data) / "mitdb"
    if args.learn:
        learn(folder)
        return 0
    rows = []
    for name in list_records(folder):
        x, fs, ref, episodes = read(folder, name)
        ref = ref[outside(ref, episodes)]
        for det, fn in detectors(args.detectors.split(",") if args.detectors else None).items():
            t0 = time.perf_counter()
            peaks = np.asarray(fn(x, fs), dtype=np.int64)
            seconds = time.perf_counter() - t0
            found = peaks[outside(peaks, episodes)]
            ref_idx, det_idx = match(ref, found, fs)
            rows.append({"record": name, "detector": det, "annotated": len(ref), "detected": len(found),
                         "tp": len(ref_idx), "fn": len(ref) - len(ref_idx), "fp": len(found) - len(det_idx),
                         "seconds": seconds, "record_seconds": len(x) / fs,
                         "median_offset_ms": 1000 * float(np.median(np.abs(ref[ref_idx] - found[det_idx]))) / fs})
        print(f"{name}: " + "  ".join(f"{r['detector']} fn {r['fn']} fp {r['fp']}" for r in rows if r["record"] == name),
              flush=True)
    per = pd.DataFrame(rows)
    table = summary(per)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table[table.records_set == "all"].to_csv(out / "detectors.csv", index=False, float_format="%.5f")
    table.to_csv(out / "detectors_by_set.csv", index=False, float_format="%.5f")
    per.to_csv(out / "detectors_per_record.csv", index=False, float_format="%.5f")
    print(table.to_string(index=False))
    print("wrote", out / "detectors.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
