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
from heartbeat.report.results import Results

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


def family_table(r: Results) -> pd.DataFrame:
    """One row per model folder: its search budget (the search.json of its experiment), valid / test /
    unseen-patient figures."""
    found = r.search_infos
    infos = tables.model_infos(r)
    by_split = {s: r.scores(s) for s in ("valid", "test", "holdout")}
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


def protocol_section(r: Results) -> list[str]:
    """The DS1 -> DS2 table beside the published rows, and the DS2 patients that fail (``make protocol``)."""
    t = r.csv("ds1ds2/table.csv")
    if t.empty:
        return []
    cols = ["model", "macro_Se", *[f"{k}_{c}" for c in "NSVF" for k in ("Se", "P")]]
    shown = t[cols].rename(columns={f"P_{c}": f"+P_{c}" for c in "NSVF"})
    ours = t[t["source"].str.startswith("this project")]
    n_looks = len(r.csv("ds1ds2/looks.csv"))
    present = ours["source"].iloc[0].removeprefix("this project (").removesuffix(")") if len(ours) else ""
    complete = present.startswith("22 of 22")
    out = ["**New patients: DS1 → DS2** (`make search-inter`, then `make protocol`): de Chazal et al.'s (2004) "
           "inter-patient protocol. Trained and selected on DS1 only (validation by record inside DS1); DS2 is "
           f"the test side, and every look at it is logged ({n_looks} so far, `results/ds1ds2/looks.csv`). Se is "
           "sensitivity (recall), +P positive predictivity (precision), macro_Se their mean over N, S, V and F. The "
           "four paced records (102, 104, 107, 217) are left out as in the protocol, and so are the few Q beats of "
           "the other records. "
           + (f"{present} are here" + (", as in the published rows" if complete else
                                       "; the published rows used all 22") + ". " if present else "")
           + "Published rows: " + "; ".join(PUBLISHED_REFS) + ".", "", markdown(shown), ""]
    p = r.csv("ds1ds2/per_record.csv")
    if len(p) and len(ours):
        p = p[p["model"] == ours.sort_values("macro_Se").iloc[-1]["model"]]
        worst = p.sort_values("worst_Se").head(6)[["record", "n", "worst_class", "worst_Se", "Se_S", "Se_V", "n_S",
                                                    "n_V"]]
        counts = ["n", "n_S", "n_V"]  # beat counts, which the CSV's float format writes as 2272.0000
        worst[counts] = worst[counts].fillna(0).astype(int)
        out += ["The DS2 patients where the best of them does worst (every patient: `results/ds1ds2/per_record.csv`):",
                "", markdown(worst), ""]
    return out


PUBLISHED_REFS = ("de Chazal, O'Dwyer and Reilly, IEEE TBME 2004", "Zhang et al., Comput Biol Med 2014",
                  "Mondéjar-Guerra et al., BSPC 2019", "Wang et al., Entropy 2021")


def seeds_section(r: Results) -> list[str]:
    """The new-patient headline (``make seeds``): each target figure on DS2 end to end, per seed, and mean ± sd."""
    h = tables.seeds_headline(r)
    if h.empty:
        return []
    seeds = tables.seed_columns(h)
    shown = pd.DataFrame({"figure": h["figure"], **{s: h[s].map(_f) for s in seeds},
                          "mean ± sd": [f"{m:.3f} ± {d:.3f}" for m, d in zip(h["mean"], h["sd"])],
                          "target": h["target"].map(lambda t: f"≥ {t:.2f}"),
                          "": h["met"].map({True: "met", False: "missed"})})
    return [f"**The headline: new patients end to end** (`make seeds`): {tables.seeds_method(h)}", "",
            markdown(shown), ""]


def table3_section(r: Results) -> list[str]:
    """Table 3 (``make ablate``) in the paper's form: a column per varied binding, the base row in full,
    each other row only what it changes, then the figures (mean ± half-range over seeds)."""
    layout = tables.read_table3(r)
    if layout is None:
        return []
    seeds = max((row["seeds"] for row in layout["rows"]), default=0)
    return ["**Table 3** (`make ablate`), in the form of Table 3 of \"Attention Is All You Need\": the DS1 → DS2 "
            "winner's configuration is the base row, with every varied binding's value; each other row is trained "
            f"the same way (same data and split, same epochs, {seeds} seeds) and shows only the cells it changes. "
            "`valid`: macro recall on DS1's validation records; then DS2 (unseen patients): macro Se, and Se / +P of "
            "S and V; `params`: weights of the network; `train s`: seconds to train on one core. Mean ± half the "
            f"range over seeds. Columns: {layout['legend']}.", "",
            markdown(tables.table3_frame(layout)), ""] + sum(
        ([text, ""] for text in (tables.grouped_folds_sentence(r), tables.adapt_sentence(r),
                                   tables.context_search_sentence(r),
                                   tables.context_loss_sentence(r)) if text), [])


def raw_recording_section(r: Results) -> list[str]:
    """R-peak detectors, and classification at detected against annotated peaks (``make endtoend``)."""
    results, out = r.root, []
    det = results / "bench" / "detectors.csv"
    if det.exists():
        d = pd.read_csv(det)
        d = d[["detector", "records", "annotated", "fn", "fp", "Se", "P+", "x_realtime", "median_offset_ms"]]
        out += ["**R-peak detectors** (`python bench/detectors.py`): every shared record, lead MLII, matched to the "
                "annotated beats within 150 ms as `heartbeat ec57` matches them; `x_realtime` is seconds of ECG per "
                "second of detection, one thread; `heartbeat` is `heartbeat.inference.detect` with its fiducial rule, as "
                "`predict`, `ec57` and the service run it (DS1, DS2 and the non-paced records apart: "
                "`results/bench/detectors_by_set.csv`).", "",
                markdown(d.rename(columns={"fn": "missed", "fp": "extra"})), ""]
    speed = results / "bench" / "raw_speed.csv"
    if speed.exists():
        sp = pd.read_csv(speed).set_index("stage")
        raw = next((k for k in sp.index if k.startswith("raw path")), None)
        if raw and {"detect", "xqrs"} <= set(sp.index):
            out += [f"**Speed** (`python bench/raw_speed.py`, one core, {sp.loc[raw, 'hours']:g} h of ECG in one run): the "
                    f"whole raw path runs {sp.loc[raw, 'x_realtime']:,.0f} times faster than real time, "
                    f"{sp.loc[raw, 'seconds_per_24h']:.1f} s per 24 h; the detector alone is "
                    f"{sp.loc['xqrs', 'seconds'] / sp.loc['detect', 'seconds']:.0f} times faster than wfdb's XQRS on "
                    "the same signal.", ""]
    ec208 = results / "ec57" / "cnn1d-rhythm-all-208" / "report.json"
    if ec208.exists():
        v = json.loads(ec208.read_text())["gross"]["veb"]
        out += [f"**Record 208's wide V beats** (`make ec57`): the deployed model `cnn1d-rhythm-all`, end to end from "
                f"detected peaks, finds {v['tp']} of its {v['tp'] + v['fn']} V beats (VEB Se {v['se']:.4f}, +P "
                f"{v['ppv']:.4f}) at its recall-first operating point. 208 is one of its training patients.", ""]
    rates = r.csv("bench/detector_rates.csv")
    if len(rates):
        rates = rates[rates["records_set"] == "all"][["condition", "records", "annotated", "fn", "fp", "Se", "P+",
                                                     "dSe", "dP+"]]
        out += ["**The detector on other rates, with mains hum and baseline wander** (`python bench/detector_rates.py`): "
                "each record resampled from 360 Hz, then given 0.1 mV of 50 Hz hum and 1 mV peak to peak of slow "
                "wander; `dSe`, `dP+`: the difference from the clean 360 Hz signal.", "",
                markdown(rates.rename(columns={"fn": "missed", "fp": "extra"})), ""]
    rows = [{"records set": "DS2" if p.parent.name == "endtoend" else p.parent.name.upper(), **json.loads(p.read_text())}
            for p in [*sorted((results / "endtoend").glob("*.json")), *sorted((results / "endtoend" / "ds1").glob("*.json"))]]
    if rows:
        e = pd.DataFrame(rows)
        cols = [c for c in ("model", "records set", "records", "annotated", "missed", "extra", "qrs_Se", "qrs_P",
                            "recall_macro_annotated", "recall_macro_detected", "macro_Se_annotated",
                            "macro_Se_detected") if c in e]
        out += ["**From a raw recording** (`make endtoend`): the same model classifies each record's beats at the "
                "annotated R peaks and at the detected ones; classification is scored on the detected beats that "
                "match an annotation.", "", markdown(e[cols]), ""]
    return out


def machine(found: dict[str, dict]) -> str:
    """The searches' machine as their search.json files recorded it: CPU cores, and GPUs where any."""
    cpus = sorted({s.get("cpus") for s in found.values() if s.get("cpus")})
    gpus = max((s.get("gpus") or 0 for s in found.values()), default=0)
    recorded = any("gpus" in s for s in found.values())
    return (f"{', '.join(map(str, cpus)) or '–'} CPU cores"
            + (f", {gpus} GPU" if gpus else (", no GPU" if recorded else "")))


def block(results: str | Path = "results", models: str | Path = "models") -> str:
    r = Results.load(results, models)
    found = r.search_infos
    out = [START, "", "_Made by `make readme` from `results/` and `models/`; do not edit by hand._", ""]
    table = family_table(r)
    if len(table):
        budgets = sorted({f"{s.get('num_samples')} trials max, {s.get('max_epochs')} epochs max"
                          for s in found.values() if s.get("num_samples")})
        minutes = sum(s.get("wall_seconds", 0) for s in found.values()) / 60
        out += [markdown(table), "",
                f"Macro recall and macro F1 on each model's validation split (`make run`), on the test split "
                f"(`make run-test`, the final evaluation) with the test recall of S, V and F, and on the patients "
                f"held out of training (`heartbeat score --on holdout`). Searches: {'; '.join(budgets) or '–'}, "
                f"{minutes:.0f} min of wall time in all on {machine(found)} (`make search`).",
                ""]
    out += protocol_section(r)
    out += seeds_section(r)
    out += table3_section(r)
    out += raw_recording_section(r)
    shift = r.shift
    if "patients" in shift:
        p = shift["patients"]
        cols = ["model", "trained_on", "test_recall_macro", "holdout_recall_macro", "test_f1_macro",
                "holdout_f1_macro", *[c for c in ("holdout_recall_S", "holdout_recall_V") if c in p]]
        out += ["**Unseen patients** (`make shift`): the same models on five patients none of them trained on.", "",
                markdown(p[cols]), ""]
    if "corruption" in shift:
        out += ["**Corrupted test beats** (`make shift`): test macro recall, clean and at levels 2 and 4 of each "
                "corruption (strengths in `src/heartbeat/evaluation/shift.py`; every level in `results/shift/corruption.csv`).",
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
