"""The README's results block, made from the results files: ``heartbeat readme`` (``make readme``).

The block between ``<!-- results:start -->`` and ``<!-- results:end -->`` in README.md is
replaced by tables built here from ``results/output.csv`` (valid), ``output_test.csv``,
``output_holdout.csv``, ``results/<search>/search.json``, ``results/shift/*.csv`` and
``models/*/metrics.json``; no figure in it is typed by hand. A file that is absent leaves
its columns or table out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.errors import DataError
from heartbeat.report import tables

START, END = "<!-- results:start -->", "<!-- results:end -->"
RECALLS = ("recall_S", "recall_V", "recall_F")


def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return str(v)
    return f"{v:.{digits}f}" if isinstance(v, (float, np.floating)) else str(v)


def markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(df.columns))) + "|"
    rows = ["| " + " | ".join(_f(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def searches(results: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(results.glob("*/search.json"))}


def family_table(results: Path, models: Path, found: dict[str, dict]) -> pd.DataFrame:
    """One row per model folder: its search budget (``found``: :func:`searches`), valid / test / unseen-patient figures."""
    infos = tables.model_infos(models)
    by_split = {s: tables.scores(results, s) for s in ("valid", "test", "holdout")}
    rows = []
    for tag, info in infos.items():
        s = found.get(info.get("experiment", tag), {})
        row = {"model": tag, "family": info.get("family", ""), "split": info.get("split", "")}
        row["trials"] = s.get("trials", "–")
        row["search min"] = f"{s['wall_seconds'] / 60:.1f}" if "wall_seconds" in s else "–"
        for split, label in (("valid", "valid"), ("test", "test")):
            t = by_split[split]
            r = t.loc[tag] if tag in t.index else {}
            row[f"{label} recall"] = r.get("recall_macro", float("nan"))
            row[f"{label} F1"] = r.get("f1_macro", float("nan"))
        t = by_split["test"]
        for c in RECALLS:
            row[f"test {c}"] = t.loc[tag].get(c, float("nan")) if tag in t.index else float("nan")
        h = by_split["holdout"]
        row["unseen-patient recall"] = h.loc[tag].get("recall_macro", float("nan")) if tag in h.index else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table) and table["test recall"].notna().any():
        table = table.sort_values("test recall", ascending=False)
    return table


def corruption_wide(c: pd.DataFrame, levels=("L2", "L4")) -> pd.DataFrame:
    """One row per model: clean macro recall, then each corruption at ``levels`` (with its strength)."""
    rows = []
    for model, group in c.groupby("model", sort=False):
        row = {"model": model, "clean": group["L0"].iloc[0]}
        for r in group.itertuples(index=False):
            r = r._asdict()
            for level in levels:
                row[f"{r['corruption']} {level} ({r[level + '_strength']:g})"] = r[level]
        rows.append(row)
    return pd.DataFrame(rows)


def block(results: str | Path = "results", models: str | Path = "models") -> str:
    results, models = Path(results), Path(models)
    found = searches(results)
    out = [START, "", "_Made by `make readme` from `results/` and `models/`; do not edit by hand._", ""]
    table = family_table(results, models, found)
    if len(table):
        budgets = sorted({f"{s.get('num_samples')} trials max, {s.get('max_epochs')} epochs max"
                          for s in found.values() if s.get("num_samples")})
        cpus = sorted({s.get("cpus") for s in found.values() if s.get("cpus")})
        minutes = sum(s.get("wall_seconds", 0) for s in found.values()) / 60
        out += [markdown(table), "",
                f"Macro recall and macro F1 on each model's validation split (`make run`), on the test split "
                f"(`make run-test`, the final evaluation) with the test recall of S, V and F, and on the patients "
                f"held out of training (`heartbeat score --on holdout`). Searches: {'; '.join(budgets) or '–'}, "
                f"{minutes:.0f} min of wall time in all on {', '.join(map(str, cpus)) or '–'} CPU cores, no GPU (`make search`).",
                ""]
    shift = tables.shift_tables(results)
    if "patients" in shift:
        p = shift["patients"]
        cols = ["model", "trained_on", "test_recall_macro", "holdout_recall_macro", "test_f1_macro",
                "holdout_f1_macro", *[c for c in ("holdout_recall_S", "holdout_recall_V") if c in p]]
        out += ["**Unseen patients** (`make shift`): the same models on five patients none of them trained on.", "",
                markdown(p[cols]), ""]
    if "corruption" in shift:
        out += ["**Corrupted test beats** (`make shift`): test macro recall, clean and at levels 2 and 4 of each "
                "corruption (strengths in `src/heartbeat/shift.py`; every level in `results/shift/corruption.csv`).",
                "", markdown(corruption_wide(shift["corruption"])), ""]
    if "ptb" in shift:
        out += ["**PTB, 2 classes** (`make ptb`): trained from scratch against fine-tuned from the MIT-BIH winner, "
                "on the held-out 20% of the PTB file.", "", markdown(shift["ptb"]), ""]
    out.append(END)
    return "\n".join(out)


def update(readme: str | Path = "README.md", results: str | Path = "results", models: str | Path = "models") -> Path:
    readme = Path(readme)
    text = readme.read_text()
    if START not in text or END not in text:
        raise DataError(f"{readme}: no '{START}' ... '{END}' block to fill")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + block(results, models) + tail)
    return readme
