"""Per-patient batch-norm statistics (AdaBN): the network's normalisation re-estimated on a new patient.

A network with batch norm normalises every layer with the mean and variance of its training
beats. A new patient's beats come from another electrode placement, another body and another
amplitude, so those statistics are the training patients', not theirs. AdaBN (Li et al., "Revisiting
batch normalization for practical domain adaptation", 2016) keeps every learned weight and
re-estimates only the running means and variances, on the new patient's own unlabelled beats: no
label of that patient is used.

:func:`adapt_batch_norm` returns such a copy of a network for one patient's beats. :data:`MODES`
names the variants weighed: which layers are re-estimated (the beat's convolutions, the rhythm
input's normalisation, or both), and on which beats (the whole record, which needs the recording
to have ended, or its first five minutes, after which the copy classifies beat by beat as it
comes). :func:`run_adapt_cv` scores them for selection only: on DS1's patient-grouped folds
(:func:`heartbeat.evaluation.ablation.run_fold`'s models, trained again), each fold's model on its
unseen patients, one record at a time, beside the same model unadapted. DS2 is not touched.

    heartbeat ablate --folds 5 --seeds 0 1 2 --adapt    (make adapt-cv) -> results/table3/adapt_cv.csv
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from heartbeat.data import valid_split
from heartbeat.evaluation.ablation import claim_folder, finished_runs, pooled
from heartbeat.training.fit import predict_proba

#: mode -> (layers re-estimated, seconds of the record they are estimated on; None: all of it)
MODES: dict[str, tuple[str, float | None]] = {
    "unadapted": ("none", None),
    "beat layers, whole record": ("backbone", None),
    "beat layers, first 5 min": ("backbone", 300.0),
    "rhythm input, whole record": ("rhythm", None),
    "every layer, whole record": ("all", None),
    "every layer, first 5 min": ("all", 300.0),
}
LAYERS = ("none", "backbone", "rhythm", "all")


def batch_norms(net, layers: str) -> list:
    """The BatchNorm1d modules of ``net`` that ``layers`` names: ``backbone`` (the beat's layers), ``rhythm``
    (RhythmFusion's normalisation of the RR input), ``all`` or ``none``."""
    if layers not in LAYERS:
        raise ValueError(f"layers must be one of {LAYERS}, got {layers!r}")
    found = []
    for name, module in net.named_modules():
        if isinstance(module, nn.BatchNorm1d):
            of_rhythm = "rhythm" in name.split(".")  # RhythmFusion.rhythm, in an ensemble's members too
            if layers == "all" or (layers == "rhythm" and of_rhythm) or (layers == "backbone" and not of_rhythm):
                found.append(module)
    return found


def adapt_batch_norm(net, X: np.ndarray, rhythm: np.ndarray | None, layers: str, batch_size: int = 512):
    """A copy of ``net`` whose chosen batch norms hold the mean and variance of one patient's beats
    ``X`` (n, 187) (with their ``rhythm`` (n, k) where the net takes it); ``net`` is left as it was.

    The statistics are the plain average over the beats (momentum None), every other layer in
    eval mode (no dropout), and no gradient: only the running statistics change."""
    out = copy.deepcopy(net)
    out.eval()
    norms = batch_norms(out, layers)
    if not norms or len(X) < 2:
        return out
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # the cumulative average of every batch seen
        bn.train()
    X = torch.as_tensor(np.asarray(X), dtype=torch.float32).unsqueeze(1)  # (n, 1, 187)
    R = None if rhythm is None else torch.as_tensor(np.asarray(rhythm), dtype=torch.float32)
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            end = min(start + batch_size, len(X))
            if end - start < 2:  # batch norm needs two beats; the last single beat is left out
                break
            out(X[start:end]) if R is None else out(X[start:end], R[start:end])
    out.eval()
    return out


def first_seconds(time: np.ndarray, seconds: float | None) -> np.ndarray:
    """Mask of the beats within ``seconds`` of the record's first beat (every beat for None)."""
    time = np.asarray(time, dtype=np.float64)
    if seconds is None or not len(time):
        return np.ones(len(time), dtype=bool)
    return time - time.min() <= seconds


def adapted_predictions(model, beats, modes: dict[str, tuple[str, float | None]] = MODES) -> dict[str, np.ndarray]:
    """Each mode's labels of ``beats`` (a BeatSet with ``record`` and ``time``), one record at a time,
    at ``model``'s operating point."""
    X, R = model.inputs.arrays(beats, f"model {model.tag}")
    out = {m: np.zeros(len(beats), dtype=np.int64) for m in modes}
    for record in np.unique(beats.record):
        idx = np.flatnonzero(beats.record == record)
        r = None if R is None else R[idx]
        for mode, (layers, seconds) in modes.items():
            keep = first_seconds(beats.time[idx], seconds)
            net = adapt_batch_norm(model.net, X[idx][keep], None if r is None else r[keep], layers)
            out[mode][idx] = model.decide(predict_proba(net, X[idx], rhythm=r))
    return out


def run_adapt_fold(base: str, seed: int, data: str | None, split: str, fold: int, k: int) -> list[dict]:
    """Train the base on one fold (as :func:`heartbeat.evaluation.ablation.run_fold` does) and count every
    mode's calls on the fold's unseen patients: one row of ``adapt_cv.csv`` per mode."""
    torch.set_num_threads(1)
    # heartbeat.api brings Ray Tune (its search): only where this function runs
    from heartbeat.api import config_values, load_data, train

    binds = [f"fit.seed = {seed}"]
    inputs, _ = config_values(base, binds)
    ds = load_data(data, split=split, window=inputs.window, allow_synthetic=False)
    model = train(base, binds, data=ds, fold=(fold, k), seed=seed)
    _, valid = valid_split(ds, seed=seed, fold=(fold, k))
    rows = []
    for mode, pred in adapted_predictions(model, valid).items():
        row = {"variant": mode, "fold": fold, "folds": k, "seed": seed,
               "records": " ".join(sorted(set(valid.record))), "beats": len(valid)}
        for c, name in enumerate(model.classes):
            truth, called = valid.y == c, pred == c
            row.update({f"n_{name}": int(truth.sum()), f"hit_{name}": int((truth & called).sum()),
                        f"called_{name}": int(called.sum())})
        rows.append(row)
    return rows


def adapt_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per mode, in :data:`MODES` order: Se and +P per class and macro Se pooled over the folds
    (each patient counted once), then the mean over the seeds with every fold done, the half-range of
    macro Se over them, and the change in macro Se from ``unadapted``, seed by seed, averaged."""
    per_seed = []
    for (mode, seed), r in runs.groupby(["variant", "seed"], sort=False):
        if len(r) == int(r["folds"].iloc[0]):
            per_seed.append({"variant": mode, "seed": int(seed), **pooled(r)})
    per_seed = pd.DataFrame(per_seed)
    if per_seed.empty:
        return per_seed
    base = per_seed[per_seed["variant"] == "unadapted"].set_index("seed")["macro_Se"]
    per_seed["change"] = per_seed["macro_Se"] - per_seed["seed"].map(base)
    rows = []
    for mode in MODES:
        r = per_seed[per_seed["variant"] == mode]
        if r.empty:
            continue
        figures = [c for c in r.columns if c not in ("variant", "seed", "change") and r[c].notna().any()]
        rows.append({"variant": mode, "seeds": len(r), "folds": int(runs["folds"].iloc[0]),
                     **{f"cv_{c}": r[c].mean() for c in figures},
                     "cv_macro_Se_spread": (r["macro_Se"].max() - r["macro_Se"].min()) / 2,
                     "cv_macro_Se_change": r["change"].mean()})
    return pd.DataFrame(rows)


def run_adapt_cv(base: str, out: str | Path = "results/table3", folds: int = 5, seeds=(0,), jobs: int = 2,
                 data: str | None = None, split: str = "ds1ds2", log=print) -> pd.DataFrame:
    """Every missing (seed, fold): append its modes' rows to ``out/adapt_cv.csv``; write and return
    ``out/adapt_cv_table.csv``."""
    out = Path(out)
    claim_folder(out, base)
    runs_path = out / "adapt_cv.csv"
    done = pd.read_csv(runs_path, dtype={"records": str}) if runs_path.exists() else \
        pd.DataFrame(columns=["fold", "folds", "seed"])
    have = {(int(f), int(k), int(s)) for f, k, s in zip(done["fold"], done["folds"], done["seed"])}
    todo = [(s, i) for s in seeds for i in range(folds) if (i, folds, s) not in have]
    log(f"per-patient batch norm, {folds} patient-grouped folds of the training side, seeds {list(seeds)}: "
        f"{len(todo)} trainings to do of base {base}, {jobs} at a time; the test side is not used")
    calls = [(base, s, data, split, i, folds) for s, i in todo]
    for n, rows in finished_runs(run_adapt_fold, calls, jobs, None):
        pd.DataFrame(rows).to_csv(runs_path, mode="a", header=not runs_path.exists(), index=False)
        log(f"  [{n}/{len(todo)}] seed {rows[0]['seed']} fold {rows[0]['fold']} ({rows[0]['records']}) done",
            flush=True)
    runs = pd.read_csv(runs_path, dtype={"records": str})
    table = adapt_summary(runs[(runs["folds"] == folds) & runs["seed"].isin(list(seeds))])
    table.to_csv(out / "adapt_cv_table.csv", index=False, float_format="%.4f")
    log(f"wrote {runs_path} and {out / 'adapt_cv_table.csv'}")
    return table


def main_cli(args) -> int:
    """``heartbeat ablate --folds K --adapt``: :func:`run_adapt_cv`, then its table."""
    if not args.folds:
        print("heartbeat ablate: --adapt scores on the patient-grouped folds; give --folds K too", file=sys.stderr)
        return 2
    table = run_adapt_cv(args.base, args.out, args.folds, [int(s) for s in args.seeds], args.jobs, args.data,
                         args.split, log=lambda *a, **k: print(*a, **{"file": sys.stdout, **k}))
    print(table.to_string(index=False, float_format="%.3f"))
    return 0
