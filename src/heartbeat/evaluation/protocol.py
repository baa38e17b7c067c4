"""The inter-patient protocol's report: per-class sensitivity (Se) and positive predictivity (+P).

de Chazal et al. (2004) report, for N, S, V and F on DS2, Se (recall) and +P (precision), and
their average Se; Q is left out (:mod:`heartbeat.data.splits`). This module scores every model
folder trained with ``--split ds1ds2`` on DS2, the test split (its final evaluation), with the
metrics module's whole-set functions, and lays the rows beside published results on the same
protocol. It also scores each DS2 patient on its own, to show which patients fail on which class.

The per-class Se and +P are those of the EC57 module (:func:`heartbeat.evaluation.ec57.class_stats` of the
class matrix of the annotated beats, every beat its own match): this table is the one
``heartbeat ec57`` reports as ``classes_annotated``, on the beats the protocol keeps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.data.beatset import BeatSet
from heartbeat.errors import DataError, NotFoundError
from heartbeat.evaluation.ec57 import CLASSES, class_matrix, class_stats
from heartbeat.evaluation.looks import log_look

PROTOCOL_CLASSES = ("N", "S", "V", "F")

#: Published DS1 -> DS2 results with all 22 DS1 records, as fractions. Only figures stated in the papers
#: as cited in issue 11 and de Chazal's own table are given; NaN where not taken over here.
PUBLISHED = [
    {"model": "de Chazal et al. 2004 (LD, features + RR)", "Se_N": 0.869, "P_N": 0.992, "Se_S": 0.759,
     "P_S": 0.385, "Se_V": 0.777, "P_V": 0.819, "Se_F": 0.894, "P_F": 0.086, "macro_Se": 0.83},
    {"model": "Zhang et al. 2014 (feature selection + SVM)", "Se_S": 0.79, "P_S": 0.36, "macro_Se": 0.87},
    {"model": "Mondéjar-Guerra et al. 2019 (SVM ensemble)", "macro_Se": 0.70},
    {"model": "Wang et al. 2021 (CNN + 3 RR features)", "Se_S": 0.64, "P_S": 0.66},
]
REFERENCES = (
    "de Chazal P, O'Dwyer M, Reilly RB. IEEE Trans Biomed Eng 51(7):1196-1206, 2004. "
    "Zhang Z, Dong J, Luo X, Choi KS, Wu X. Comput Biol Med 46:79-89, 2014. "
    "Mondéjar-Guerra V et al. Biomed Signal Process Control 47:41-48, 2019. "
    "Wang T, Lu C, Sun Y, Yang M, Liu C, Ou C. Entropy 23(1):119, 2021."
)


def se_p(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict[str, float]:
    """Se and +P of N, S, V and F (a class absent from ``y_true``: NaN Se), and their macro Se.

    Beats of the other classes are scored too: a beat predicted Q counts as a miss of its class.
    ``classes`` name the labels (the AAMI classes of :data:`heartbeat.evaluation.ec57.CLASSES`, in any order).
    """
    to_aami = np.array([CLASSES.index(c) for c in classes], dtype=np.int64)
    every = np.arange(len(y_true))
    stats = class_stats(class_matrix(to_aami[np.asarray(y_true, dtype=np.int64)],
                                     to_aami[np.asarray(y_pred, dtype=np.int64)], every, every))
    row: dict[str, float] = {"n": float(len(y_true))}
    for c in PROTOCOL_CLASSES:
        row[f"Se_{c}"], row[f"P_{c}"], row[f"n_{c}"] = stats[c]["se"], stats[c]["ppv"], float(stats[c]["n"])
    se = [row[f"Se_{c}"] for c in PROTOCOL_CLASSES]
    row["macro_Se"] = float(np.nanmean(se)) if not np.isnan(se).all() else float("nan")
    return row


def per_record(tag: str, beats: BeatSet, pred: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """One row per record: its beats per class, Se and +P of each class it has, and what S/V beats became."""
    rows = []
    for record in sorted(np.unique(beats.record)):
        at = beats.record == record
        row = {"model": tag, "record": record, **se_p(beats.y[at], pred[at], classes)}
        worst = min(((row[f"Se_{c}"], c) for c in PROTOCOL_CLASSES if row[f"n_{c}"] > 0), default=(np.nan, ""))
        row["worst_class"], row["worst_Se"] = worst[1], worst[0]
        rows.append(row)
    return pd.DataFrame(rows)


def protocol_report(models_root: str | Path = "models", data: str | Path | None = None,
                    out: str | Path = "results/ds1ds2", log=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every ds1ds2 model folder on DS2; write ``table.csv`` (with the published rows) and ``per_record.csv``."""
    # heartbeat.evaluation.evaluate brings torch: only where this function runs
    from heartbeat.evaluation.evaluate import model_splits

    rows, records = [], []
    for model, test, ds in model_splits(models_root, "test", data, where=lambda m: m.info.split == "ds1ds2"):
        if ds.synthetic:
            raise DataError(f"{model.tag}: no MIT-BIH records found, so DS2 cannot be rebuilt; give --data")
        pred = model.predict_beats(test)
        rows.append({"model": model.tag, "family": model.family, "window": model.inputs.window,
                     "rhythm": model.inputs.rhythm, **se_p(test.y, pred, model.classes),
                     "records_DS1": len(set(ds.train.record)), "records_DS2": len(set(test.record))})
        records.append(per_record(model.tag, test, pred, model.classes))
        r = rows[-1]

        log_look("heartbeat protocol", model.tag, model.config, r)  # DS2 is its test side: a look, logged
        log(f"  {model.tag:<20} DS2 macro Se {r['macro_Se']:.3f}  " + "  ".join(
            f"{c} Se {r[f'Se_{c}']:.3f} +P {r[f'P_{c}']:.3f}" for c in PROTOCOL_CLASSES))
    if not rows:
        raise NotFoundError(f"no model in {models_root} was trained with --split ds1ds2")
    ours = pd.DataFrame(rows).sort_values("macro_Se", ascending=False)
    ds1 = ", ".join(f"{n} of 22" for n in sorted(set(ours["records_DS1"])))
    table = pd.concat([ours.assign(source=f"this project ({ds1} DS1 records)"),
                       pd.DataFrame(PUBLISHED).assign(source="published (22 DS1 records)")], ignore_index=True)
    per = pd.concat(records, ignore_index=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table.csv", index=False, float_format="%.4f")
    per.to_csv(out / "per_record.csv", index=False, float_format="%.4f")
    log(f"wrote {out / 'table.csv'} and {out / 'per_record.csv'}")
    return table, per
