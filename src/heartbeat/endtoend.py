"""End-to-end accuracy on annotated records: detected R peaks against the cardiologists' beats.

For each record, the beats are classified twice by the same model: at the annotated R peaks (as
in training), and at the R peaks the detector finds (as on a raw recording). Detected beats are
matched to annotated ones within 150 ms; unmatched annotations are missed beats and unmatched
detections extra beats. Classification is scored on the matched beats, labelled by their
annotation, beside the score at the annotated peaks, so the difference is what detection costs.
A model trained with ``--split ds1ds2`` is scored on DS2 (its unseen patients) by default, with
paced records and Q beats left out as in the protocol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.data.splits import DS2, PACED, Q
from heartbeat.metrics import classification_metrics
from heartbeat.protocol import se_p


def annotated_peaks(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(samples, AAMI labels) of the beat annotations of a record."""
    import wfdb

    from heartbeat.data.wfdb_beats import AAMI

    ann = wfdb.rdann(str(folder / name), "atr")
    labels = np.array([AAMI.get(s, -1) for s in ann.symbol])
    return np.asarray(ann.sample)[labels >= 0], labels[labels >= 0]


def default_records(model, folder: Path) -> list[str]:
    from heartbeat.data.wfdb_beats import list_records

    present = list_records(folder)
    if model.info.get("split") == "ds1ds2":
        return [r for r in present if r in DS2]
    return present


def end_to_end(model, folder: str | Path, records: list[str] | None = None, log=print) -> tuple[pd.DataFrame, dict]:
    """Per-record rows and pooled figures (QRS Se and +P, metrics at annotated and detected peaks)."""
    from heartbeat.recording import classify, detect_peaks, match_beats, read_recording

    folder = Path(folder)
    records = records or default_records(model, folder)
    protocol = model.info.get("split") == "ds1ds2"
    rows, pooled = [], {"ann_true": [], "ann_pred": [], "det_true": [], "det_pred": []}
    for name in records:
        if protocol and name in PACED:
            continue
        rec = read_recording(folder / name)
        ref, labels = annotated_peaks(folder, name)
        found = detect_peaks(rec.signal, rec.fs)
        at_ann, _ = classify(model, rec, ref)
        at_det, _ = classify(model, rec, found)
        ref_idx, det_idx = match_beats(ref, found, rec.fs)
        # beats cut off at a record's end are not classified: match by sample
        ann_pred = pd.Series(at_ann["class"].to_numpy(), index=at_ann["sample"].to_numpy())
        det_pred = pd.Series(at_det["class"].to_numpy(), index=at_det["sample"].to_numpy())
        keep_ann = np.isin(ref, ann_pred.index) & ((labels != Q) if protocol else True)
        pair = np.isin(found[det_idx], det_pred.index) & ((labels[ref_idx] != Q) if protocol else True)
        to_label = {c: i for i, c in enumerate(model.classes)}
        pooled["ann_true"].append(labels[keep_ann])
        pooled["ann_pred"].append(ann_pred.loc[ref[keep_ann]].map(to_label).to_numpy())
        pooled["det_true"].append(labels[ref_idx[pair]])
        pooled["det_pred"].append(det_pred.loc[found[det_idx[pair]]].map(to_label).to_numpy())
        row = {"record": name, "annotated": len(ref), "detected": len(found), "matched": len(ref_idx),
               "missed": len(ref) - len(ref_idx), "extra": len(found) - len(det_idx),
               "qrs_Se": len(ref_idx) / len(ref), "qrs_P": len(det_idx) / max(len(found), 1)}
        rows.append(row)
        log(f"  {name}: {row['annotated']} annotated, {row['detected']} detected, {row['missed']} missed, "
            f"{row['extra']} extra", flush=True)
    per = pd.DataFrame(rows)
    a_true, a_pred = np.concatenate(pooled["ann_true"]), np.concatenate(pooled["ann_pred"])
    d_true, d_pred = np.concatenate(pooled["det_true"]), np.concatenate(pooled["det_pred"])
    ann_m = classification_metrics(a_true, a_pred, model.classes)
    det_m = classification_metrics(d_true, d_pred, model.classes)
    summary = {"model": model.tag, "records": len(per), "annotated": int(per.annotated.sum()),
               "detected": int(per.detected.sum()), "missed": int(per.missed.sum()), "extra": int(per.extra.sum()),
               "qrs_Se": float(per.matched.sum() / per.annotated.sum()),
               "qrs_P": float((per.detected.sum() - per.extra.sum()) / per.detected.sum()),
               "recall_macro_annotated": ann_m["recall_macro"], "recall_macro_detected": det_m["recall_macro"],
               "f1_macro_annotated": ann_m["f1_macro"], "f1_macro_detected": det_m["f1_macro"]}
    if protocol:
        for tag, (t, p) in (("annotated", (a_true, a_pred)), ("detected", (d_true, d_pred))):
            summary.update({f"{k}_{tag}": v for k, v in se_p(t, p, model.classes).items() if k[:2] in ("Se", "P_", "ma")})
    return per, summary
