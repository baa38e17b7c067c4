import numpy as np
import pytest

from heartbeat.metrics import abnormal_sensitivity, classification_metrics, confusion, objective, output_row

CLASSES = ("N", "S", "V", "F", "Q")


def test_hand_checked_case():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 4])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 2, 2, 4])
    m = classification_metrics(y_true, y_pred, CLASSES)
    assert m["accuracy"] == pytest.approx(7 / 10)
    # recalls: N 3/4, S 1/2, V 2/2, F 0/1, Q 1/1
    assert [m[f"recall_{c}"] for c in CLASSES] == pytest.approx([0.75, 0.5, 1.0, 0.0, 1.0])
    assert m["recall_macro"] == pytest.approx((0.75 + 0.5 + 1 + 0 + 1) / 5)
    # precisions: N 3/4, S 1/2, V 2/3, F undefined (never predicted) -> NaN per class, 0 in the macro
    assert m["precision_V"] == pytest.approx(2 / 3)
    assert np.isnan(m["precision_F"])
    assert m["precision_macro"] == pytest.approx((0.75 + 0.5 + 2 / 3 + 0 + 1) / 5)
    # any abnormal beat called abnormal: S,S,V,V,F,Q -> S->N once: 5/6
    assert m["abnormal_sensitivity"] == pytest.approx(5 / 6)
    assert m["f1_micro"] == pytest.approx(m["accuracy"])
    f2 = [(1 + 4) * p * r / (4 * p + r) if p + r else 0 for p, r in
          [(0.75, 0.75), (0.5, 0.5), (2 / 3, 1.0), (0, 0), (1, 1)]]
    assert m["f2_macro"] == pytest.approx(np.mean(f2))


def test_absent_class_is_nan_not_zero_and_excluded_from_macro():
    y_true = np.array([0, 0, 2, 2])
    y_pred = np.array([0, 1, 2, 2])
    m = classification_metrics(y_true, y_pred, CLASSES)
    assert np.isnan(m["recall_S"]) and np.isnan(m["recall_F"]) and np.isnan(m["recall_Q"])
    assert m["recall_macro"] == pytest.approx((0.5 + 1.0) / 2)


def test_confusion_and_output_row():
    y_true = np.array([0, 1, 1, 2])
    y_pred = np.array([0, 1, 2, 2])
    cm = confusion(y_true, y_pred, 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    row = output_row("m", y_true, y_pred, 3)
    assert list(row)[:7] == ["modeltag", "F1scoremicro", "F1scoremacro", "Recallmacro", "Precisionmacro",
                             "F2scoremacro", "Accuracy"]
    assert [row["TP_0"], row["TP_1"], row["TP_2"]] == pytest.approx([1.0, 0.5, 1.0])


def test_objective_selector():
    y = np.array([0, 1, 1])
    assert objective("recall_macro", y, np.array([0, 1, 0]), ("a", "b")) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unknown objective 'weighted_recall'"):
        objective("weighted_recall", y, y, ("a", "b"))
    assert np.isnan(abnormal_sensitivity(np.array([0, 0]), np.array([1, 0])))  # no sick beat: undefined
