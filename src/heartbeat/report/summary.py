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

from heartbeat.errors import NotFoundError, ReportError, run_entry
from heartbeat.report import figures, tables
from heartbeat.report.readme import family_table, searches

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
# Type is fixed (body 9 pt, tables 8 pt); what shrinks, level by level, until the summary is exactly two
# pages: table rows, figure heights, and the number of bullets.
FONT, TABLE_FONT = 9.0, 8.0
LEVELS = [  # fig: page 1's figures, fig2: page 2's; page 2 gives way first, so page 1 stays full
    {"fig": 1.0, "fig2": 1.0, "winners": 10, "bullets": 6, "records": 4},
    {"fig": 0.9, "fig2": 0.9, "winners": 8, "bullets": 5, "records": 3},
    {"fig": 0.8, "fig2": 0.8, "winners": 7, "bullets": 4, "records": 3},
    {"fig": 0.8, "fig2": 0.7, "winners": 7, "bullets": 3, "records": 3},
    {"fig": 0.8, "fig2": 0.6, "winners": 7, "bullets": 2, "records": 3},
    {"fig": 0.7, "fig2": 0.6, "winners": 6, "bullets": 2, "records": 2},
    {"fig": 0.6, "fig2": 0.5, "winners": 5, "bullets": 2, "records": 2},
    {"fig": 0.5, "fig2": 0.5, "winners": 4, "bullets": 1, "records": 1},
]
PUBLISHED_SHORT = {"de Chazal": "de Chazal 2004", "Zhang": "Zhang 2014", "Mondéjar": "Mondéjar-Guerra 2019",
                   "Wang": "Wang 2021 (CNN+RR)"}


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
    imps = {n: tables.search_importances(results, n, per[n], spaces[n]) for n in names}
    effects = {n: tables.param_effects(per[n], spaces[n]) for n in names}
    win = tables.winners(results, models)
    searched = win[win["source"] == "search"]
    best = searched.iloc[0]["experiment"] if len(searched) else None
    objective = tables.objective_of(tables.search_info(results, best)) if best else "f2_macro"
    return {
        "results": Path(results), "models": Path(models), "names": names, "trials": trials, "spaces": spaces,
        "importances": imps, "effects": effects, "winners": win, "overview": tables.search_overview(results),
        "best": best, "objective": objective, "shift": tables.shift_tables(results),
        "families": family_table(Path(results), Path(models), searches(Path(results))),
        "protocol": _csv(Path(results) / "ds1ds2" / "table.csv"),
        "per_record": _csv(Path(results) / "ds1ds2" / "per_record.csv"),
        "table3": _csv(Path(results) / "table3" / "table.csv"),
        "detectors": _csv(Path(results) / "bench" / "detectors.csv"),
        "endtoend": pd.DataFrame([json.loads(p.read_text()) for p in sorted((Path(results) / "endtoend").glob("*.json"))]),
    }


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


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


def pm(mean, spread) -> str:
    """``0.795 ± 0.024`` (mean and half the range over seeds); the mean alone for one seed."""
    if _na(mean):
        return ""
    return fmt(mean) + (f" ± {float(spread):.3f}" if not _na(spread) and spread > 0 else "")


def patients_text(g: dict, level: dict) -> list[str]:
    """Intra- against inter-patient: the gap, then what DS1 -> DS2 training with rhythm closes of it."""
    out = []
    fam = g["families"]
    if len(fam) and "unseen-patient recall" in fam and fam["unseen-patient recall"].notna().any():
        intra = fam[fam["split"] == "intra"].dropna(subset=["test recall"])
        if len(intra):
            top = intra.iloc[0]
            unseen = fam["unseen-patient recall"].dropna()
            out.append(f"The intra-patient winner, {top['model']}, reaches test macro recall {fmt(top['test recall'])} "
                       f"on beats of patients it also trained on; on patients held out of its training the "
                       f"intra-patient models reach {fmt(unseen.min())} to {fmt(unseen.max())}. A beat that starts at "
                       f"its R peak holds neither its P wave nor how early it came, which is what defines an S beat.")
    prot = g["protocol"]
    if len(prot):
        ours = prot[prot["source"].str.startswith("this")].sort_values("macro_Se", ascending=False)
        if len(ours):
            r = ours.iloc[0]
            out.append(f"Trained and selected on DS1 only (by record), with each beat's RR intervals and their "
                       f"ratios to the patient's own rhythm as a second input, {r['model']} reaches macro Se "
                       f"{fmt(r['macro_Se'])} on DS2's {int(r['records_DS2'])} unseen patients: S Se "
                       f"{fmt(r['Se_S'])} at +P {fmt(r['P_S'])}, V Se {fmt(r['Se_V'])} at +P {fmt(r['P_V'])}. "
                       f"Only {int(r['records_DS1'])} of DS1's 22 records are here (119, 201, 209 and 223, which hold "
                       f"most of its S beats, are held back); paced records and Q beats are left out as in the protocol.")
    per = g["per_record"]
    if len(per) and len(prot):
        best = prot[prot["source"].str.startswith("this")].sort_values("macro_Se").iloc[-1]["model"]
        mine = per[per["model"] == best]
        # a patient's worst class among those it has at least 10 beats of: 1 missed beat of 2 is no finding
        rows = []
        for r in mine.itertuples():
            have = [(getattr(r, f"Se_{c}"), c) for c in "NSVF" if getattr(r, f"n_{c}") >= 10]
            if have:
                se, c = min(have)
                rows.append({"record": r.record, "worst_class": c, "worst_Se": se, "n": int(getattr(r, f"n_{c}"))})
        worst = pd.DataFrame(rows).sort_values("worst_Se").head(level["records"]) if rows else pd.DataFrame()
        if len(worst):
            out.append("The DS2 patients it fails most (worst class with at least 10 beats): " + listing(
                [f"{r.record} ({r.worst_class} Se {fmt(r.worst_Se)} of {r.n} beats)" for r in worst.itertuples()])
                + "; every patient in results/ds1ds2/per_record.csv.")
    return out


def raw_text(g: dict) -> list[str]:
    """R-peak detection and classification from a raw recording."""
    out = []
    det = g["detectors"]
    if len(det):
        plain = det[~det["detector"].str.contains("refine")].set_index("detector")
        if "xqrs" in plain.index:
            x = plain.loc["xqrs"]
            others = [f"{d} {fmt(r['Se'], 4)}/{fmt(r['P+'], 4)}" for d, r in plain.iterrows() if d != "xqrs"]
            out.append(f"R peaks: wfdb's XQRS found the {int(x['annotated']):,} annotated beats of the "
                       f"{int(x['records'])} records with Se {fmt(x['Se'], 4)} and +P {fmt(x['P+'], 4)} "
                       f"(Se/+P of the others: {listing(others)}), {x['x_realtime']:,.0f} times faster than real "
                       f"time on one core.")
    e = g["endtoend"]
    if len(e):
        r = e.iloc[0]
        out.append(f"From raw DS2 recordings, {r['model']} loses {int(r['missed'])} and adds {int(r['extra'])} of "
                   f"{int(r['annotated']):,} beats (QRS Se {fmt(r['qrs_Se'], 4)}, +P {fmt(r['qrs_P'], 4)}); macro "
                   f"recall on the matched beats is {fmt(r['recall_macro_detected'])} against "
                   f"{fmt(r['recall_macro_annotated'])} at the annotated peaks.")
    return out


def _pm(row, col: str) -> str:
    """A Table 3 figure as mean ± spread."""
    return f"{row[col]:.3f} ± {row[f'{col}_spread']:.3f}"


def limitations_text(g: dict) -> list[str]:
    """What the figures above cannot say, each limit measured where the results allow."""
    out, ov = [], g["overview"]
    if len(ov) and ov["synthetic"].any():
        out.append("SYNTHETIC DATA in " + listing(list(ov.loc[ov["synthetic"], "experiment"]))
                   + ": no data was found when those searches ran, and their figures mean nothing.")
    t3 = g["table3"]
    if len(t3) and "test_macro_Se_spread" in t3:
        base = t3[t3["variant"] == "base"]
        if len(base):
            b = base.iloc[0]
            out.append(f"Seeds matter as much as many hyperparameters: the base's DS2 macro Se moves by ±"
                       f"{b['test_macro_Se_spread']:.3f} between its {int(b['seeds'])} seeds, and its valid recall by "
                       f"±{b['valid_recall_macro_spread']:.3f}. A single run, like the search's winner, is one draw.")
            ens = t3[t3["group"] == "ensemble"] if "group" in t3 else t3.iloc[:0]
            if len(ens):
                e = ens.iloc[0]
                tighter = e["test_macro_Se_spread"] < b["test_macro_Se_spread"]
                higher = e["test_macro_Se"] > b["test_macro_Se"]
                out.append(f"Pooling copies of the base ({e['variant']}, each member trained as alone) scored "
                           f"{_pm(e, 'test_macro_Se')} on DS2 (valid recall {_pm(e, 'valid_recall_macro')}) against "
                           f"the base's {_pm(b, 'test_macro_Se')} ({_pm(b, 'valid_recall_macro')}): it "
                           + ("narrows" if tighter else "does not narrow") + " the spread between seeds and "
                           + ("raises" if higher else "lowers") + " the mean.")
    prot = g["protocol"]
    if len(prot):
        out.append("Validation inside DS1 is by record, and DS1's records here hold few S and F beats outside "
                   "two or three patients: model selection on it is noisy, and S and F figures move in large steps.")
    if len(ov):
        n_ok = len(tables.scored(g["trials"]))
        out.append(f"Small searches on 2 CPU cores: {int(ov['trials'].min())}-{int(ov['trials'].max())} trials per "
                   f"search, {n_ok} scored in all; importances fitted on so few trials are rough.")
    e = g["endtoend"]
    if len(e):
        r = e.iloc[0]
        out.append(f"Detection costs {float(r['recall_macro_annotated'] - r['recall_macro_detected']):.3f} of macro "
                   f"recall: a missed or extra beat also changes its neighbours' RR intervals.")
    out.append("One database (MIT-BIH, 43 of its 48 records, two leads, 1970s Holter recordings): no external "
               "test set of another population or device.")
    return out


# ---------------------------------------------------------------- the tables as cells
def winners_cells(g: dict, level: dict) -> dict | None:
    fam = g["families"]
    if fam.empty:
        return None
    cols = [("model", "model"), ("family", "family"), ("split", "split"), ("trials", "trials"),
            ("valid recall", "recall"), ("test recall", "recall"), ("test F1", "F1"), ("test recall_S", "S"),
            ("test recall_V", "V"), ("test recall_F", "F"), ("unseen-patient recall", "recall")]
    cols = [(c, h) for c, h in cols if c in fam]
    rows = [[fmt(r[c]) if c not in ("trials",) else str(r[c]) for c, _ in cols] for _, r in fam.head(level["winners"]).iterrows()]
    groups = [["", 4], ["valid", 1], ["test (intra-patient)", 5], ["unseen", 1]]
    more = len(fam) - len(rows)
    note = ("Macro recall and F1; S, V, F: test recall of those classes; unseen: macro recall on five patients "
            "held out of training. Sorted by test recall.") + (f" {more} more model folders not shown." if more > 0 else "")
    return {"columns": [h for _, h in cols], "groups": groups if len(cols) == 11 else [], "rows": rows, "left": 3,
            "note": note}


def protocol_cells(g: dict) -> dict | None:
    t = g["protocol"]
    if t.empty:
        return None
    rows = []
    for _, r in t.iterrows():
        name = r["model"]
        for key, short in PUBLISHED_SHORT.items():
            if str(name).startswith(key):
                name = short
        rows.append([name, fmt(r["macro_Se"]), *[fmt(r[f"{k}_{c}"]) for c in "NSVF" for k in ("Se", "P")]])
    ours = int((t["source"].str.startswith("this")).sum())
    return {"columns": ["", "macro Se", *[h for c in "NSVF" for h in (f"Se {c}", f"+P {c}")]],
            "groups": [["", 2], ["N", 2], ["S", 2], ["V", 2], ["F", 2]], "rows": rows, "left": 1,
            "breaks": [ours] if ours < len(rows) else [],
            "note": "DS2 of de Chazal et al. (2004); below the rule, published results on the same protocol with all "
                    "22 DS1 records, as printed (blank: not reported). " + "; ".join(PUBLISHED_REFS) + "."}


def table3_cells(g: dict) -> dict | None:
    t = g["table3"]
    if t.empty:
        return None
    figs = [("valid_recall_macro", "recall"), ("test_macro_Se", "macro Se"), ("test_Se_S", "Se S"),
            ("test_P_S", "+P S"), ("test_Se_V", "Se V"), ("test_Se_F", "Se F")]
    rows, breaks, last = [], [], None
    for _, r in t.iterrows():
        first = r["group"] != last  # the group's name on its first row only
        if last is not None and first:
            breaks.append(len(rows))
        last = r["group"]
        rows.append([r["group"] if first and r["group"] != "base" else "", r["variant"],
                     *[pm(r.get(f), r.get(f + "_spread")) for f, _ in figs]])
    seeds = int(t["seeds"].max())
    return {"columns": ["", "row", *[h for _, h in figs]], "groups": [["", 2], ["valid (DS1)", 1],
                                                                      ["test: DS2, unseen patients", 5]],
            "rows": rows, "breaks": breaks, "left": 2,
            "note": f"Each row changes one thing from the base (the DS1 -> DS2 winner) and is trained the same way: "
                    f"same data and split, same epochs, {seeds} seeds; mean ± half the range over seeds "
                    f"(make ablate, results/table3/)."}


def document(g: dict, level: dict, figure_dir: Path) -> dict:
    """The JSON the template lays out, at one density level."""
    win, ov = g["winners"], g["overview"]
    task = win["task"].iloc[0] if len(win) else "mitbih"
    searched = win[win["source"] == "search"] if len(win) else win  # one bar group per search's winner
    figs = figures.summary_figures(g["trials"], searched, g["importances"], figure_dir, g["objective"], level["fig"])
    if len(g["protocol"]):
        figs["protocol"] = figures.save(figures.mpl_protocol(g["protocol"], size=(7.2, 2.1 * level["fig"])),
                                        figure_dir / "ds1ds2.png")
    if len(g["per_record"]) and len(g["protocol"]):
        best = g["protocol"][g["protocol"]["source"].str.startswith("this")].sort_values("macro_Se")["model"].iloc[-1]
        one = g["per_record"][g["per_record"]["model"] == best]
        figs["per_record"] = figures.save(figures.mpl_per_record(one, size=(7.2, 1.9 * level["fig2"])),
                                          figure_dir / "ds1ds2_per_record.png")
    records = sorted({r for d in ov.get("data", pd.Series(dtype=str)) for r in [str(d)] if r}) if len(ov) else []
    n_trials = len(g["trials"])
    subtitle = (f"{TASKS.get(task, task)}; {len(g['names'])} searches, {n_trials} trials, objective "
                f"{g['objective']}; 2-core CPU machine, no GPU."
                + (" Data: the MIT-BIH Arrhythmia records shared with the project." if any("mitdb" in r for r in records)
                   else ""))
    return {
        "title": "heartbeat: hyperparameter search for ECG heartbeat classification",
        "subtitle": subtitle,
        "synthetic": bool(len(ov) and ov["synthetic"].any()),
        "objective": objective_text(g),
        "winners": winners_cells(g, level),
        "patients": patients_text(g, level),
        "protocol": protocol_cells(g),
        "table3": table3_cells(g),
        "figures": {k: str(Path(v).resolve()) for k, v in figs.items()},
        "importances_width": min(1.0, 0.2 * min(max(len(g["names"]), 1), 5) + 0.1) * level["fig2"],
        "learned": learned_text(g, level),
        "raw": raw_text(g),
        "limitations": limitations_text(g)[:level["bullets"] + 1],
        "captions": captions(g),
        "footer": f"Built by make summary (python -m heartbeat.report.summary) from {rel(g['results'])}/ and "
                  f"{rel(g['models'])}/; every number is read from those files.",
        "style": {"font": FONT, "table": TABLE_FONT, "fig": level["fig"], "fig2": level["fig2"]},
    }


def captions(g: dict) -> dict:
    """What to see in each figure, said from the numbers it shows."""
    out = {"recall": "Bars: validation recall per class of each search's winner; black ticks: test recall.",
           "protocol": "", "per_record": "", "importances": "Optuna's fANOVA importance of each searched binding, per search."}
    per = tables.per_class(g["winners"], "test")
    if len(per):
        spread = per.groupby("class")["recall"].agg(["min", "max"])
        spread["range"] = spread["max"] - spread["min"]
        wide = spread.sort_values("range", ascending=False).head(2)
        out["recall"] += " The winners differ most on " + listing(
            [f"{c} ({fmt(r['min'])} to {fmt(r['max'])})" for c, r in wide.iterrows()]) + "."
    prot = g["protocol"]
    if len(prot):
        ours = prot[prot["source"].str.startswith("this")].sort_values("macro_Se").iloc[-1]
        pub = prot[~prot["source"].str.startswith("this")]
        parts = []
        for c in "SV":
            col = pub[f"Se_{c}"].dropna()
            if len(col):
                parts.append(f"{c} Se {fmt(ours[f'Se_{c}'])} against {fmt(col.min())} to {fmt(col.max())} published")
        out["protocol"] = (f"Se and +P per class on DS2; hatched bars are published systems. {ours['model']}: "
                           + "; ".join(parts) + ".")
    per = g["per_record"]
    if len(per) and len(prot):
        mine = per[per["model"] == ours["model"]]
        bad = {c: int((mine[f"n_{c}"] >= 10).sum()) for c in "SVF"}
        fail = {c: int(((mine[f"n_{c}"] >= 10) & (mine[f"Se_{c}"] < 0.5)).sum()) for c in "SVF"}
        out["per_record"] = ("Each cell is one class of one DS2 patient (number: its beats). Patients with at least 10 "
                             "beats of a class and Se below 0.5 on it: " + listing(
                                 [f"{fail[c]} of {bad[c]} for {c}" for c in "SVF"]) + ".")
    imps = {n: v for n, v in g["importances"].items() if len(v)}
    if imps:
        lead = pd.Series({n: v.index[0] for n, v in imps.items()}).value_counts()
        out["importances"] += (f" The most important binding is {lead.index[0]} in {int(lead.iloc[0])} of "
                               f"{len(imps)} searches.")
    return out


PUBLISHED_REFS = ("de Chazal, O'Dwyer, Reilly, IEEE TBME 51(7) 2004", "Zhang et al., Comput Biol Med 46 2014",
                  "Mondéjar-Guerra et al., BSPC 47 2019", "Wang et al., Entropy 23(1) 2021")


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
    raise ReportError(f"the summary does not fit {PAGES} pages at any density (pages: {pages})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m heartbeat.report.summary", description=__doc__.split("\n")[0])
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--models", default="models", help="models folder (default: models)")
    p.add_argument("--out", default="summary/summary.pdf", help="PDF to write (default: summary/summary.pdf)")
    p.add_argument("--template", default=str(TEMPLATE), help="typst template (default: summary/summary.typ)")
    p.add_argument("--figures", default=None, help="folder of the static figures (default: RESULTS/figures)")
    args = p.parse_args(argv)
    return run_entry(lambda: build(args.results, args.models, args.out, args.template, args.figures) and None)


if __name__ == "__main__":
    sys.exit(main())
