"""Classification metrics: pure functions of whole prediction arrays, on scikit-learn.

Never averaged over batches. A metric's name here is its column name everywhere
(MLflow, ``trials.csv``, ``metrics.json``). Classes absent from ``y_true`` have no recall:
they get NaN (reported as absent), and macro averages are taken over the classes present.

The default search objective is ``f2_macro``: the macro F-beta with beta 2 weights recall
four times as much as precision, because in screening a missed sick beat costs more than
a false alarm. "Weighted recall" is deliberately absent: it always equals accuracy.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, fbeta_score, precision_recall_fscore_support

from heartbeat.choices import OBJECTIVES
from heartbeat.errors import ConfigError


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    return confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))


def recall_per_class(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Recall of each class (the diagonal of the row-normalised confusion matrix); NaN where absent."""
    _, recall, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(num_classes), zero_division=np.nan)
    return recall


def abnormal_sensitivity(y_true, y_pred) -> float:
    """Recall of 'any abnormal class' against normal (class 0): a missed sick beat, whatever its class."""
    sick = np.asarray(y_true) != 0
    return float(np.mean(np.asarray(y_pred)[sick] != 0)) if sick.any() else float("nan")


def classification_metrics(y_true, y_pred, classes: tuple[str, ...] | list[str]) -> dict[str, float]:
    """Every metric of the project as one flat dict of floats (NaN for a class absent from y_true)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = len(classes)
    labels = np.arange(k)
    present = labels[np.isin(labels, y_true)]
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=np.nan)
    out = {
        "n": float(len(y_true)),
        "accuracy": accuracy_score(y_true, y_pred),
        "recall_macro": float(np.nanmean(recall[present])) if len(present) else float("nan"),
        # a class never predicted has undefined precision: counted as 0 in the macro, as sklearn does
        "precision_macro": float(np.mean(np.nan_to_num(precision[present], nan=0.0))) if len(present) else float("nan"),
        "f1_macro": f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0),
        "f1_micro": f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=0),
        "f2_macro": fbeta_score(y_true, y_pred, beta=2, labels=present, average="macro", zero_division=0),
        "abnormal_sensitivity": abnormal_sensitivity(y_true, y_pred),
    }
    for i, c in enumerate(classes):
        out[f"recall_{c}"] = float(recall[i])
        out[f"precision_{c}"] = float(precision[i])
        out[f"f1_{c}"] = float(f1[i])
    return {k_: float(v) for k_, v in out.items()}


def objective(name: str, y_true, y_pred, classes) -> float:
    """The search objective ``name`` (one of OBJECTIVES); higher is better."""
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown objective {name!r}; expected one of {OBJECTIVES}")
    return classification_metrics(y_true, y_pred, classes)[name]


def output_row(tag: str, y_true, y_pred, num_classes: int) -> dict[str, float | str]:
    """One row of ``results/output.csv`` in the course's column names.

    ``TP_i`` holds the recall (true-positive rate) of class ``i``, as the course names it, not a count.
    """
    classes = tuple(str(i) for i in range(num_classes))
    m = classification_metrics(y_true, y_pred, classes)
    row = {
        "modeltag": tag,
        "F1scoremicro": m["f1_micro"],
        "F1scoremacro": m["f1_macro"],
        "Recallmacro": m["recall_macro"],
        "Precisionmacro": m["precision_macro"],
        "F2scoremacro": m["f2_macro"],
        "Accuracy": m["accuracy"],
    }
    row.update({f"TP_{i}": m[f"recall_{i}"] for i in range(num_classes)})
    return row
