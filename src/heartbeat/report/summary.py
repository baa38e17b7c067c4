"""The two-page PDF summary: ``summary/summary.typ`` filled from the results files, compiled with typst.

```
python -m heartbeat.report.summary [--results results] [--models models] [--out summary/summary.pdf]
```

Every number and every sentence that states a result is made here from ``results/`` and
``models/`` (the tables of :mod:`heartbeat.report.tables`) and handed to the template as
one JSON document in ``sys.inputs.data``; the template only lays it out. The summary must be
exactly two pages whatever the number of searches: it is compiled at decreasing densities
(fewer table rows, smaller type and figures) until it is, and building fails otherwise.
Only committed files are read (no Ray folders, no MLflow store), so the PDF can be rebuilt
from a clone and stays current with the committed results. The build is deterministic: the
same files give the same bytes.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.errors import NotFoundError
from heartbeat.report import figures, tables

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "summary" / "summary.typ"
PAGES = 2
SHORT = {"f2_macro": "F2", "recall_macro": "recall", "precision_macro": "prec.", "f1_macro": "F1",
         "f1_micro": "F1 micro", "accuracy": "acc.", "abnormal_sensitivity": "abn. sens."}
TASKS = {"mitbih": "MIT-BIH arrhythmia, 5 AAMI classes (N S V F Q)", "ptb": "PTB myocardial infarction, 2 classes"}
OBJECTIVE_WHY = {
    "f2_macro": "F2 is the F-beta score with beta = 2: it weights recall four times as much as precision "
                "(beta squared), macro-averaged so that every class counts as much as the normal one.",
    "recall_macro": "Macro recall is the mean of the per-class recalls: every class counts as much as the "
                    "normal one, and only missed beats are penalised.",
    "f1_macro": "Macro F1 weights recall and precision equally, every class counting as much as the normal one.",
    "accuracy": "Accuracy counts beats, so the normal class dominates it.",
    "abnormal_sensitivity": "Abnormal sensitivity is the share of non-normal beats not called normal.",
}
# Densities tried in turn until the summary is exactly two pages.
LEVELS = [
    {"font": 8.0, "table": 6.6, "fig": 1.0, "winners": 10, "top": 4, "per_group": 2, "bullets": 6, "params": 8},
    {"font": 7.6, "table": 6.2, "fig": 0.9, "winners": 8, "top": 3, "per_group": 2, "bullets": 5, "params": 7},
    {"font": 7.2, "table": 5.8, "fig": 0.8, "winners": 6, "top": 3, "per_group": 1, "bullets": 4, "params": 6},
    {"font": 6.8, "table": 5.4, "fig": 0.7, "winners": 5, "top": 2, "per_group": 1, "bullets": 3, "params": 5},
    {"font": 6.4, "table": 5.0, "fig": 0.55, "winners": 4, "top": 1, "per_group": 1, "bullets": 2, "params": 4},
]


# ---------------------------------------------------------------- formatting
def _na(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v))


def fmt(v, digits: int = 3) -> str:
    """A metric cell: '' for NA, floats to ``digits`` decimals, anything else as text."""
    if _na(v):
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{digits}f}"
    return str(v).lstrip("@")


def count(v) -> str:
    """A count cell (trials, epochs): an integer, '' for NA."""
    return "" if _na(v) else str(int(v))


def param_cell(v) -> str:
    """A hyperparameter value: whole numbers as integers, other floats in two significant figures."""
    if _na(v):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.2g}"
    return str(v).lstrip("@")


def rel(path: str | Path) -> str:
    """A path as the reader would type it: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def listing(items: list[str], more: int = 0) -> str:
    items = [i for i in items if i]
    text = ", ".join(items[:-1]) + (" and " + items[-1] if len(items) > 1 else (items[0] if items else ""))
    return text + (f" (and {more} more)" if more else "")


# ---------------------------------------------------------------- what goes in
def gather(results: str | Path, models: str | Path, roots=(ROOT,)) -> dict:
    """Everything the summary shows, as tables (computed once; :func:`document` cuts them to size)."""
    names = tables.experiments(results)
    trials = tables.all_trials(results)
    spaces = {n: tables.search_space(tables.search_info(results, n), [Path(results).resolve().parent, *roots])
              for n in names}
    per = {n: trials[trials["experiment"] == n] for n in names}
    imps = {n: tables.importances(per[n], spaces[n]) for n in names}
    effects = {n: tables.param_effects(per[n], spaces[n]) for n in names}
    win = tables.winners(results, models)
    searched = win[win["source"] == "search"]
    best = searched.iloc[0]["experiment"] if len(searched) else None
    objective = tables.objective_of(tables.search_info(results, best)) if best else "f2_macro"
    return {
        "results": Path(results), "models": Path(models), "names": names, "trials": trials, "spaces": spaces,
        "importances": imps, "effects": effects, "winners": win, "overview": tables.search_overview(results),
        "best": best, "objective": objective, "shift": tables.shift_tables(results),
        "variations": {},  # by (top, per_group), filled lazily
    }


def variations_for(g: dict, top: int, per_group: int) -> pd.DataFrame:
    key = (top, per_group)
    if key not in g["variations"]:
        best = g["best"]
        g["variations"][key] = (tables.variations(g["results"], g["models"], best, top=top, per_group=per_group,
                                                  importance=g["importances"][best], space=g["spaces"][best])
                                if best else pd.DataFrame())
    return g["variations"][key]


# ---------------------------------------------------------------- the sentences
def objective_text(g: dict) -> list[str]:
    obj = g["objective"]
    names = g["names"]
    out = [f"Every search maximised {obj} on a validation split carved from the training data; the test split "
           f"was seen only by the final evaluation of the model folders. " + OBJECTIVE_WHY.get(obj, "")
           + " In screening a missed sick beat costs more than a false alarm, which is why recall is put "
             "before precision."]
    # What choosing by F1 instead would have changed, in the searches' own trials.
    swaps = []
    for name in names:
        ok = tables.scored(g["trials"][g["trials"]["experiment"] == name])
        if len(ok) < 2 or not {"best_f1_macro", "best_recall_macro"} <= set(ok) or ok["best_f1_macro"].isna().all():
            continue
        by_obj, by_f1 = ok.loc[ok["objective"].idxmax()], ok.loc[ok["best_f1_macro"].idxmax()]
        swaps.append((name, by_obj, by_f1))
    differ = [(n, a, b) for n, a, b in swaps if a["trial_id"] != b["trial_id"]]
    if swaps and obj != "f1_macro":
        if differ:
            gaps = [a["best_recall_macro"] - b["best_recall_macro"] for _, a, b in differ]
            out.append(f"Had the searches ranked trials by macro F1 (at each trial's best epoch), {len(differ)} of "
                       f"{len(swaps)} would have picked "
                       f"another winner ({listing([n for n, _, _ in differ])}); the {obj} winners' macro recall "
                       f"is {np.mean(gaps):+.3f} against those on average.")
        else:
            out.append(f"In each of the {len(swaps)} searches the trial best by macro F1 (at its best epoch) is also "
                       f"best by {obj}: on these trials the choice of objective did not change the winner.")
    return out


def learned_text(g: dict, level: dict) -> list[str]:
    out = []
    ov = g["overview"]
    if len(ov):
        ranked = ov.sort_values("best_objective", ascending=False)
        out.append("Best valid objective per search: " + listing(
            [f"{r.experiment} {fmt(r.best_objective)}" for r in ranked.itertuples() if pd.notna(r.best_objective)])
            + ".")
    small = 0.05
    for name in g["names"]:
        imp, eff = g["importances"][name], g["effects"][name].set_index("param")
        n_ok = len(tables.scored(g["trials"][g["trials"]["experiment"] == name]))
        if imp.empty:
            out.append(f"{name}: {n_ok} scored trials, too few for importances.")
            continue
        top = [f"{p} ({v:.2f})" for p, v in imp.head(2).items()]
        little = [p for p, v in imp.items() if v < small]
        text = f"{name} ({n_ok} scored trials): mattered most {listing(top)}"
        lead = imp.index[0]
        if lead in eff.index:
            e = eff.loc[lead]
            if e["kind"] == "choice":
                text += (f"; {lead} = {e['best_value']} averaged {fmt(e['best_mean'])} against "
                         f"{fmt(e['worst_mean'])} for {e['worst_value']}")
            elif pd.notna(e["rho"]):
                text += f"; rank correlation of {lead} with the objective {e['rho']:+.2f}"
        text += (f"; mattered little (importance below {small}): {listing(little[:4], max(len(little) - 4, 0))}."
                 if little else f"; none below {small}: {listing([f'{p} ({v:.2f})' for p, v in imp.tail(1).items()])}"
                                " mattered least.")
        out.append(text)
    shared = pd.DataFrame({n: s for n, s in g["importances"].items() if len(s)})
    if shared.shape[1] > 1:
        common = shared.dropna()
        if len(common):
            mean = common.mean(axis=1).sort_values(ascending=False)
            out.append(f"Bindings searched by all {shared.shape[1]} families, mean importance: "
                       + listing([f"{p} {v:.2f}" for p, v in mean.items()]) + ".")
    t = g["trials"]
    if len(t):
        stopped, done = t[t["status"] == tables.STOPPED], t[t["status"] == tables.COMPLETED]
        if len(stopped):
            out.append(f"ASHA stopped {len(stopped)} of {len(t)} trials early, after {stopped['epochs'].mean():.1f} "
                       f"epochs on average against {done['epochs'].mean():.1f} for the {len(done)} completed ones."
                       if len(done) else f"ASHA stopped {len(stopped)} of {len(t)} trials early.")
    return out[:2 + level["bullets"]]


def shift_text(g: dict) -> tuple[list[str], list[dict]]:
    win = g["winners"]
    splits = sorted({s for s in win.get("split", pd.Series(dtype=str)).dropna() if s})
    out, cuts = [], []
    if {"intra", "inter"} <= set(splits):
        for split in ("intra", "inter"):
            sub = win[win["split"] == split]
            col = f"valid_{g['objective']}"
            if col in sub and sub[col].notna().any():
                r = sub.loc[sub[col].astype(float).idxmax()]
                out.append(f"Best {split}-patient model: {r['experiment'] or r['tag']}, valid {g['objective']} "
                           f"{fmt(r[col])}.")
    elif splits == ["intra"]:
        out.append("Every model folder was fitted on an intra-patient split (by beat): beats of one patient fall on "
                   "both sides of the validation split, which flatters the scores above.")
    elif splits:
        out.append(f"Every model folder was fitted on an {splits[0]}-patient split.")
    if g["shift"]:
        for name, table in g["shift"].items():
            cols = list(table.columns[:8])
            cuts.append({"title": f"results/shift/{name}.csv" + (f" (first 6 of {len(table)} rows)"
                                                                  if len(table) > 6 else ""),
                         "columns": cols, "rows": [[fmt(v) for v in row] for row in table[cols].head(6).values],
                         "left": 1 + sum(not pd.api.types.is_numeric_dtype(table[c]) for c in cols[1:])})
    else:
        out.append("No inter-patient or corruption figures yet (results/shift/ is empty or absent).")
    return out, cuts


def limitations_text(g: dict) -> list[str]:
    out, t, win, ov = [], g["trials"], g["winners"], g["overview"]
    if len(ov):
        if ov["synthetic"].any():
            out.append("SYNTHETIC DATA in " + listing(list(ov.loc[ov["synthetic"], "experiment"]))
                       + ": no data was found when those searches ran, and their figures mean nothing.")
        n_ok = len(tables.scored(t))
        span = (f"{ov['trials'].min()}" if ov["trials"].min() == ov["trials"].max()
                else f"{ov['trials'].min()}-{ov['trials'].max()}")
        out.append(f"Small searches: {span} trials per search, {n_ok} scored "
                   f"in all; importances fitted on so few trials are rough, and a different seed of the "
                   f"searcher could rank close hyperparameters the other way.")
        if ov["stopped_early"].sum():
            out.append("A trial stopped by ASHA is scored at its last rung, below what it would reach in full: "
                       "variation rows with fewer epochs understate their setting.")
        if ov["failed"].sum():
            errors = t.loc[t["status"] == tables.FAILED, "error"].fillna("").astype(str)
            common = errors[errors != ""].value_counts()
            out.append(f"{int(ov['failed'].sum())} trials failed"
                       + (f" (most often: {common.index[0][:80]})" if len(common) else "") + ".")
    seeds = sorted({int(s) for s in win.get("seed", pd.Series(dtype=float)).dropna()})
    if seeds:
        out.append(f"One fit per configuration (seed {listing([str(s) for s in seeds])}) and one validation split: "
                   "no spread across seeds or folds is reported.")
    if not any(c.startswith("test_") for c in win.columns):
        out.append("No test-split scores yet (results/output_test.csv absent): the final evaluation has not run.")
    else:
        tested = win[[any(pd.notna(r.get(c)) for c in win.columns if c.startswith("test_"))
                      for _, r in win.iterrows()]]
        out.append(f"Test scores exist for {len(tested)} of {len(win)} models; search trials other than the "
                   f"winners were never scored on the test split.")
    recall_cols = [c for c in win.columns if c.startswith("valid_recall_") and c != "valid_recall_macro"]
    searched = win[win["source"] == "search"]
    if len(searched) and recall_cols:
        r = searched.iloc[0]
        per = {c.removeprefix("valid_recall_"): r[c] for c in recall_cols if pd.notna(r[c])}
        if per:
            weakest = min(per, key=per.get)
            out.append(f"The best model's weakest class is {weakest} (valid recall {fmt(per[weakest])}); "
                       f"rare classes have few validation beats, so their recall moves in large steps.")
    return out


# ---------------------------------------------------------------- the tables as cells
def winners_cells(g: dict, level: dict) -> dict:
    win = g["winners"]
    obj = g["objective"]
    metrics = list(dict.fromkeys([obj, "recall_macro", "precision_macro", "f1_macro", "abnormal_sensitivity"]))
    tests = [m for m in (obj, "recall_macro") if f"test_{m}" in win]
    classes = list(tables.class_names(win))
    cols = ["search", "model", "family", "split", "trials"]
    header = cols + [SHORT.get(m, m) for m in metrics] + [SHORT.get(m, m) for m in tests] + classes
    groups = [["", len(cols)], ["valid", len(metrics)]] + ([["test", len(tests)]] if tests else []) \
        + ([["valid recall per class", len(classes)]] if classes else [])
    rows = []
    for _, r in win.head(level["winners"]).iterrows():
        rows.append([r["experiment"] or "-", r["tag"] or "-", fmt(r["family"]), fmt(r["split"]),
                     count(r["trials"]) if r["trials"] else "-"]
                    + [fmt(r.get(f"valid_{m}")) for m in metrics] + [fmt(r.get(f"test_{m}")) for m in tests]
                    + [fmt(r.get(f"valid_recall_{c}")) for c in classes])
    more = len(win) - len(rows)
    note = ("Search rows are sorted by valid " + obj + "; other model folders follow. Valid metrics of the best epoch "
            "on each model's own validation split; test metrics from results/output_test.csv.")
    if more > 0:
        note += f" {more} more model rows not shown."
    return {"columns": header, "groups": groups, "rows": rows, "left": 4, "note": note}


def variations_cells(g: dict, level: dict) -> dict | None:
    table = variations_for(g, level["top"], level["per_group"])
    if table.empty:
        return None
    obj = g["objective"]
    params = [c for c in table.columns if "." in c]
    shown = params[:level["params"]]
    metric_cols = ["epochs", f"valid_{obj}", "valid_recall_macro", "valid_f1_macro", f"test_{obj}",
                   "test_recall_macro"]
    tests = [c for c in metric_cols[4:] if table[c].notna().any()]
    metric_cols = metric_cols[:4] + tests
    names = [figures.short(p) for p in shown]
    names = [n if names.count(n) == 1 else p for n, p in zip(names, shown)]
    header = ["", *names, "epochs", *[SHORT.get(c.split("_", 1)[1], c) for c in metric_cols[1:]], "source"]
    groups = [["", 1], ["hyperparameters (blank: as in base)", len(shown)], ["", 1], ["valid", 3]] \
        + ([["test", len(tests)]] if tests else []) + [["", 1]]
    rows, breaks = [], []
    for i, r in table.iterrows():
        if i > 0 and r["group"] != table.loc[i - 1, "group"]:
            breaks.append(len(rows))
        rows.append([r["group"], *[param_cell(r[p]) for p in shown], count(r["epochs"]),
                     *[fmt(r[c]) for c in metric_cols[1:]], r["source"].replace("trial ", "")])
    imp = g["importances"][g["best"]]
    varied = [v for v in dict.fromkeys(table["varied"]) if v and "," not in v]
    note = (f"Base: the winner of the {g['best']} search. "
            + (f"Groups (A), (B), ... vary the hyperparameters of largest importance in turn: "
               + listing([f"{v} ({imp[v]:.2f})" if v in imp.index else v for v in varied]) + ". " if varied else "")
            + "Each row is the scored trial closest to the base in the other hyperparameters; a blank cell holds the "
              "base's value. Valid metrics at the trial's best epoch; test only for model folders.")
    if len(params) > len(shown):
        note += f" {len(params) - len(shown)} less important hyperparameters not shown."
    return {"title": f"Variations on the {g['best']} winner", "columns": header, "groups": groups, "rows": rows,
            "breaks": breaks, "left": 1, "note": note}


def document(g: dict, level: dict, figure_dir: Path) -> dict:
    """The JSON the template lays out, at one density level."""
    win, ov = g["winners"], g["overview"]
    task = win["task"].iloc[0] if len(win) else "mitbih"
    data = sorted({d for d in ov.get("data", pd.Series(dtype=str)) if d}) if len(ov) else []
    figs = figures.summary_figures(g["trials"], win, g["importances"], figure_dir, g["objective"], level["fig"])
    shift, shift_tables = shift_text(g)
    n_trials = len(g["trials"])
    subtitle = (f"{TASKS.get(task, task)}. {len(g['names'])} searches ({listing(g['names'])}), {n_trials} trials, "
                f"objective {g['objective']}." + (f" Data: {listing([d[-70:] for d in data])}." if data else ""))
    return {
        "title": "heartbeat: hyperparameter search for ECG heartbeat classification",
        "subtitle": subtitle,
        "synthetic": bool(len(ov) and ov["synthetic"].any()),
        "objective": objective_text(g),
        "winners": winners_cells(g, level),
        "variations": variations_cells(g, level),
        "figures": {k: str(Path(v).resolve()) for k, v in figs.items()},
        # the importances image holds a panel per search (five to a row): its width follows their number
        "importances_width": min(1.0, 0.2 * min(max(len(g["names"]), 1), 5) + 0.1) * max(level["fig"], 0.8),
        "learned": learned_text(g, level),
        "shift": shift,
        "shift_tables": shift_tables,
        "limitations": limitations_text(g)[:level["bullets"] + 1],
        "footer": f"Built by python -m heartbeat.report.summary from {rel(g['results'])}/ and {rel(g['models'])}/; "
                  f"figures in {rel(figure_dir)}/.",
        "style": {k: level[k] for k in ("font", "table", "fig")},
    }


# ---------------------------------------------------------------- build
def page_count(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def compile_pdf(doc: dict, template: Path) -> bytes:
    import typst

    paths = [template.resolve().parent, *(Path(p).parent for p in doc["figures"].values())]
    root = Path(os.path.commonpath([str(p) for p in paths]))
    # typst reads an absolute path as relative to its root: hand it "/<path below root>"
    doc = {**doc, "figures": {k: "/" + Path(v).resolve().relative_to(root).as_posix() for k, v in doc["figures"].items()}}
    return typst.compile(str(template.resolve()), root=str(root), ignore_system_fonts=True,
                         sys_inputs={"data": json.dumps(doc, allow_nan=False, default=str)})


def build(results: str | Path = "results", models: str | Path = "models", out: str | Path = "summary/summary.pdf",
          template: str | Path = TEMPLATE, figure_dir: str | Path | None = None, log=print) -> Path:
    """Write the two-page summary PDF (and its figures); raise if no density fits two pages."""
    results, models, out, template = Path(results), Path(models), Path(out), Path(template)
    if not tables.experiments(results):
        raise NotFoundError(f"no search results in {results} (results/<search>/trials.csv): run make search")
    figure_dir = Path(figure_dir) if figure_dir else results / "figures"
    g = gather(results, models)
    pages = []
    for level in LEVELS:
        pdf = compile_pdf(document(g, level, figure_dir), template)
        pages.append(page_count(pdf))
        if pages[-1] == PAGES:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(pdf)
            log(f"wrote {out} ({PAGES} pages, density {LEVELS.index(level) + 1} of {len(LEVELS)}) "
                f"and its figures in {figure_dir}")
            return out
    raise RuntimeError(f"the summary does not fit {PAGES} pages at any density (pages: {pages})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m heartbeat.report.summary", description=__doc__.split("\n")[0])
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--models", default="models", help="models folder (default: models)")
    p.add_argument("--out", default="summary/summary.pdf", help="PDF to write (default: summary/summary.pdf)")
    p.add_argument("--template", default=str(TEMPLATE), help="typst template (default: summary/summary.typ)")
    p.add_argument("--figures", default=None, help="folder of the static figures (default: RESULTS/figures)")
    args = p.parse_args(argv)
    try:
        build(args.results, args.models, args.out, args.template, args.figures)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
