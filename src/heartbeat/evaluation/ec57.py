"""ANSI/AAMI EC57 beat-by-beat comparison: the raw path end to end against the reference annotations.

Each annotated WFDB record goes through what a user's recording goes through (``heartbeat
predict``): the project's R-peak detector (:func:`heartbeat.inference.recording.detect_peaks`), beats and
rhythm cut by :func:`heartbeat.data.wfdb_beats.beats_from_signal`, the model. The detections are
matched to the reference beats as EC57 (and PhysioNet's ``bxb``, its reference implementation)
match them, and counted in one matrix per record: reference N S V F Q (and ``extra``, a
detection matching no reference beat) against algorithm N S V F Q (and ``missed``, a reference
beat matching no detection). Every statistic below is a function of that matrix.

Matching. A detection and a reference beat match when they are at most 150 ms apart
(:data:`MATCH_S`, EC57's window; ``bxb``'s ``<=``), one to one, each reference beat taking the
nearest detection not closer to the next reference beat: wfdb's
``wfdb.processing.compare_annotations``, whose window is strict, so it is given one sample more.
Reference beats are the annotations of an AAMI class (:data:`heartbeat.data.wfdb_beats.AAMI`;
paced ``/`` and ``f`` are Q); rhythm, noise and flutter-wave annotations are no beats. Ventricular
flutter or fibrillation episodes (``[`` to ``]``) are left out, reference beats and detections
alike, as ``bxb`` does. A detection the model cannot classify (a beat cut off by the record's
end) is called Q: detected, not labelled.

Statistics (``bxb``'s formulas; rows are the reference, lower-case columns the algorithm):

- QRS: TP = every reference beat matched; FN = ``missed``; FP = ``extra``. Se = TP / (TP + FN),
  +P = TP / (TP + FP).
- VEB: positives are V reference beats (MIT-BIH ``V`` and ``E``, AAMI class V). TP = Vv;
  FN = Vn + Vs + Vf + Vq + V missed; FP = Nv + Sv + extra called v. **F and Q reference beats
  called v are neither TP nor FP** (Fv, Qv: EC57 does not penalise calling a fusion or an
  unclassifiable beat ventricular); a V beat called q is a miss.
  TN = the reference N, S, F, Q beats matched and not called v, and the extra detections not
  called v (``bxb``'s VTN). FPR = FP / (FP + TN).
- SVEB: positives are S reference beats. TP = Ss; FN = Sn + Sv + Sf + Sq + S missed;
  FP = Ns + Vs + Fs + extra called s. **Q reference beats called s are neither** (Qs); unlike
  VEB, **an F beat called s is a false positive** (``bxb``'s SFP). TN and FPR as for VEB, with s
  in place of v (EC57:2012's SVEB FPR, which ``bxb`` does not print).
- Gross statistics pool the counts of every record; record-average statistics are the mean of
  each record's figure over the records where it is defined (a denominator above zero), and say
  how many those are.
- Per class (de Chazal et al. 2004's table): Se and +P of N, S, V, F, Q over the matched beats
  (a missed or extra beat has no class to be right or wrong about), gross.
- Learning period (``learning_s``, EC57's 5 minutes with ``--learning-period``): a pair counts
  if its reference beat is at or after it; a missed beat likewise; an extra detection by its
  own time. Off by default: the models here do not adapt to the patient.

Which published figures these compare to:

- de Chazal et al. (2004) and the inter-patient literature (:data:`heartbeat.evaluation.protocol.PUBLISHED`)
  report gross per-class Se/+P on DS2 at the annotated R peaks: ``classes_annotated`` (the model
  classifying every annotated beat, so no beat is missed or extra). Their SVEB and VEB rows are
  the S and V rows of that table.
- Results reported as EC57 (``bxb`` on the records) compare to ``gross`` (and ``average``) QRS,
  VEB and SVEB, which include what detection costs; ``annotated`` gives the same statistics at
  the annotated peaks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.data.sources import shown_path
from heartbeat.data.splits import DS2, PACED
from heartbeat.data.wfdb_beats import AAMI, list_records
from heartbeat.errors import DataError
from heartbeat.inference.recording import classify, detect_peaks, read_recording

CLASSES = ("N", "S", "V", "F", "Q")
N, S, V, F, Q = range(5)
EXTRA = MISSED = 5            # the matrix's sixth row (detections matching no beat) and column (beats not detected)
ROWS = CLASSES + ("extra",)   # reference
COLUMNS = CLASSES + ("missed",)  # algorithm
MATCH_S = 0.15                # EC57's match window
LEARNING_S = 300.0            # EC57's learning period: the first 5 minutes
VF_ON, VF_OFF = "[", "]"

COMPARABLE = {
    "classes_annotated": "de Chazal et al. 2004 and the inter-patient DS1->DS2 literature: gross per-class Se/+P "
                         "at the annotated R peaks (Q beats: de Chazal leave them out)",
    "gross": "results reported as ANSI/AAMI EC57 (bxb on the records): gross QRS, VEB and SVEB Se/+P(/FPR), "
             "detection included; 'average' for their record-average rows",
    "annotated": "the same EC57 statistics with the model classifying the annotated beats (QRS Se/+P = 1)",
    "classes": "per-class Se/+P of the matched beats, end to end (detected R peaks)",
}


def ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


# ---------------------------------------------------------------- matching and the matrix
def match(reference: np.ndarray, detected: np.ndarray, fs: float, window_s: float = MATCH_S) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i_ref, i_det) of reference and detected beats at most ``window_s`` apart (wfdb's comparitor)."""
    from wfdb.processing import compare_annotations  # wfdb: only where records are read or fetched

    reference, detected = np.asarray(reference, dtype=np.int64), np.asarray(detected, dtype=np.int64)
    if not len(reference) or not len(detected):  # wfdb divides by both counts
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # wfdb matches when |ref - test| < width; EC57 when <= 150 ms: one sample more
    cmp = compare_annotations(reference, detected, int(round(window_s * fs)) + 1)
    ref_idx = np.flatnonzero(cmp.matching_sample_nums >= 0)
    return ref_idx, cmp.matching_sample_nums[ref_idx].astype(np.int64)


@dataclass
class Comparison:
    """One record compared: the reference beats, the detections, their pairs, and the model's classes.

    ``truth`` (n_ref,) and ``called`` (n_det,) are AAMI class indices (:data:`CLASSES`);
    ``at_annotated`` (n_ref,) is the model's class for each reference beat classified at its
    annotated peak (None where not computed)."""

    record: str
    fs: float
    reference: np.ndarray
    truth: np.ndarray
    detected: np.ndarray
    called: np.ndarray
    ref_idx: np.ndarray
    det_idx: np.ndarray
    at_annotated: np.ndarray | None = None

    @classmethod
    def of(cls, record: str, fs: float, reference, truth, detected, called, at_annotated=None) -> "Comparison":
        """Match ``detected`` to ``reference`` (:func:`match`) and keep everything for scoring."""
        reference, detected = np.asarray(reference, dtype=np.int64), np.asarray(detected, dtype=np.int64)
        ref_idx, det_idx = match(reference, detected, fs)
        return cls(record, float(fs), reference, np.asarray(truth, dtype=np.int64), detected,
                   np.asarray(called, dtype=np.int64), ref_idx, det_idx,
                   None if at_annotated is None else np.asarray(at_annotated, dtype=np.int64))

    def matrix(self, learning_s: float = 0.0) -> np.ndarray:
        """(6, 6) counts, end to end: rows :data:`ROWS` (reference), columns :data:`COLUMNS` (algorithm)."""
        start = learning_s * self.fs
        return class_matrix(self.truth, self.called, self.ref_idx, self.det_idx,
                            self.reference >= start, self.detected >= start)

    def matrix_annotated(self, learning_s: float = 0.0) -> np.ndarray:
        """(6, 6) counts with the model classifying the annotated beats: every beat matched to itself."""
        if self.at_annotated is None:
            raise DataError(f"record {self.record}: not classified at the annotated peaks")
        every = np.arange(len(self.reference))
        kept = self.reference >= learning_s * self.fs
        return class_matrix(self.truth, self.at_annotated, every, every, kept, kept)


def class_matrix(truth: np.ndarray, called: np.ndarray, ref_idx: np.ndarray, det_idx: np.ndarray,
                 ref_in: np.ndarray | None = None, det_in: np.ndarray | None = None) -> np.ndarray:
    """(6, 6) counts of reference class (rows) against algorithm class (columns) for the pairs
    ``(ref_idx, det_idx)``, unmatched reference beats in the ``missed`` column and unmatched
    detections in the ``extra`` row. ``ref_in`` / ``det_in`` (bool) say which beats are scored: a
    pair by its reference beat, a miss by itself, an extra by itself."""
    truth, called = np.asarray(truth, dtype=np.int64), np.asarray(called, dtype=np.int64)
    ref_in = np.ones(len(truth), dtype=bool) if ref_in is None else np.asarray(ref_in, dtype=bool)
    det_in = np.ones(len(called), dtype=bool) if det_in is None else np.asarray(det_in, dtype=bool)
    m = np.zeros((len(ROWS), len(COLUMNS)), dtype=np.int64)
    pair = ref_in[ref_idx]
    np.add.at(m, (truth[ref_idx[pair]], called[det_idx[pair]]), 1)
    missed = np.ones(len(truth), dtype=bool)
    missed[ref_idx] = False
    np.add.at(m, (truth[missed & ref_in], MISSED), 1)
    extra = np.ones(len(called), dtype=bool)
    extra[det_idx] = False
    np.add.at(m, (EXTRA, called[extra & det_in]), 1)
    return m


# ---------------------------------------------------------------- statistics of a matrix
def _ectopic(m: np.ndarray, pos: int, neither: tuple[int, ...]) -> dict[str, float]:
    """Se, +P, FPR of one ectopic class ``pos``: ``neither`` are the reference classes whose beats
    called ``pos`` count neither as TP nor as FP (EC57's F and Q rules)."""
    tp = m[pos, pos]
    fn = m[pos].sum() - tp                                  # the rest of its row, missed included
    others = [r for r in range(len(ROWS)) if r != pos]
    fp = sum(m[r, pos] for r in others if r not in neither)
    tn = sum(m[r, c] for r in others for c in range(len(CLASSES)) if c != pos)
    return {"se": ratio(tp, tp + fn), "ppv": ratio(tp, tp + fp), "fpr": ratio(fp, fp + tn),
            "tp": int(tp), "fn": int(fn), "fp": int(fp), "tn": int(tn)}


def ec57_stats(m: np.ndarray) -> dict[str, dict[str, float]]:
    """QRS Se/+P, VEB and SVEB Se/+P/FPR of one matrix (module docstring), with their counts."""
    m = np.asarray(m)
    tp, fn, fp = m[:EXTRA, :MISSED].sum(), m[:EXTRA, MISSED].sum(), m[EXTRA, :MISSED].sum()
    return {"qrs": {"se": ratio(tp, tp + fn), "ppv": ratio(tp, tp + fp), "tp": int(tp), "fn": int(fn), "fp": int(fp)},
            "veb": _ectopic(m, V, neither=(F, Q)),
            "sveb": _ectopic(m, S, neither=(Q,))}


def class_stats(m: np.ndarray) -> dict[str, dict[str, float]]:
    """Se and +P of each class N S V F Q over the matched beats (de Chazal's table), and its beats ``n``."""
    core = np.asarray(m)[:EXTRA, :MISSED]
    return {c: {"se": ratio(core[i, i], core[i].sum()), "ppv": ratio(core[i, i], core[:, i].sum()),
                "n": int(core[i].sum())} for i, c in enumerate(CLASSES)}


STAT_KEYS = {"qrs": ("se", "ppv"), "veb": ("se", "ppv", "fpr"), "sveb": ("se", "ppv", "fpr")}


def average(stats: list[dict]) -> dict[str, dict[str, float]]:
    """EC57's record-average statistics: each figure's mean over the records where it is defined,
    and ``records_<figure>``, how many those are."""
    out = {}
    for group, keys in STAT_KEYS.items():
        out[group] = {}
        for k in keys:
            values = np.array([s[group][k] for s in stats], dtype=float)
            defined = ~np.isnan(values)
            out[group][k] = float(values[defined].mean()) if defined.any() else float("nan")
            out[group][f"records_{k}"] = int(defined.sum())
    return out


def flat(stats: dict, prefix: str = "") -> dict[str, float]:
    """``{'qrs': {'se': ..}}`` as ``{'qrs_se': ..}`` (the per-record CSV's columns)."""
    return {f"{prefix}{g}_{k}": v for g, d in stats.items() for k, v in d.items()}


def matrix_frame(m: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(m), index=pd.Index(ROWS, name="reference"), columns=list(COLUMNS))


def report(comparisons: list[Comparison], learning_s: float = 0.0, **about) -> dict:
    """The whole EC57 report of some compared records: one plain dict (``--json`` prints it).

    ``gross`` / ``average``: QRS, VEB, SVEB end to end; ``classes``: per class over the matched
    beats; ``annotated`` and ``classes_annotated``: the same with the model classifying the
    annotated beats; ``matrix`` / ``matrix_annotated``: ``{'rows', 'columns', 'counts'}``;
    ``per_record``: one dict a record; ``comparable``: which published figures each compares to."""
    if not comparisons:
        raise DataError("no record to compare")
    mats = [c.matrix(learning_s) for c in comparisons]
    total = np.sum(mats, axis=0)
    per = [ec57_stats(m) for m in mats]
    out = {**about, "match_window_s": MATCH_S, "learning_period_s": learning_s,
           "records": [c.record for c in comparisons],
           "gross": ec57_stats(total), "average": average(per), "classes": class_stats(total),
           "matrix": {"rows": list(ROWS), "columns": list(COLUMNS), "counts": total.tolist()}}
    annotated = all(c.at_annotated is not None for c in comparisons)
    if annotated:
        amats = [c.matrix_annotated(learning_s) for c in comparisons]
        atotal = np.sum(amats, axis=0)
        aper = [ec57_stats(m) for m in amats]
        out["annotated"] = {"gross": ec57_stats(atotal), "average": average(aper)}
        out["classes_annotated"] = class_stats(atotal)
        out["matrix_annotated"] = {"rows": list(ROWS), "columns": list(COLUMNS), "counts": atotal.tolist()}
    rows = []
    for i, (c, m, s) in enumerate(zip(comparisons, mats, per)):
        row = {"record": c.record, "beats": int(m[:EXTRA].sum()), "detected": int(m[:, :MISSED].sum()),
               "missed": int(m[:EXTRA, MISSED].sum()), "extra": int(m[EXTRA].sum()),
               **{f"n_{k}": int(m[j].sum()) for j, k in enumerate(CLASSES)}, **flat(s)}
        if annotated:
            a = aper[i]
            row.update({f"annotated_{g}_{k}": a[g][k] for g in ("veb", "sveb") for k in STAT_KEYS[g]})
        rows.append(row)
    out["per_record"] = rows
    out["comparable"] = dict(COMPARABLE)
    return out


# ---------------------------------------------------------------- records
def reference_beats(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(samples, AAMI classes) of a record's beat annotations, and its flutter/fibrillation episodes
    (start, end) in samples (an episode left open runs to the record's end)."""
    import wfdb  # wfdb: only where records are read or fetched


    ann = wfdb.rdann(str(Path(folder) / name), "atr")
    samples, symbols = np.asarray(ann.sample, dtype=np.int64), list(ann.symbol)
    labels = np.array([AAMI.get(s, -1) for s in symbols], dtype=np.int64)
    episodes, on = [], None
    for at, sym in zip(samples, symbols):
        if sym == VF_ON and on is None:
            on = int(at)
        elif sym == VF_OFF and on is not None:
            episodes.append((on, int(at)))
            on = None
    if on is not None:
        episodes.append((on, np.iinfo(np.int64).max))
    beat = labels >= 0
    return samples[beat], labels[beat], episodes


def outside(samples: np.ndarray, episodes: list[tuple[int, int]]) -> np.ndarray:
    """True for each sample outside every (start, end) episode."""
    keep = np.ones(len(samples), dtype=bool)
    for lo, hi in episodes:
        keep &= ~((samples >= lo) & (samples <= hi))
    return keep


def default_records(model, folder: str | Path) -> list[str]:
    """A ds1ds2 model: the DS2 records present (its unseen patients; paced ones are in neither set);
    any other model: every record in the folder."""
    present = list_records(folder)
    if model.info.split == "ds1ds2":
        return [r for r in present if r in DS2 and r not in PACED]
    return present


def check_model(model) -> None:
    if tuple(model.classes) != CLASSES:
        raise DataError(f"model {model.tag}: classes {tuple(model.classes)}; EC57 compares the AAMI classes "
                        f"{CLASSES} of an MIT-BIH model")


def classes_at(model, rec, peaks: np.ndarray) -> np.ndarray:
    """The model's AAMI class of each peak, through the raw path (:func:`heartbeat.inference.recording.classify`):
    Q for a beat it cannot cut (cut off by the record's end)."""
    table, _ = classify(model, rec, peaks)
    called = pd.Series([CLASSES.index(c) for c in table["class"]], index=table["sample"].to_numpy())
    return called.reindex(peaks).fillna(Q).to_numpy(dtype=np.int64)


def compare_record(model, folder: str | Path, name: str, annotated: bool = True) -> Comparison:
    """One record through the raw path (detect, cut beats and rhythm, classify), against its annotations.

    With ``annotated``, the model also classifies the annotated beats (as in training)."""
    folder = Path(folder)
    rec = read_recording(folder / name)
    reference, truth, episodes = reference_beats(folder, name)
    found = detect_peaks(rec.signal, rec.fs)
    called = classes_at(model, rec, found)
    at_ann = classes_at(model, rec, reference) if annotated else None
    # beats and rhythm were cut with every peak; flutter/fibrillation episodes are then left out of the scoring
    keep_ref, keep_det = outside(reference, episodes), outside(found, episodes)
    return Comparison.of(name, rec.fs, reference[keep_ref], truth[keep_ref], found[keep_det], called[keep_det],
                         None if at_ann is None else at_ann[keep_ref])


def compare_records(model, folder: str | Path, records: list[str] | None = None, annotated: bool = True,
                    log=print) -> list[Comparison]:
    """:func:`compare_record` over ``records`` (default: :func:`default_records`), one log line each."""
    check_model(model)
    folder = Path(folder)
    present = list_records(folder)
    records = records or default_records(model, folder)
    absent = [r for r in records if r not in present]
    if absent:
        raise DataError(f"{folder}: no record {', '.join(absent)}; it has {', '.join(present)}")
    out = []
    for name in records:
        c = compare_record(model, folder, name, annotated)
        m = c.matrix()
        out.append(c)
        log(f"  {name}: {m[:EXTRA].sum()} beats, {m[:, :MISSED].sum()} detected, {m[:EXTRA, MISSED].sum()} missed, "
            f"{m[EXTRA].sum()} extra", flush=True)
    return out


def run(model, folder: str | Path, records: list[str] | None = None, learning_period: bool = False,
        log=print) -> tuple[list[Comparison], dict]:
    """Compare ``records`` of ``folder`` end to end and report them (:func:`report`)."""
    comparisons = compare_records(model, folder, records, log=log)
    learning = LEARNING_S if learning_period else 0.0
    return comparisons, report(comparisons, learning, model=model.tag, data=shown_path(folder),
                               split=model.info.split)


# ---------------------------------------------------------------- output
def per_record_frame(result: dict) -> pd.DataFrame:
    return pd.DataFrame(result["per_record"])


def write(result: dict, out: str | Path) -> Path:
    """``out/report.json``, ``out/per_record.csv`` and ``out/matrix.csv`` (end to end)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(to_json(result), indent=2) + "\n")
    per_record_frame(result).to_csv(out / "per_record.csv", index=False, float_format="%.5f")
    matrix_frame(result["matrix"]["counts"]).to_csv(out / "matrix.csv")
    return out


def to_json(result: dict) -> dict:
    """NaN (a statistic with no denominator) as null, all the way down."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, (float, np.floating)):
            return None if np.isnan(v) else float(v)
        if isinstance(v, np.integer):
            return int(v)
        return v

    return clean(result)


def _pct(x: float) -> str:
    return "     -" if x is None or np.isnan(x) else f"{100 * x:6.2f}"


def text(result: dict) -> str:
    """The report as a person reads it: gross and average statistics, the matrix, the per-class table."""
    g, a = result["gross"], result["average"]
    n = len(result["records"])
    lp = result["learning_period_s"]
    lines = [f"EC57 beat-by-beat comparison: {result.get('model', '?')} on {n} records of {result.get('data', '?')}",
             f"match window {1000 * result['match_window_s']:.0f} ms; learning period "
             + (f"{lp / 60:g} min (beats before it not scored)" if lp else "none"), "",
             "statistics in %      gross                      record average",
             "               Se     +P    FPR           Se     +P    FPR"]
    for key, label in (("qrs", "QRS"), ("veb", "VEB"), ("sveb", "SVEB")):
        fpr = lambda d: _pct(d["fpr"]) if "fpr" in d else "      "  # noqa: E731
        lines.append(f"  {label:<5}  {_pct(g[key]['se'])} {_pct(g[key]['ppv'])} {fpr(g[key])}       "
                     f"{_pct(a[key]['se'])} {_pct(a[key]['ppv'])} {fpr(a[key])}")
    q, v, s = g["qrs"], g["veb"], g["sveb"]
    lines += [f"  QRS: {q['tp']} matched, {q['fn']} missed, {q['fp']} extra; VEB: TP {v['tp']} FN {v['fn']} FP {v['fp']}; "
              f"SVEB: TP {s['tp']} FN {s['fn']} FP {s['fp']}", ""]
    if "annotated" in result:
        ag = result["annotated"]["gross"]
        lines += ["at the annotated peaks (the model classifying every annotated beat), gross: "
                  f"VEB Se {_pct(ag['veb']['se'])} +P {_pct(ag['veb']['ppv'])} FPR {_pct(ag['veb']['fpr'])}; "
                  f"SVEB Se {_pct(ag['sveb']['se'])} +P {_pct(ag['sveb']['ppv'])} FPR {_pct(ag['sveb']['fpr'])}", ""]
    lines.append("class matrix, end to end (rows: reference; columns: algorithm)")
    lines += ["  " + l for l in matrix_frame(result["matrix"]["counts"]).to_string().splitlines()]
    lines += ["", "per class (de Chazal's table), gross, in %: detected peaks (matched beats) | annotated peaks",
              "        Se     +P   |    Se     +P      beats"]
    for c in CLASSES:
        d = result["classes"][c]
        e = result.get("classes_annotated", {}).get(c, {"se": float("nan"), "ppv": float("nan")})
        lines.append(f"  {c}  {_pct(d['se'])} {_pct(d['ppv'])}   | {_pct(e['se'])} {_pct(e['ppv'])}   {d['n']:>7}")
    lines += ["", "comparable to the literature:"] + [f"  {k}: {v}" for k, v in result["comparable"].items()]
    per = per_record_frame(result)
    cols = ["record", "beats", "missed", "extra", "qrs_se", "qrs_ppv", "veb_se", "veb_ppv", "veb_fpr",
            "sveb_se", "sveb_ppv", "sveb_fpr"]
    lines += ["", "per record:", per[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep="-")]
    return "\n".join(lines)
