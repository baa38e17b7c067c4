"""The two-page PDF summary: ``summary/summary.typ`` filled from the results files, compiled with typst.

```
python -m heartbeat.report.summary [--results results] [--models models] [--out summary/summary.pdf]
python -m heartbeat.report.summary --compile summary/summary.json   # the PDF again from the written text
```

Two steps. The text: every number and every sentence that states a result is made here from ``results/`` and
``models/`` (the tables of :mod:`heartbeat.report.tables`) and handed to the template as
one JSON document, written beside the PDF as ``summary/summary.json`` (figure paths relative to it), so
a diff shows what a rebuild changed in the words. The compile: typst lays that document out with
``summary/summary.typ`` (:func:`compile_text` compiles a written one alone). The summary must be
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

from heartbeat.data.sources import project_root, shown_path
from heartbeat.errors import NotFoundError, ReportError, run_entry
from heartbeat.report import figures, tables
from heartbeat.report.explore import runs as explore_runs
from heartbeat.report.readme import family_table
from heartbeat.report.results import Results

ROOT = project_root()
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
    {"fig": 1.0, "fig2": 1.0, "winners": 10, "bullets": 6, "records": 4, "tuned": 3, "learned": 3},
    {"fig": 0.9, "fig2": 0.9, "winners": 8, "bullets": 5, "records": 3, "tuned": 3, "learned": 3},
    {"fig": 0.8, "fig2": 0.8, "winners": 7, "bullets": 4, "records": 3, "tuned": 3, "learned": 2},
    {"fig": 0.8, "fig2": 0.7, "winners": 7, "bullets": 3, "records": 3, "tuned": 2, "learned": 2},
    {"fig": 0.8, "fig2": 0.6, "winners": 7, "bullets": 2, "records": 3, "tuned": 2, "learned": 2},
    {"fig": 0.7, "fig2": 0.6, "winners": 6, "bullets": 2, "records": 2, "tuned": 2, "learned": 1},
    {"fig": 0.6, "fig2": 0.5, "winners": 5, "bullets": 2, "records": 2, "tuned": 1, "learned": 1},
    {"fig": 0.5, "fig2": 0.5, "winners": 4, "bullets": 1, "records": 1, "tuned": 1, "learned": 1},
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


def listing(items: list[str], more: int = 0) -> str:
    items = [i for i in items if i]
    text = ", ".join(items[:-1]) + (" and " + items[-1] if len(items) > 1 else (items[0] if items else ""))
    return text + (f" (and {more} more)" if more else "")


# ---------------------------------------------------------------- what goes in
def gather(results: str | Path, models: str | Path, roots=(ROOT,)) -> dict:
    """Everything the summary shows, as tables: read once (:class:`Results`), computed once
    (:func:`document` cuts them to size)."""
    r = Results.load(results, models, [Path(results).resolve().parent, *roots])
    names = r.names
    trials = r.trials
    spaces = {n: tables.search_space(r.search_info(n), r.roots) for n in names}
    per = {n: s.trials for n, s in r.searches.items()}
    imps = {n: tables.search_importances(r, n, per[n], spaces[n]) for n in names}
    effects = {n: tables.param_effects(per[n], spaces[n]) for n in names}
    win = tables.winners(r)
    searched = win[win["source"] == "search"]
    best = searched.iloc[0]["experiment"] if len(searched) else None
    objective = r.searches[best].objective if best in r.searches else "f2_macro"
    return {
        "results": Path(results), "models": Path(models), "names": names, "trials": trials, "spaces": spaces,
        "importances": imps, "effects": effects, "winners": win, "overview": tables.search_overview(r),
        "best": best, "objective": objective, "shift": tables.shift_tables(r),
        "families": family_table(r),
        "protocol": r.csv("ds1ds2/table.csv"),
        "tradeoff": r.csv("ds1ds2/tradeoff.csv"),
        "per_record": r.csv("ds1ds2/per_record.csv"),
        "table3": r.csv("table3/table.csv"),
        "table3_layout": tables.read_table3(r),
        "grouped_folds": tables.grouped_folds_sentence(r),
        "adapt": tables.adapt_sentence(r),
        "context_search": tables.context_search_sentence(r),
        "context_loss": tables.context_loss_sentence(r),
        "seeds": tables.seeds_headline(r),
        "tuned": tables.tuned_hyperparameters(r),
        "exploration": explore_runs(Path(results) / "exploration"),
        "raw_speed": r.csv("bench/raw_speed.csv"),
        "detectors": r.csv("bench/detectors.csv"),
        "endtoend": r.jsons("endtoend"),
        "endtoend_ds1": r.jsons("endtoend/ds1"),
    }


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
                       + (f"All {int(r['records_DS1'])} DS1 records took part" if int(r["records_DS1"]) >= 22 else
                          f"Only {int(r['records_DS1'])} of DS1's 22 records took part")
                       + "; paced records and Q beats are left out as in the protocol.")
    if len(g["seeds"]):  # the headline: 3 fit seeds, end to end from detected peaks, against the targets
        out.append(tables.seeds_sentence(g["seeds"]))
    if g["context_search"]:  # the new-patient finding of the DS1 context search, beside the protocol it tests
        out.append(g["context_search"])
    if g["context_loss"]:  # ... and the patient where it loses its S beats, and why
        out.append(g["context_loss"])
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
    """R-peak detection, the raw path's speed, and classification from a raw recording."""
    out = []
    det = g["detectors"]
    if len(det):
        plain = det[~det["detector"].str.contains("refine")]
        if "records_set" in plain:
            plain = plain[plain["records_set"] == "all"]
        plain = plain.set_index("detector")
        lead = "heartbeat" if "heartbeat" in plain.index else plain["Se"].idxmax()
        x = plain.loc[lead]
        others = [f"{d} {fmt(r['Se'], 4)}/{fmt(r['P+'], 4)}" for d, r in plain.iterrows() if d != lead]
        out.append(f"R peaks: the project's detector ({lead}) found the {int(x['annotated']):,} annotated beats of "
                   f"the {int(x['records'])} records with Se {fmt(x['Se'], 4)} and +P {fmt(x['P+'], 4)} (Se/+P of "
                   f"the others: {listing(others)}), {x['x_realtime']:,.0f} times faster than real time on one core"
                   f" (python bench/detectors.py).")
    speed = g["raw_speed"]
    if len(speed) and speed["stage"].str.startswith("raw path").any():
        r = speed[speed["stage"].str.startswith("raw path")].iloc[0]
        out.append(f"The whole raw path (detect, check the rate, cut and classify the beats) runs "
                   f"{r['x_realtime']:,.0f} times faster than real time: {r['seconds_per_24h']:.1f} s for 24 h of "
                   f"ECG on one core (python bench/raw_speed.py).")
    e = g["endtoend"]
    if len(e):
        r = e.iloc[0]
        out.append(f"From raw DS2 recordings, {r['model']} loses {int(r['missed'])} and adds {int(r['extra'])} of "
                   f"{int(r['annotated']):,} beats (QRS Se {fmt(r['qrs_Se'], 4)}, +P {fmt(r['qrs_P'], 4)}); macro "
                   f"recall on the matched beats is {fmt(r['recall_macro_detected'])} against "
                   f"{fmt(r['recall_macro_annotated'])} at the annotated peaks" + ds1_endtoend(g, r["model"]) + ".")
    return out


def ds1_endtoend(g: dict, model: str) -> str:
    """The same comparison on DS1's records (make endtoend), where there is one for ``model``."""
    d = g.get("endtoend_ds1", pd.DataFrame())
    d = d[d["model"] == model] if len(d) else d
    if not len(d):
        return ""
    d = d.iloc[0]
    return (f"; on DS1's {int(d['records'])} records, {fmt(d['recall_macro_detected'])} against "
            f"{fmt(d['recall_macro_annotated'])}")


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
            others = t3[t3["variant"] != "base"]
            within = int((abs(others["test_macro_Se"] - b["test_macro_Se"]) < 2 * b["test_macro_Se_spread"]).sum())
            out.append(f"Seeds: the base's DS2 macro Se moves by ±{b['test_macro_Se_spread']:.3f} between its "
                       f"{int(b['seeds'])} seeds and its valid recall by ±{b['valid_recall_macro_spread']:.3f}; "
                       f"{within} of Table 3's {len(others)} other rows {'differs' if within == 1 else 'differ'} from the base by less than the range "
                       f"between its seeds. A single run, like a search's winner, is one draw.")
            ranked = t3.dropna(subset=["valid_recall_macro", "test_macro_Se"])
            if len(ranked) >= 4:
                rho = ranked["valid_recall_macro"].rank().corr(ranked["test_macro_Se"].rank())
                top = ranked.loc[ranked["valid_recall_macro"].idxmax()]
                best = ranked.loc[ranked["test_macro_Se"].idxmax()]
                out.append(f"DS1 validation does not rank the rows as DS2 does: over Table 3's {len(ranked)} rows "
                           f"the rank correlation of valid recall and DS2 macro Se is {rho:+.2f}. The row best on "
                           f"validation ({top['variant']}, {fmt(top['valid_recall_macro'])}) scores "
                           f"{fmt(top['test_macro_Se'])} on DS2; the best on DS2 ({best['variant']}, "
                           f"{fmt(best['test_macro_Se'])}) has valid recall {fmt(best['valid_recall_macro'])}. "
                           f"Selection sees only DS1, so it cannot pick the second.")
                if g["grouped_folds"]:
                    out.append(g["grouped_folds"])
            if g["adapt"]:  # per-patient batch norm, weighed on the same folds
                out.append(g["adapt"])
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
        out.append("Validation inside DS1 is by record, so each of its figures rests on a handful of patients: "
                   "model selection on it is noisy, and S and F figures move in large steps.")
    if len(ov):
        n_ok = len(tables.scored(g["trials"]))
        out.append(f"Small searches ({machine_text(ov)}): {int(ov['trials'].min())}-{int(ov['trials'].max())} trials per "
                   f"search, {n_ok} scored in all; importances fitted on so few trials are rough.")
    e = g["endtoend"]
    if len(e):
        r = e.iloc[0]
        cost = float(r["recall_macro_annotated"] - r["recall_macro_detected"])
        out.append(f"Detection costs {cost:.3f} of macro recall on DS2: a missed or extra beat also changes its "
                   f"neighbours' RR intervals." if cost > 0 else
                   f"Detection costs nothing measurable on DS2 (macro recall {-cost:.3f} higher at detected peaks), "
                   f"but a missed or extra beat still changes its neighbours' RR intervals.")
    det = g["detectors"]
    n_records = int(det["records"].max()) if len(det) and "records" in det else None
    out.append("One database (MIT-BIH" + (f", {n_records} of its 48 records" if n_records else "")
               + ", two leads, 1970s Holter recordings): no external test set of another population or device.")
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


def _mean_spread(m: float, s: float) -> dict | str:
    """A (mean, spread) Table 3 figure as the template draws it: the mean, then ± spread in small type."""
    if math.isnan(m):
        return ""
    return {"m": f"{m:.3f}", "s": "" if math.isnan(s) or s == 0 else f"±{s:.3f}"}


GROUP_SHORT = {"augmentation": "augment"}


def table3_cells(g: dict) -> dict | None:
    """Table 3 in the paper's form (:func:`heartbeat.report.tables.table3_layout`)."""
    layout = g.get("table3_layout")
    if not layout:
        return None
    rows, breaks, last = [], [], None
    for r in layout["rows"]:
        first = r["group"] != last
        if last is not None and first:
            breaks.append(len(rows))
        last = r["group"]
        cells = list(r["cells"])
        if r["same_as_base"] and cells:
            cells[0] = "(= base)"
        rows.append([GROUP_SHORT.get(r["group"], r["group"]) if first else "", *cells,
                     *[_mean_spread(m, s) for m, s in r["figures"]],
                     tables._params_text(r["params"]), "" if math.isnan(r["seconds"]) else f"{r['seconds']:.0f}"])
    n_hp, seeds = len(layout["headers"]), max((r["seeds"] for r in layout["rows"]), default=0)
    return {"columns": ["", *layout["headers"], *layout["figures"], "params", "s"],
            "groups": [["", 1], ["bindings (blank: as the base)", n_hp], ["DS1", 1], ["DS2: unseen patients", 5],
                       ["", 2]],
            "rows": rows, "breaks": breaks, "left": 1, "font": 6.6, "center": [1, 1 + n_hp],
            "note": f"The base is the DS1 -> DS2 winner; every row is trained the same way (same data, split and "
                    f"epochs), {seeds} seeds, mean ± half the range over seeds (make ablate, results/table3/). "
                    f"Columns: {layout['legend']}. DS1: macro recall on DS1's validation records; params: weights "
                    f"of the network; s: seconds to train on one core."}


def tuned_cells(g: dict, level: dict) -> dict | None:
    """The tuned hyperparameters: each search's most important bindings, in two tables side by side."""
    t = g.get("tuned")
    if t is None or t.empty:
        return None
    top = level.get("tuned", 3)
    shown = t.groupby("search", sort=False).head(top)
    rows, breaks, last = [], [], None
    for r in shown.itertuples():
        first = r.search != last
        if last is not None and first:
            breaks.append(len(rows))
        last = r.search
        rows.append([f"{r.search} ({r.trials})" if first else "", r.binding, r.space, r.chosen,
                     "" if math.isnan(r.importance) else f"{r.importance:.2f}"])
    # split between searches, near the middle
    starts = [0, *breaks]
    cut = min(starts, key=lambda i: abs(i - len(rows) / 2)) if len(starts) > 1 else len(rows)
    halves = [(rows[:cut], [b for b in breaks if b < cut]), (rows[cut:], [b - cut for b in breaks if b > cut])]
    columns = ["search (trials)", "binding", "searched", "chosen", "imp."]
    n_searches, n_bindings = t["search"].nunique(), len(t)
    return {"tables": [{"columns": columns, "rows": r, "breaks": b, "left": 4, "font": 6.6} for r, b in halves if r],
            "note": f"For each of the {n_searches} searches whose winner is a committed model: its {top} most "
                    f"important bindings by Optuna's fANOVA importance (imp., summing to 1 over a search's "
                    f"bindings), the range or choices searched and the winner's value. All {n_bindings} searched "
                    f"bindings: notebooks/analysis.ipynb."}


def families_text(g: dict) -> list[str]:
    """1D against 2D: the searches' winners and, where it was run, the hand-trained pair of the exploration."""
    out = []
    win = g["winners"]
    if len(win):
        s = win[win["source"] == "search"].set_index("experiment")
        if {"cnn1d", "cnn2d"} <= set(s.index):
            a, b = s.loc["cnn1d"], s.loc["cnn2d"]
            gap = a.get("valid_recall_macro", math.nan) - b.get("valid_recall_macro", math.nan)
            ov = g["overview"].set_index("experiment") if len(g["overview"]) else pd.DataFrame()
            minutes = {n: ov.loc[n, "wall_minutes"] if n in ov.index else math.nan for n in ("cnn1d", "cnn2d")}
            budget = (f"{int(a['trials'])} trials in {minutes['cnn1d']:.0f} min against {int(b['trials'])} in "
                      f"{minutes['cnn2d']:.0f} min" if not any(map(math.isnan, minutes.values())) else
                      f"{int(a['trials'])} and {int(b['trials'])} trials")
            text = (f"1D against 2D: searched ({budget}), the 1D CNN "
                    f"reaches valid macro recall {fmt(a.get('valid_recall_macro'))} and test "
                    f"{fmt(a.get('test_recall_macro'))}, the 2D CNN (the beat folded into an image) "
                    f"{fmt(b.get('valid_recall_macro'))} and {fmt(b.get('test_recall_macro'))}")
            e = g.get("exploration")
            if e is not None and len(e) and (e["binding"] == "config").any():
                pair = e[e["binding"] == "config"].assign(stem=lambda t: [Path(v).stem for v in t["value"]])
                pair = pair.set_index("stem")
                if {"cnn1d", "cnn2d"} <= set(pair.index):
                    x, y = pair.loc["cnn1d"], pair.loc["cnn2d"]
                    text += (f"; trained by hand on one budget (notebooks/manual_exploration.ipynb), valid F2 "
                             f"{fmt(x['f2_macro'])} with {tables._params_text(x['params'])} weights against "
                             f"{fmt(y['f2_macro'])} with {tables._params_text(y['params'])}")
            if math.isnan(gap):
                out.append(text + ".")
            else:
                out.append(text + (f": the 1D CNN is ahead by {gap:.3f} of valid recall, which is why the later "
                                   f"work (the DS1 -> DS2 search, Table 3) builds on it." if gap > 0 else
                                   f": the 2D CNN is level or ahead, by {-gap:.3f} of valid recall."))
    e = g.get("exploration")
    if e is not None and len(e):
        sweeps = [sw for sw in dict.fromkeys(e["sweep"]) if sw != "1D against 2D"]
        out.append(f"Before any search, {len(e)} configurations were trained by hand ({listing(sweeps)}), with their "
                   f"learning curves, in notebooks/manual_exploration.ipynb; it checks each searched range against "
                   f"what those runs found.")
    return out


def machine_text(overview: pd.DataFrame) -> str:
    """Where the searches ran, as their search.json files say (cores; GPUs where they recorded them)."""
    if not len(overview) or "cpus" not in overview or overview["cpus"].isna().all():
        return "machine not recorded"
    cpus = sorted({int(c) for c in overview["cpus"].dropna()})
    cores = "/".join(map(str, cpus)) + "-core CPU machine"
    gpus = overview["gpus"].dropna() if "gpus" in overview else pd.Series(dtype=float)
    if len(gpus) and gpus.max() > 0:
        return f"{cores} with {int(gpus.max())} GPU"
    return cores + (", no GPU" if len(gpus) else "")


def document(g: dict, level: dict, figure_dir: Path) -> dict:
    """The JSON the template lays out, at one density level."""
    win, ov = g["winners"], g["overview"]
    task = win["task"].iloc[0] if len(win) else "mitbih"
    searched = win[win["source"] == "search"] if len(win) else win  # one bar group per search's winner
    figs = figures.summary_figures(g["trials"], searched, g["importances"], figure_dir, g["objective"], level["fig"])
    if len(g["protocol"]):
        figs["protocol"] = figures.save(figures.mpl_protocol(g["protocol"], size=(7.2, 2.1 * level["fig"])),
                                        figure_dir / "ds1ds2.png")
    if len(g["tradeoff"]):
        figs["tradeoff"] = figures.save(figures.mpl_tradeoff(g["tradeoff"], size=(7.2, 1.55 * level["fig"])),
                                        figure_dir / "ds1ds2_tradeoff.png")
    if len(g["per_record"]) and len(g["protocol"]):
        best = g["protocol"][g["protocol"]["source"].str.startswith("this")].sort_values("macro_Se")["model"].iloc[-1]
        one = g["per_record"][g["per_record"]["model"] == best]
        figs["per_record"] = figures.save(figures.mpl_per_record(one, size=(7.2, 1.9 * level["fig2"])),
                                          figure_dir / "ds1ds2_per_record.png")
    records = sorted({r for d in ov.get("data", pd.Series(dtype=str)) for r in [str(d)] if r}) if len(ov) else []
    n_trials = len(g["trials"])
    subtitle = (f"{TASKS.get(task, task)}; {len(g['names'])} searches, {n_trials} trials, objective "
                f"{g['objective']}; {machine_text(ov)}."
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
        "tuned": tuned_cells(g, level),
        "families": families_text(g),
        "figures": {k: str(Path(v).resolve()) for k, v in figs.items()},
        "importances_width": min(1.0, 0.2 * min(max(len(g["names"]), 1), 5) + 0.1) * level["fig2"],
        "learned": learned_text(g, level)[:level.get("learned", 3)],
        "raw": raw_text(g),
        "limitations": limitations_text(g)[:level["bullets"] + 1],
        "captions": captions(g),
        "footer": f"Built by make summary (python -m heartbeat.report.summary) from {shown_path(g['results'])}/ and "
                  f"{shown_path(g['models'])}/; every number is read from those files.",
        "style": {"font": FONT, "table": TABLE_FONT, "fig": level["fig"], "fig2": level["fig2"]},
    }


def tradeoff_caption(g: dict) -> str:
    """What the trade-off figure shows, said from its numbers: the operating point on DS2 and what more Se costs."""
    t = g["tradeoff"]
    if not len(t) or "DS2" not in set(t["side"]):
        return ""
    parts = []
    for c, part in t[t["side"] == "DS2"].groupby("class", sort=False):
        at = part[part["at_point"]].iloc[0]
        more = part[(part["Se"] >= min(at["Se"] + 0.05, 1.0)) & (part["weight"] > at["weight"])].sort_values("weight")
        text = f"{c} at the operating point: Se {fmt(at['Se'])}, +P {fmt(at['P'])}"
        if len(more):
            m = more.iloc[0]
            text += f"; Se {fmt(m['Se'])} would cost +P {fmt(m['P'])}"
        parts.append(text)
    return ("The weights were chosen on DS1's validation records (heartbeat operate) and are adjustable; on DS2: "
            + "; ".join(parts) + " (heartbeat operate --curve, results/ds1ds2/tradeoff.csv).")


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
    out["tradeoff"] = tradeoff_caption(g)
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
    from pypdf import PdfReader  # only to read the compiled PDF

    return len(PdfReader(io.BytesIO(pdf)).pages)


def compile_pdf(doc: dict, template: Path, png: str | Path | None = None, ppi: int = 110) -> bytes:
    """The PDF's bytes; with ``png`` (a path holding ``{n}``), each page is also written there as a PNG."""
    import typst  # only to compile the PDF

    paths = [template.resolve().parent, *(Path(p).parent for p in doc["figures"].values())]
    root = Path(os.path.commonpath([str(p) for p in paths]))
    # typst reads an absolute path as relative to its root: hand it "/<path below root>"
    doc = {**doc, "figures": {k: "/" + Path(v).resolve().relative_to(root).as_posix() for k, v in doc["figures"].items()}}
    inputs = {"data": json.dumps(doc, allow_nan=False, default=str)}
    if png is not None:
        typst.compile(str(template.resolve()), output=str(png), format="png", ppi=ppi, root=str(root),
                      ignore_system_fonts=True, sys_inputs=inputs)
    return typst.compile(str(template.resolve()), root=str(root), ignore_system_fonts=True, sys_inputs=inputs)


def write_text(doc: dict, path: str | Path) -> Path:
    """The summary's text, the document the template lays out, as JSON at ``path``: figure paths are
    written relative to its folder, so the file names no folder of this machine."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    here = path.parent.resolve()
    figs = {k: Path(os.path.relpath(Path(v).resolve(), here)).as_posix() for k, v in doc["figures"].items()}
    path.write_text(json.dumps({**doc, "figures": figs}, indent=1, ensure_ascii=False, allow_nan=False,
                               default=str) + "\n")
    return path


def read_text(path: str | Path) -> dict:
    """A document written by :func:`write_text`, its figure paths made absolute again; a missing file, or
    a figure it names that is not there, is a NotFoundError that names it."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"no summary text at {path}: run heartbeat summary (make summary) first")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ReportError(f"{path} is not a summary text (JSON): {e}") from e
    figs = {k: (path.parent / v).resolve() for k, v in doc.get("figures", {}).items()}
    gone = [str(p) for p in figs.values() if not p.exists()]
    if gone:
        raise NotFoundError(f"{path} names figures that are not there: {', '.join(gone)}; rebuild with heartbeat summary")
    return {**doc, "figures": {k: str(v) for k, v in figs.items()}}


def compile_text(text: str | Path, out: str | Path, template: str | Path = TEMPLATE,
                 png: str | Path | None = None, log=print) -> Path:
    """The compile step alone: the PDF at ``out`` from a written summary text (no results read)."""
    doc, out = read_text(text), Path(out)
    pdf = compile_pdf(doc, Path(template))
    if page_count(pdf) != PAGES:
        raise ReportError(f"{text} lays out on {page_count(pdf)} pages, not {PAGES}: rebuild it with heartbeat summary")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pdf)
    if png is not None:
        Path(png).mkdir(parents=True, exist_ok=True)
        compile_pdf(doc, Path(template), Path(png) / "page-{n}.png")
        log(f"drew its pages as {Path(png) / 'page-1.png'} and page-2.png")
    log(f"compiled {out} from {text}")
    return out


def build(results: str | Path = "results", models: str | Path = "models", out: str | Path = "summary/summary.pdf",
          template: str | Path = TEMPLATE, figure_dir: str | Path | None = None, log=print,
          png: str | Path | None = None) -> Path:
    """Write the summary's text (``out`` with .json) and its two-page PDF, with its figures; raise if no
    density fits two pages.

    The text is made at decreasing densities (:data:`LEVELS`) and each is compiled to count its pages; the
    first that is exactly two is kept. ``png``: a folder where each page is also drawn as ``page-1.png``,
    ``page-2.png``, to look at as a reader would."""
    results, models, out, template = Path(results), Path(models), Path(out), Path(template)
    if not tables.experiments(results):
        raise NotFoundError(f"no search results in {results} (results/<search>/trials.csv): run make search")
    # its own folder beside the PDF: the notebook draws figures of the same names, at other sizes, in
    # results/figures/, and a summary text compiled against those lays out on three pages
    figure_dir = Path(figure_dir) if figure_dir else out.parent / "figures"
    g = gather(results, models)
    pages = []
    for level in LEVELS:
        doc = document(g, level, figure_dir)
        pages.append(page_count(compile_pdf(doc, template)))
        if pages[-1] == PAGES:
            text = write_text(doc, out.with_suffix(".json"))
            compile_text(text, out, template, png, log=lambda *_: None)
            if png is not None:
                log(f"drew its pages as {Path(png) / 'page-1.png'} and page-2.png")
            log(f"wrote {text} and {out} ({PAGES} pages, density {LEVELS.index(level) + 1} of {len(LEVELS)}) "
                f"and its figures in {figure_dir}")
            return out
    raise ReportError(f"the summary does not fit {PAGES} pages at any density (pages: {pages})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m heartbeat.report.summary", description=__doc__.split("\n")[0])
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--models", default="models", help="models folder (default: models)")
    p.add_argument("--out", default="summary/summary.pdf", help="PDF to write (default: summary/summary.pdf)")
    p.add_argument("--template", default=str(TEMPLATE), help="typst template (default: summary/summary.typ)")
    p.add_argument("--figures", default=None, help="folder of the summary's figures (default: figures/ beside --out)")
    p.add_argument("--png", default=None, metavar="DIR",
                   help="also draw each page as DIR/page-1.png and page-2.png, to read them as a reader would")
    p.add_argument("--compile", default=None, metavar="TEXT",
                   help="only compile the PDF (--out) from a written summary text, e.g. summary/summary.json")
    args = p.parse_args(argv)
    if args.compile:
        return run_entry(lambda: compile_text(args.compile, args.out, args.template, args.png) and None)
    return run_entry(lambda: build(args.results, args.models, args.out, args.template, args.figures,
                                   png=args.png) and None)


if __name__ == "__main__":
    sys.exit(main())
