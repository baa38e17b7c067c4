"""ASHA + Optuna against random search without early stopping, on the same wall-clock budget.

    python bench/search_efficiency.py [--search gin/search/cnn1d.gin] [--minutes 10] [--data PATH]

Runs the search (heartbeat.search) twice on the real data (the validation split; the test split is never
used): (a) ``--scheduler asha --searcher optuna`` and (b) ``--scheduler none --searcher
random``, each with the same time budget and CPUs. From every trial's per-epoch results it
rebuilds the best validation objective reached by each moment of the run, and reports the
best objective of each strategy and the time it took to come within 1% of that best.
Writes results/bench/search_efficiency.csv. A benchmark: figures vary from run to run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = {"asha+optuna": {"scheduler": "asha", "searcher": "optuna"},
              "random, no early stopping": {"scheduler": "none", "searcher": "random"}}


def curve(exp: Path) -> pd.DataFrame:
    """(seconds since the search began, best objective so far) at every reported epoch."""
    rows = []
    for path in exp.glob("run_trial_*/result.json"):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            # timestamp: when the epoch was reported; time_total_s: the trial's time until then
            rows.append({"end": r["timestamp"], "trial_start": r["timestamp"] - r["time_total_s"],
                         "objective": r["objective"]})
    df = pd.DataFrame(rows).sort_values("end")
    df["seconds"] = df["end"] - df["trial_start"].min()
    df["best"] = df["objective"].cummax()
    return df


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--search", default="gin/search/cnn1d.gin")
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--max-epochs", type=int, default=20)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=str(ROOT / "results" / "bench" / "search_efficiency.csv"))
    args = p.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    import heartbeat as hb

    for label, options in STRATEGIES.items():
        name = f"bench-{'asha' if 'asha' in label else 'random'}-{stamp}"
        print(f"== {label}: {options}", flush=True)
        hb.search(args.search, name=name, time_budget=args.minutes, num_samples=200, max_epochs=args.max_epochs,
                  results=str(ROOT / "results" / "bench" / "runs"), models=str(ROOT / "results" / "bench" / "models"),
                  best_gin=str(ROOT / "results" / "bench" / "runs" / "gin"), no_register=True, data=args.data,
                  **options)
        df = curve(ROOT / "results" / "bench" / "runs" / name / "ray" / "tune")
        best = df["best"].iloc[-1]
        within = df.loc[df["best"] >= best * 0.99, "seconds"].iloc[0]
        trials = pd.read_csv(ROOT / "results" / "bench" / "runs" / name / "trials.csv")
        rows.append({"strategy": label, "budget_min": args.minutes, "trials": len(trials),
                     "epochs_total": int(trials["epochs"].sum()), "best_objective": best,
                     "minutes_to_within_1pct": within / 60})
    table = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    print(table.to_string(index=False))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
