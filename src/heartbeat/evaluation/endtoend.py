"""End-to-end accuracy on annotated records: a view of the EC57 comparison (:mod:`heartbeat.evaluation.ec57`).

For each record, :func:`heartbeat.evaluation.ec57.compare_records` classifies the beats twice with the same
model: at the annotated R peaks (as in training), and at the R peaks the detector finds (as on a
raw recording), and matches the detections to the annotated beats as EC57 does (150 ms). This
module lays those comparisons out as before: per record, the annotated, detected, missed and extra
beats and QRS Se/+P; pooled, the classification metrics at the annotated peaks beside those of the
matched detections, labelled by their annotation, so the difference is what detection costs.
A model trained with ``--split ds1ds2`` is scored on DS2 (its unseen patients) by default, with
paced records and Q beats left out of the classification metrics as in the protocol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.data.splits import PACED, Q
from heartbeat.evaluation.ec57 import EXTRA, MISSED, compare_records, default_records, ec57_stats
from heartbeat.evaluation.protocol import se_p
from heartbeat.metrics import classification_metrics

__all__ = ["default_records", "end_to_end"]


def end_to_end(model, folder: str | Path, records: list[str] | None = None, log=print) -> tuple[pd.DataFrame, dict]:
    """Per-record rows and pooled figures (QRS Se and +P, metrics at annotated and detected peaks)."""
    protocol = model.info.split == "ds1ds2"
    records = records or default_records(model, folder)
    if protocol:
        records = [r for r in records if r not in PACED]
    comparisons = compare_records(model, folder, records, log=log)
    rows, pooled = [], {"ann_true": [], "ann_pred": [], "det_true": [], "det_pred": []}
    for c in comparisons:
        keep_ann = (c.truth != Q) if protocol else np.ones(len(c.truth), dtype=bool)
        pair = keep_ann[c.ref_idx]
        pooled["ann_true"].append(c.truth[keep_ann])
        pooled["ann_pred"].append(c.at_annotated[keep_ann])
        pooled["det_true"].append(c.truth[c.ref_idx[pair]])
        pooled["det_pred"].append(c.called[c.det_idx[pair]])
        m = c.matrix()
        qrs = ec57_stats(m)["qrs"]
        rows.append({"record": c.record, "annotated": int(m[:EXTRA].sum()), "detected": int(m[:, :MISSED].sum()),
                     "matched": qrs["tp"], "missed": qrs["fn"], "extra": qrs["fp"],
                     "qrs_Se": qrs["se"], "qrs_P": qrs["ppv"]})
    per = pd.DataFrame(rows)
    qrs = ec57_stats(np.sum([c.matrix() for c in comparisons], axis=0))["qrs"]
    a_true, a_pred = np.concatenate(pooled["ann_true"]), np.concatenate(pooled["ann_pred"])
    d_true, d_pred = np.concatenate(pooled["det_true"]), np.concatenate(pooled["det_pred"])
    ann_m = classification_metrics(a_true, a_pred, model.classes)
    det_m = classification_metrics(d_true, d_pred, model.classes)
    summary = {"model": model.tag, "records": len(per), "annotated": int(per.annotated.sum()),
               "detected": int(per.detected.sum()), "missed": qrs["fn"], "extra": qrs["fp"],
               "qrs_Se": qrs["se"], "qrs_P": qrs["ppv"],
               "recall_macro_annotated": ann_m["recall_macro"], "recall_macro_detected": det_m["recall_macro"],
               "f1_macro_annotated": ann_m["f1_macro"], "f1_macro_detected": det_m["f1_macro"]}
    if protocol:
        for tag, (t, p) in (("annotated", (a_true, a_pred)), ("detected", (d_true, d_pred))):
            summary.update({f"{k}_{tag}": v for k, v in se_p(t, p, model.classes).items() if k[:2] in ("Se", "P_", "ma")})
    return per, summary
