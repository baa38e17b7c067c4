"""Table 3, in the manner of "Attention Is All You Need": the base model, then one change per row.

Every row is trained the same way as the base (its gin file, the same data and split, the same
epochs), once per seed, and scored on its validation split (what selection may look at), on the
test split and, for a ``ds1ds2`` base, on DS2's unseen patients, which is the test split there.
A row differs from the base in exactly the bindings it names; :data:`VARIANTS` lists them, in
the groups the summary shows: imbalance handling, dropout, width, depth, kernel size,
augmentation, rhythm, the patient context (:mod:`heartbeat.data.context`), window, another family in place of the base's, and five copies of the base
pooled (:mod:`heartbeat.models.ensemble`).

``heartbeat ablate`` runs the missing (variant, seed) pairs, ``--jobs`` at a time with one
torch thread each, appending each finished run to ``runs.csv`` (a rerun skips what is there),
then writes ``table.csv``: mean and spread (half the range over seeds) of every figure.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from heartbeat.errors import ConflictError

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
    ("window", "P-wave window", ["BeatInput.window = 'pwave'"]),
    ("family", "ResNet1D", ["fit.model = @ResNet1D"]),
    ("family", "GBT baseline", ["fit.model = @GBTBaseline"]),
    ("ensemble", "5-seed ensemble", ["Ensemble.members = 5"]),
]
FIGURES = ("valid_recall_macro", "valid_f2_macro", "test_macro_Se", "test_Se_S", "test_P_S", "test_Se_V",
           "test_P_V", "test_Se_F", "epochs", "seconds", "params")


def run_one(base: str, label: str, bindings: list[str], seed: int, data: str | None, split: str) -> dict:
    """Train one (variant, seed) on one torch thread and score it: one row of ``runs.csv``."""
    import torch

    torch.set_num_threads(1)
    from heartbeat.api import config_values, load_data, train
    from heartbeat.metrics import classification_metrics
    from heartbeat.modelio import parameter_count
    from heartbeat.protocol import se_p

    binds = [*bindings, f"fit.seed = {seed}"]
    inputs, _ = config_values(base, binds)
    ds = load_data(data, split=split, window=inputs.window, allow_synthetic=False)
    model = train(base, binds, data=ds)
    test = ds.test
    pred = model.predict(test)
    valid = model.info["valid"]
    row = {"variant": label, "seed": seed, "valid_recall_macro": valid["recall_macro"],
           "valid_f2_macro": valid["f2_macro"], "epochs": model.info["best_epoch"],
           "seconds": model.info["seconds"], "params": parameter_count(model.net)}
    row.update({f"test_{k}": v for k, v in se_p(test.y, pred, model.classes).items() if k[:2] in ("Se", "P_", "ma")})
    row["test_recall_macro"] = classification_metrics(test.y, pred, model.classes)["recall_macro"]
    return row


def run_ablation(base: str, out: str | Path = "results/table3", seeds=(0, 1), jobs: int = 2,
                 data: str | None = None, split: str = "ds1ds2", only: list[str] | None = None,
                 log=print) -> pd.DataFrame:
    """Run every missing (variant, seed); append each to ``out/runs.csv``; write and return ``out/table.csv``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.csv"
    # the base's every binding, beside its rows: Table 3's first row is read from it (report.tables.table3_paper)
    base_copy = out / "base.gin"
    if runs_path.exists() and base_copy.exists() and base_copy.read_text() != Path(base).read_text():
        raise ConflictError(f"{runs_path} holds runs of another base than {base} (its base is {base_copy}): "
                            "give another --out, or move that folder away to start again")
    base_copy.write_text(Path(base).read_text())
    done = pd.read_csv(runs_path) if runs_path.exists() else pd.DataFrame(columns=["variant", "seed"])
    have = {(v, int(s)) for v, s in zip(done["variant"], done["seed"])}
    todo = [(g, label, b, s) for g, label, b in VARIANTS for s in seeds
            if (label, s) not in have and (not only or label in only)]
    log(f"table 3: {len(todo)} runs to do ({len(have)} done) of base {base}, {jobs} at a time")
    if todo:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(run_one, base, label, b, s, data, split): (label, s) for _, label, b, s in todo}
            for i, fut in enumerate(as_completed(futures), 1):
                row = fut.result()
                pd.DataFrame([row]).to_csv(runs_path, mode="a", header=not runs_path.exists(), index=False,
                                           float_format="%.5f")
                if split == "ds1ds2":  # its test side is DS2: a look, logged
                    from heartbeat.looks import config_text, log_look

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
    run_ablation(args.base, args.out, seeds, args.jobs, args.data, args.split, args.only or None,
                 log=lambda *a, **k: print(*a, **{"file": sys.stdout, **k}))
    return 0

