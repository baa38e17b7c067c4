"""Table 3, in the manner of "Attention Is All You Need": the base model, then one change per row.

Every row is trained the same way as the base (its gin file, the same data and split, the same
epochs), once per seed, and scored on its validation split (what selection may look at), on the
test split and, for a ``ds1ds2`` base, on DS2's unseen patients, which is the test split there.
A row differs from the base in exactly the bindings it names; :data:`VARIANTS` lists them, in
the groups the summary shows: imbalance handling, dropout, width, depth, kernel size,
augmentation, rhythm, the patient context (:mod:`heartbeat.data.context`), window, another family in place of the base's, and five copies of the base
pooled (:mod:`heartbeat.models.ensemble`).

``heartbeat ablate --folds K`` scores the same rows for selection instead: each row is trained K
times, once per patient-grouped fold of the training side (:func:`heartbeat.data.splits.grouped_folds`;
DS1 under ``ds1ds2``), and judged on the fold's unseen patients, pooled over the folds, so every
training patient is scored once. The test side (DS2) is not touched: these runs are no look.
``cv.csv`` holds each (row, fold); ``cv_table.csv`` the pooled figures beside the one-fold figures
and, where ``table.csv`` holds them, the test side's, and how well each ranks the rows as the test does.

``heartbeat ablate`` runs the missing (variant, seed) pairs, ``--jobs`` at a time with one
torch thread each, appending each finished run to ``runs.csv`` (a rerun skips what is there),
then writes ``table.csv``: mean and spread (half the range over seeds) of every figure.
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.errors import ConflictError
from heartbeat.evaluation.looks import config_text, log_look

#: (group, row label, bindings that differ from the base)
VARIANTS: list[tuple[str, str, list[str]]] = [
    ("base", "base", []),
    ("imbalance", "none", ["fit.balance = 'none'"]),
    ("imbalance", "loss weights (1/n)", ["fit.balance = 'loss'", "fit.class_weight_power = 1.0"]),
    ("imbalance", "sampler", ["fit.balance = 'sampler'"]),
    ("imbalance", "sqrt sampler", ["fit.balance = 'sampler_sqrt'"]),
    ("dropout", "conv dropout 0", ["CNN1D.dropout = 0.0"]),
    ("dropout", "conv dropout 0.3", ["CNN1D.dropout = 0.3"]),
    ("width", "channels x0.5", ["CNN1D.channels = 4"]),
    ("width", "channels x2", ["CNN1D.channels = 16"]),
    ("width", "channels x4", ["CNN1D.channels = 32"]),
    ("depth", "depth 2", ["CNN1D.depth = 2"]),
    ("depth", "depth 4", ["CNN1D.depth = 4"]),
    ("kernel", "kernel 3", ["CNN1D.kernel_size = 3"]),
    ("kernel", "kernel 7", ["CNN1D.kernel_size = 7"]),
    ("augmentation", "no augmentation", ["fit.augment = None"]),
    ("rhythm", "no rhythm", ["BeatInput.rhythm = False"]),
    ("context", "patient context", ["BeatInput.context = True"]),
    ("context", "underlying rhythm only", ["BeatInput.context = 'underlying'"]),
    ("context", "neighbours only", ["BeatInput.context = 'neighbours'"]),
    ("context", "template only", ["BeatInput.context = 'template'"]),
    ("window", "P-wave window", ["BeatInput.window = 'pwave'"]),
    ("family", "ResNet1D", ["fit.model = @ResNet1D"]),
    ("family", "GBT baseline", ["fit.model = @GBTBaseline"]),
    ("family", "LDA (de Chazal)", ["fit.model = @LDABaseline"]),
    ("family", "LDA + patient context", ["fit.model = @LDABaseline", "BeatInput.context = True"]),
    ("ensemble", "5-seed ensemble", ["Ensemble.members = 5"]),
]
FIGURES = ("valid_recall_macro", "valid_f2_macro", "test_macro_Se", "test_Se_S", "test_P_S", "test_Se_V",
           "test_P_V", "test_Se_F", "epochs", "seconds", "params")


def run_one(base: str, label: str, bindings: list[str], seed: int, data: str | None, split: str) -> dict:
    """Train one (variant, seed) on one torch thread and score it: one row of ``runs.csv``."""
    import torch  # torch: seconds to import, and this module is used without it

    torch.set_num_threads(1)
    # heartbeat.api brings scipy, sklearn, torch: only where this function runs
    from heartbeat.api import config_values, load_data, train

    # heartbeat.evaluation.protocol brings scipy, sklearn: only where this function runs
    from heartbeat.evaluation.protocol import se_p

    # heartbeat.inference.modelio brings scipy, sklearn, torch: only where this function runs
    from heartbeat.inference.modelio import parameter_count

    # heartbeat.metrics brings scipy, sklearn: only where this function runs
    from heartbeat.metrics import classification_metrics

    binds = [*bindings, f"fit.seed = {seed}"]
    inputs, _ = config_values(base, binds)
    ds = load_data(data, split=split, window=inputs.window, allow_synthetic=False)
    model = train(base, binds, data=ds)
    test = ds.test
    pred = model.predict(test)
    valid = model.info.valid
    row = {"variant": label, "seed": seed, "valid_recall_macro": valid["recall_macro"],
           "valid_f2_macro": valid["f2_macro"], "epochs": model.info.best_epoch,
           "seconds": model.info.seconds, "params": parameter_count(model.net)}
    row.update({f"test_{k}": v for k, v in se_p(test.y, pred, model.classes).items() if k[:2] in ("Se", "P_", "ma")})
    row["test_recall_macro"] = classification_metrics(test.y, pred, model.classes)["recall_macro"]
    return row


def claim_folder(out: Path, base: str) -> None:
    """Keep ``base``'s gin beside its rows in ``out`` (Table 3's first row is read from it,
    report.tables.table3_layout); refused where ``out`` holds runs of another base."""
    out.mkdir(parents=True, exist_ok=True)
    base_copy = out / "base.gin"
    runs = [p for p in (out / "runs.csv", out / "cv.csv") if p.exists()]
    if runs and base_copy.exists() and base_copy.read_text() != Path(base).read_text():
        raise ConflictError(f"{runs[0]} holds runs of another base than {base} (its base is {base_copy}): "
                            "give another --out, or move that folder away to start again")
    base_copy.write_text(Path(base).read_text())


def finished_runs(fn, calls: list[tuple], jobs: int, path: Path):
    """``fn(*call)`` for every call, ``jobs`` at a time in spawned processes; each row, as it finishes,
    is appended to the CSV ``path`` (so a rerun skips it; None: the caller writes it) and yielded with its count."""
    if not calls:
        return

    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(fn, *call) for call in calls]
        for n, fut in enumerate(as_completed(futures), 1):
            row = fut.result()
            if path is not None:
                pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False, float_format="%.5f")
            yield n, row


def run_fold(base: str, label: str, bindings: list[str], seed: int, data: str | None, split: str,
             fold: int, k: int) -> dict:
    """Train one (variant, fold) on one torch thread; count its calls on the fold's patients: one row of ``cv.csv``."""
    import torch  # torch: seconds to import, and this module is used without it

    torch.set_num_threads(1)
    # heartbeat.api brings scipy, sklearn, torch: only where this function runs
    from heartbeat.api import config_values, load_data, train
    from heartbeat.data import valid_split  # heartbeat.data brings scipy, sklearn: only where this function runs

    binds = [*bindings, f"fit.seed = {seed}"]
    inputs, _ = config_values(base, binds)
    ds = load_data(data, split=split, window=inputs.window, allow_synthetic=False)
    model = train(base, binds, data=ds, fold=(fold, k), seed=seed)
    _, valid = valid_split(ds, seed=seed, fold=(fold, k))
    pred = model.predict(valid)
    row = {"variant": label, "fold": fold, "folds": k, "seed": seed,
           "records": " ".join(sorted(set(valid.record))), "beats": len(valid),
           "epochs": model.info.best_epoch, "seconds": model.info.seconds}
    for c, name in enumerate(model.classes):
        truth, called = valid.y == c, pred == c
        row.update({f"n_{name}": int(truth.sum()), f"hit_{name}": int((truth & called).sum()),
                    f"called_{name}": int(called.sum())})
    row["fold_recall_macro"] = float(np.mean([row[f"hit_{c}"] / row[f"n_{c}"] for c in model.classes
                                              if row[f"n_{c}"]]))
    return row


def run_cv(base: str, out: str | Path = "results/table3", folds: int = 5, seed: int = 0, jobs: int = 2,
           data: str | None = None, split: str = "ds1ds2", only: list[str] | None = None,
           log=print) -> pd.DataFrame:
    """Every missing (variant, fold): append to ``out/cv.csv``; write and return ``out/cv_table.csv``."""
    out = Path(out)
    claim_folder(out, base)
    runs_path = out / "cv.csv"
    done = pd.read_csv(runs_path, dtype={"records": str}) if runs_path.exists() else \
        pd.DataFrame(columns=["variant", "fold", "folds", "seed"])
    have = {(v, int(f), int(k), int(s)) for v, f, k, s in zip(done["variant"], done["fold"], done["folds"], done["seed"])}
    todo = [(label, b, i) for _, label, b in VARIANTS for i in range(folds)
            if (label, i, folds, seed) not in have and (not only or label in only)]
    log(f"table 3, {folds} patient-grouped folds of the training side: {len(todo)} runs to do "
        f"({len(have)} done) of base {base}, {jobs} at a time; the test side is not used")
    calls = [(base, label, b, seed, data, split, i, folds) for label, b, i in todo]
    for n, row in finished_runs(run_fold, calls, jobs, runs_path):
        log(f"  [{n}/{len(todo)}] {row['variant']} fold {row['fold']} ({row['records']}): "
            f"macro recall {row['fold_recall_macro']:.3f}", flush=True)
    runs = pd.read_csv(runs_path, dtype={"records": str})
    runs = runs[(runs["folds"] == folds) & (runs["seed"] == seed)]
    one_fold = pd.read_csv(out / "table.csv") if (out / "table.csv").exists() else None
    table = cv_summary(runs, one_fold)
    table.to_csv(out / "cv_table.csv", index=False, float_format="%.4f")
    log(f"wrote {runs_path} and {out / 'cv_table.csv'}")
    return table


def pooled(runs: pd.DataFrame) -> dict:
    """Se and +P per class, and macro Se, of one variant's folds pooled: every patient's calls counted once."""
    classes = [c[2:] for c in runs.columns if c.startswith("n_")]
    row = {}
    for c in classes:
        n, hit, called = (runs[f"{p}_{c}"].sum() for p in ("n", "hit", "called"))
        row[f"Se_{c}"] = hit / n if n else float("nan")
        row[f"P_{c}"] = hit / called if called else float("nan")
    row["macro_Se"] = float(pd.Series([row[f"Se_{c}"] for c in classes]).mean())
    return row


def cv_summary(runs: pd.DataFrame, one_fold: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per variant with every fold done: the pooled figures (``cv_*``), the spread of the folds'
    macro recall, and beside them, from Table 3's ``table.csv``, the one-fold validation and test figures."""
    rows = []
    for group, label, _ in VARIANTS:
        r = runs[runs["variant"] == label]
        if r.empty or len(r) < int(r["folds"].iloc[0]):
            continue
        row = {"group": group, "variant": label, "folds": len(r),
               **{f"cv_{k}": v for k, v in pooled(r).items()},
               "cv_fold_sd": r["fold_recall_macro"].std(ddof=1)}
        if one_fold is not None and label in set(one_fold["variant"]):
            other = one_fold.set_index("variant").loc[label]
            row.update({"valid_recall_macro": other["valid_recall_macro"], "test_macro_Se": other["test_macro_Se"],
                        "test_macro_Se_spread": other["test_macro_Se_spread"]})
        rows.append(row)
    return pd.DataFrame(rows)


def rank_agreement(table: pd.DataFrame) -> dict:
    """Spearman's rank correlation, over the rows, of each selection figure with the test side's macro Se:
    how well selecting on it would have ranked the rows as new patients do. Empty without test figures."""
    if "test_macro_Se" not in table:
        return {}
    t = table.dropna(subset=["test_macro_Se"])
    return {name: float(t[col].corr(t["test_macro_Se"], method="spearman"))
            for name, col in (("one fold", "valid_recall_macro"), ("grouped folds", "cv_macro_Se")) if col in t}


def run_ablation(base: str, out: str | Path = "results/table3", seeds=(0, 1), jobs: int = 2,
                 data: str | None = None, split: str = "ds1ds2", only: list[str] | None = None,
                 log=print) -> pd.DataFrame:
    """Run every missing (variant, seed); append each to ``out/runs.csv``; write and return ``out/table.csv``."""
    out = Path(out)
    claim_folder(out, base)
    runs_path = out / "runs.csv"
    done = pd.read_csv(runs_path) if runs_path.exists() else pd.DataFrame(columns=["variant", "seed"])
    have = {(v, int(s)) for v, s in zip(done["variant"], done["seed"])}
    todo = [(g, label, b, s) for g, label, b in VARIANTS for s in seeds
            if (label, s) not in have and (not only or label in only)]
    log(f"table 3: {len(todo)} runs to do ({len(have)} done) of base {base}, {jobs} at a time")
    calls = [(base, label, b, s, data, split) for _, label, b, s in todo]
    for i, row in finished_runs(run_one, calls, jobs, runs_path):
        if split == "ds1ds2":  # its test side is DS2: a look, logged

            bindings = next(b for _, lab, b in VARIANTS if lab == row["variant"])
            log_look("heartbeat ablate", f"{out.name}: {row['variant']}", config_text(bindings, base),
                     {k[5:]: v for k, v in row.items() if k.startswith("test_")}, seed=int(row["seed"]))
        log(f"  [{i}/{len(todo)}] {row['variant']} seed {row['seed']}: valid macro recall "
            f"{row['valid_recall_macro']:.3f}, test macro Se {row['test_macro_Se']:.3f}", flush=True)
    table = summarise(pd.read_csv(runs_path))
    table.to_csv(out / "table.csv", index=False, float_format="%.4f")
    log(f"wrote {runs_path} and {out / 'table.csv'}")
    return table


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, in :data:`VARIANTS` order: mean and half-range over seeds of every figure."""
    rows = []
    for group, label, bindings in VARIANTS:
        r = runs[runs["variant"] == label]
        if r.empty:
            continue
        row = {"group": group, "variant": label, "change": "; ".join(bindings) or "(base)", "seeds": len(r)}
        for f in FIGURES:
            if f in r:
                row[f] = r[f].mean()
                row[f"{f}_spread"] = (r[f].max() - r[f].min()) / 2
        rows.append(row)
    return pd.DataFrame(rows)


def main_cli(args) -> int:
    seeds = [int(s) for s in args.seeds]
    if args.folds:
        if len(seeds) != 1:
            print("heartbeat ablate: --folds runs one seed per fold; give one --seeds value", file=sys.stderr)
            return 2
        table = run_cv(args.base, args.out, args.folds, seeds[0], args.jobs, args.data, args.split,
                       args.only or None, log=lambda *a, **k: print(*a, **{"file": sys.stdout, **k}))
        for name, rho in rank_agreement(table).items():
            print(f"rank agreement with the test side ({name}): Spearman {rho:+.2f}")
        return 0
    run_ablation(args.base, args.out, seeds, args.jobs, args.data, args.split, args.only or None,
                 log=lambda *a, **k: print(*a, **{"file": sys.stdout, **k}))
    return 0

