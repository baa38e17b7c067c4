"""Manual exploration: a few configurations trained by hand before any search, with their learning curves.

``notebooks/manual_exploration.ipynb`` runs :func:`explore` on the real data: a base gin file and
a plan of one-binding sweeps (the learning rate, width, depth, dropout, imbalance handling, and the
1D CNN against the 2D one). Each configuration is trained once, on the training side of the split,
and scored on its validation side only: exploration sets search ranges, so it never looks at the
test split (or at DS2).

Every finished run is appended to ``<out>/runs.csv`` (one row: sweep, value, bindings, validation
metrics, best epoch, seconds, parameters) and its epochs to ``<out>/history.csv``; a rerun takes
the runs already there and trains only what is missing, so re-executing the notebook is quick and
gives the same table. :func:`range_check` then says, for each swept binding that a search file
also searches, whether the values that did best by hand fall inside the searched range.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from heartbeat.errors import ConflictError

#: (sweep, binding, values): each value is one run, the base's other bindings unchanged
PLAN: list[tuple[str, str, list]] = [
    ("learning rate", "fit.learning_rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]),
    ("width", "CNN1D.channels", [8, 16, 32, 64]),
    ("depth", "CNN1D.depth", [2, 3, 4, 5]),
    ("dropout", "CNN1D.dropout", [0.0, 0.15, 0.3, 0.5]),
    ("imbalance", "fit.balance", ["none", "loss", "sampler", "sampler_sqrt"]),
    # another family is another gin file (its own defaults), not another fit.model on the CNN1D base
    ("1D against 2D", "config", ["gin/models/cnn1d.gin", "gin/models/cnn2d.gin"]),
]
FIGURES = ("f2_macro", "recall_macro", "precision_macro", "recall_S", "recall_V", "recall_F")


def _binding_text(binding: str, value) -> str:
    # heartbeat.config brings scipy, sklearn: only where this function runs
    from heartbeat.config import binding as gin_binding

    return f"config = {value}" if binding == "config" else gin_binding(binding, value)


def _shown(path: Path) -> str:
    """A path as the log says it: relative to the project (no machine's folders in a committed notebook)."""
    # heartbeat.data.sources brings scipy, sklearn: only where this function runs
    from heartbeat.data.sources import project_root

    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def run_key(sweep: str, binding: str, value) -> str:
    return f"{sweep}|{_binding_text(binding, value)}"


def explore(base: str | Path, data, out: str | Path = "results/exploration", plan=PLAN,
            bindings: list[str] | None = None, log=print) -> pd.DataFrame:
    """Train every (sweep, value) of ``plan`` not yet in ``out/runs.csv`` and return all the runs.

    ``data``: a Dataset (:func:`heartbeat.api.load_data`) or a source for one; ``bindings`` apply to
    every run (the shortened budget, e.g. ``fit.epochs = 6``). A folder whose ``base.json`` names
    another base or other common bindings is refused (ConflictError): its runs would not compare."""
    # heartbeat.api brings scipy, sklearn, torch: only where this function runs
    from heartbeat.api import Dataset, load_data, train

    # heartbeat.inference.modelio brings scipy, sklearn, torch: only where this function runs
    from heartbeat.inference.modelio import parameter_count

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    common = list(bindings or [])
    meta = {"base": _shown(Path(base)), "base_config": Path(base).read_text(), "bindings": common}
    meta_path = out / "base.json"
    if meta_path.exists() and json.loads(meta_path.read_text()) != meta and (out / "runs.csv").exists():
        raise ConflictError(f"{out} holds runs of another base or budget than {base} {common}: "
                            "give another folder, or move it away to start again")
    meta_path.write_text(json.dumps(meta, indent=1))
    runs_path, hist_path = out / "runs.csv", out / "history.csv"
    done = pd.read_csv(runs_path, dtype={"key": str}) if runs_path.exists() else pd.DataFrame(columns=["key"])
    have = set(done["key"])
    todo = [(s, b, v) for s, b, values in plan for v in values if run_key(s, b, v) not in have]
    log(f"exploration: {len(todo)} runs to train, {len(have)} already in {_shown(runs_path)}")
    if todo and not isinstance(data, Dataset):
        data = load_data(data)
    for i, (sweep, binding, value) in enumerate(todo, 1):
        config = value if binding == "config" else base  # a "config" sweep trains each gin file as it is
        binds = common if binding == "config" else [*common, _binding_text(binding, value)]
        model = train(config, binds, data=data)
        valid = model.info.valid
        row = {"key": run_key(sweep, binding, value), "sweep": sweep, "binding": binding,
               "value": json.dumps(value), **{f: valid.get(f, math.nan) for f in FIGURES},
               "best_epoch": model.info.best_epoch, "epochs": len(model.info.history),
               "seconds": model.info.seconds, "params": parameter_count(model.net)}
        pd.DataFrame([row]).to_csv(runs_path, mode="a", header=not runs_path.exists(), index=False,
                                   float_format="%.6g")
        hist = pd.DataFrame(model.info.history)
        keep = [c for c in ("epoch", "loss", "lr", "objective", "recall_macro", "f1_macro") if c in hist]
        hist = hist[keep].assign(key=row["key"])
        hist.to_csv(hist_path, mode="a", header=not hist_path.exists(), index=False, float_format="%.6g")
        log(f"  [{i}/{len(todo)}] {sweep}: {_binding_text(binding, value)}: valid F2 {row['f2_macro']:.3f}, macro recall "
            f"{row['recall_macro']:.3f} in {row['seconds']:.0f} s")
    return runs(out)


def runs(out: str | Path = "results/exploration") -> pd.DataFrame:
    """``out/runs.csv`` with each ``value`` back as a Python value (empty when there is none)."""
    path = Path(out) / "runs.csv"
    if not path.exists():
        return pd.DataFrame(columns=["key", "sweep", "binding", "value", *FIGURES])
    table = pd.read_csv(path, dtype={"value": str, "key": str})
    table["value"] = [json.loads(v) for v in table["value"]]
    return table


def history(out: str | Path = "results/exploration") -> pd.DataFrame:
    path = Path(out) / "history.csv"
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["key", "epoch", "objective"])


def range_check(table: pd.DataFrame, space: dict, metric: str = "f2_macro", within: float = 0.01) -> pd.DataFrame:
    """Per swept binding that ``space`` (a search file's ``search.space``) also searches: the hand-tried
    values within ``within`` of the sweep's best ``metric``, the searched range, and whether every such
    value lies inside it (a choice: among the choices; a number: between low and high)."""
    rows = []
    for binding, sweep in table.groupby("binding", sort=False):
        if binding not in space:
            continue
        kind, *args = space[binding]
        best = sweep[metric].max()
        good = [v for v, m in zip(sweep["value"], sweep[metric]) if m >= best - within]
        if kind == "choice":
            inside = [v in args[0] for v in good]
            where = "{" + ", ".join(map(str, args[0])) + "}"
        else:
            lo, hi = args[0], args[1]
            inside = [lo <= float(v) <= hi for v in good]
            where = f"{lo:g} – {hi:g}"
        rows.append({"binding": binding, "best by hand": sweep.loc[sweep[metric].idxmax(), "value"],
                     f"best {metric}": best, f"within {within:g}": good, "searched": where,
                     "inside": all(inside), "outside": [v for v, ok in zip(good, inside) if not ok]})
    return pd.DataFrame(rows)
