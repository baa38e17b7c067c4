"""The EC57 comparison: statistics against counts made by hand, the learning period, the report's shape,
the endtoend and protocol views, and one real record end to end."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from heartbeat.evaluation import ec57
from heartbeat.evaluation.ec57 import EXTRA, MISSED, Comparison, F, N, Q, S, V
from heartbeat.inference.modelinfo import ModelInfo

FS = 360.0  # 150 ms = 54 samples

#: (reference sample, class, detection sample or None, class called) -- what each line tests
PAIRS = [
    (1000, N, 1010, N),    # Nn
    (2000, V, 2054, V),    # Vv, exactly 150 ms away: a match
    (3000, V, 3000, S),    # a V called S: a VEB miss and an SVEB false positive
    (4000, N, 4055, N),    # 151 ms away: N missed, and an extra detection called n
    (5000, S, 5000, S),    # Ss
    (6000, S, None, None),  # S missed
    (7000, F, 7000, V),    # Fv: neither a VEB TP nor FP
    (8000, Q, 8000, S),    # Qs: neither an SVEB TP nor FP
    (9000, N, 9000, V),    # Nv: a VEB false positive
    (10000, N, 10000, N),  # Nn
    (11000, F, 11000, S),  # Fs: an SVEB false positive
]
EXTRA_V = 9500             # a detection matching no beat, called v


def synthetic() -> Comparison:
    reference = [r for r, *_ in PAIRS]
    truth = [t for _, t, *_ in PAIRS]
    det = sorted([(d, c) for *_, d, c in PAIRS if d is not None] + [(EXTRA_V, V)])
    return Comparison.of("syn", FS, reference, truth, [d for d, _ in det], [c for _, c in det],
                         at_annotated=truth)


def test_matching_window_is_150_ms_inclusive():
    ref_idx, det_idx = ec57.match(np.array([1000, 2000, 3000]), np.array([1054, 2055, 2990]), FS)
    assert ref_idx.tolist() == [0, 2] and det_idx.tolist() == [0, 2]
    assert ec57.match(np.array([1, 2]), np.array([], dtype=int), FS)[0].size == 0


def test_class_matrix_counted_by_hand():
    m = synthetic().matrix()
    expected = np.zeros((6, 6), dtype=int)
    expected[N, N], expected[N, V], expected[N, MISSED] = 2, 1, 1
    expected[S, S], expected[S, MISSED] = 1, 1
    expected[V, V], expected[V, S] = 1, 1
    expected[F, V], expected[F, S] = 1, 1
    expected[Q, S] = 1
    expected[EXTRA, N], expected[EXTRA, V] = 1, 1
    assert (m == expected).all()


def test_ec57_statistics_counted_by_hand():
    st = ec57.ec57_stats(synthetic().matrix())
    # QRS: 11 beats, 2 missed (4000, 6000), 2 extra (4055, 9500)
    assert (st["qrs"]["tp"], st["qrs"]["fn"], st["qrs"]["fp"]) == (9, 2, 2)
    assert st["qrs"]["se"] == pytest.approx(9 / 11) and st["qrs"]["ppv"] == pytest.approx(9 / 11)
    # VEB: TP Vv=1; FN Vs=1; FP Nv + extra v = 2 (Fv not counted);
    # TN = Nn 2 + Ss 1 + Fs 1 + Qs 1 + extra n 1 = 6
    v = st["veb"]
    assert (v["tp"], v["fn"], v["fp"], v["tn"]) == (1, 1, 2, 6)
    assert (v["se"], v["ppv"], v["fpr"]) == pytest.approx((1 / 2, 1 / 3, 2 / 8))
    # SVEB: TP Ss=1; FN S missed=1; FP Vs + Fs = 2 (Qs not counted);
    # TN = Nn 2 + Nv 1 + Vv 1 + Fv 1 + extra n 1 + extra v 1 = 7
    s = st["sveb"]
    assert (s["tp"], s["fn"], s["fp"], s["tn"]) == (1, 1, 2, 7)
    assert (s["se"], s["ppv"], s["fpr"]) == pytest.approx((1 / 2, 1 / 3, 2 / 9))


def test_per_class_table_counts_matched_beats_only():
    cl = ec57.class_stats(synthetic().matrix())
    assert (cl["N"]["se"], cl["N"]["ppv"], cl["N"]["n"]) == pytest.approx((2 / 3, 1.0, 3))
    assert (cl["S"]["se"], cl["S"]["ppv"]) == pytest.approx((1.0, 1 / 4))   # Ss of Ss, Vs, Fs, Qs
    assert (cl["V"]["se"], cl["V"]["ppv"]) == pytest.approx((1 / 2, 1 / 3))  # Vv of Nv, Vv, Fv
    assert cl["F"]["se"] == 0 and np.isnan(cl["F"]["ppv"]) and np.isnan(cl["Q"]["ppv"])
    perfect = ec57.class_stats(synthetic().matrix_annotated())
    assert all(perfect[c]["se"] == 1 and perfect[c]["ppv"] == 1 for c in ec57.CLASSES)


def test_learning_period_leaves_the_first_five_minutes_out():
    start = int(ec57.LEARNING_S * FS)
    c = Comparison.of("lp", FS, [50_000, start - 10, start + 50_000, start + 100_000], [N, V, V, N],
                      [100_000, start + 10, start + 40_000, start + 100_000], [N, V, V, N])
    # reference 50000 missed (before: out), start-10 matched by start+10 (its reference is before: out),
    # extra at 100000 (before: out), start+50000 missed (in), extra at start+40000 (in), start+100000 Nn (in)
    m = c.matrix(ec57.LEARNING_S)
    assert m[N, N] == 1 and m[V, MISSED] == 1 and m[EXTRA, V] == 1 and m.sum() == 3
    whole = c.matrix()
    assert whole[V, V] == 1 and whole[N, MISSED] == 1 and whole[EXTRA, N] == 1 and whole.sum() == 6
    r = ec57.report([c], ec57.LEARNING_S)
    assert r["learning_period_s"] == 300 and r["gross"]["veb"]["se"] == 0 and r["per_record"][0]["beats"] == 2


def test_average_is_over_the_records_where_defined():
    no_v = Comparison.of("b", FS, [1000, 2000], [N, S], [1000, 2000], [N, N])
    r = ec57.report([synthetic(), no_v])
    assert r["average"]["veb"]["se"] == pytest.approx(1 / 2) and r["average"]["veb"]["records_se"] == 1
    assert r["average"]["sveb"]["se"] == pytest.approx((1 / 2 + 0) / 2) and r["average"]["sveb"]["records_se"] == 2
    assert r["average"]["qrs"]["se"] == pytest.approx((9 / 11 + 1) / 2)
    assert r["gross"]["qrs"]["se"] == pytest.approx(11 / 13)  # pooled counts


def test_report_json_shape_and_files(tmp_path):
    r = ec57.report([synthetic()], model="m", data="d")
    doc = json.loads(json.dumps(ec57.to_json(r)))  # strict JSON: NaN became null
    for side in ("gross", "average"):
        assert set(doc[side]) >= {"qrs", "veb", "sveb"}
        for g in ("qrs", "veb", "sveb"):
            assert {"se", "ppv"} <= set(doc[side][g])
        assert "fpr" in doc[side]["veb"] and "fpr" in doc[side]["sveb"]
    assert list(doc["classes"]) == list(ec57.CLASSES) and all({"se", "ppv"} <= set(v) for v in doc["classes"].values())
    assert doc["classes"]["F"]["ppv"] is None
    assert isinstance(doc["per_record"], list) and doc["per_record"][0]["record"] == "syn"
    assert doc["matrix"]["rows"][-1] == "extra" and doc["matrix"]["columns"][-1] == "missed"
    assert "classes_annotated" in doc and "de Chazal" in doc["comparable"]["classes_annotated"]
    out = ec57.write(r, tmp_path / "out")
    assert json.loads((out / "report.json").read_text())["gross"]["qrs"]["tp"] == 9
    import pandas as pd

    assert pd.read_csv(out / "matrix.csv", index_col=0).loc["V", "S"] == 1
    assert pd.read_csv(out / "per_record.csv")["veb_fpr"].iloc[0] == pytest.approx(0.25)
    text = ec57.text(r)
    assert "VEB" in text and "de Chazal" in text and "missed" in text


def test_vf_episodes_and_non_beats_are_left_out(tmp_path):
    import wfdb

    sym = ["N", "+", "[", "!", "V", "]", "V", "x", "N"]
    at = np.array([100, 100, 300, 400, 500, 600, 800, 900, 1000])
    wfdb.wrann("r", "atr", at, np.array(sym), write_dir=str(tmp_path), fs=360)
    samples, labels, episodes = ec57.reference_beats(tmp_path, "r")
    assert samples.tolist() == [100, 500, 800, 1000] and labels.tolist() == [N, V, V, N]
    assert episodes == [(300, 600)] and ec57.outside(samples, episodes).tolist() == [True, False, True, True]


class FakeModel:
    tag, classes, info = "fake", ec57.CLASSES, ModelInfo(task="mitbih", split="ds1ds2")


def test_endtoend_and_protocol_are_views_of_ec57(monkeypatch):
    from heartbeat.evaluation import endtoend
    from heartbeat.evaluation.protocol import se_p

    c = synthetic()
    monkeypatch.setattr(endtoend, "compare_records", lambda model, folder, records, log=print: [c])
    per, summary = endtoend.end_to_end(FakeModel(), "unused", ["syn"])
    g = ec57.ec57_stats(c.matrix())["qrs"]
    assert (summary["qrs_Se"], summary["qrs_P"], summary["missed"], summary["extra"]) == (g["se"], g["ppv"], 2, 2)
    assert per.loc[0, "matched"] == 9 and summary["annotated"] == 11
    # matched beats, the Q beat left out as in the protocol: V se = Vv / (Vv + Vs)
    assert summary["Se_V_detected"] == pytest.approx(1 / 2) and summary["Se_V_annotated"] == 1
    truth, pred = np.array([N, N, V, V, S, F]), np.array([N, V, V, S, S, V])
    row = se_p(truth, pred, ec57.CLASSES)
    every = np.arange(len(truth))
    cl = ec57.class_stats(ec57.class_matrix(truth, pred, every, every))
    assert all(row[f"Se_{k}"] == cl[k]["se"] or np.isnan(cl[k]["se"]) for k in "NSVF")
    assert row["P_V"] == pytest.approx(1 / 3) and row["Se_N"] == pytest.approx(1 / 2)


def test_default_records_ds2_for_a_ds1ds2_model_and_every_record_otherwise(tmp_path):
    import shutil

    from heartbeat.data.sample import sample_dir
    from heartbeat.errors import DataError

    src = sample_dir()
    assert ec57.default_records(FakeModel(), src) == ["213", "232"]  # of 208 213 217 232: DS2
    other = type("M", (), {"info": ModelInfo(task="mitbih", split="inter")})()
    assert ec57.default_records(other, src) == ["208", "213", "217", "232"]
    for ext in ("hea", "dat", "atr"):
        shutil.copy(src / f"208.{ext}", tmp_path / f"208.{ext}")
    with pytest.raises(DataError, match="no record 100"):
        ec57.compare_records(FakeModel(), tmp_path, ["100"])


@pytest.mark.slow
def test_ec57_cli_on_a_real_record(mitdb, capsys):
    from heartbeat.cli import main

    assert main(["ec57", "--model", "models/cnn1d-ds1ds2", "--data", str(mitdb), "--records", "100", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["records"] == ["100"] and len(doc["per_record"]) == 1
    g = doc["gross"]
    assert g["qrs"]["se"] > 0.99 and g["qrs"]["ppv"] > 0.99
    assert g["qrs"]["tp"] + g["qrs"]["fn"] == 2273  # record 100's annotated beats
    assert doc["classes_annotated"]["N"]["n"] == 2239 and doc["classes_annotated"]["V"]["n"] == 1
    assert doc["average"]["qrs"]["se"] == pytest.approx(g["qrs"]["se"])  # one record: average = gross
    # a look at DS2, logged to this test session's own file (conftest), not to the committed one
    looks = pd.read_csv(os.environ["HEARTBEAT_LOOKS"])
    assert looks.iloc[-1]["by"] == "heartbeat ec57" and looks.iloc[-1]["what"] == "cnn1d-ds1ds2 on 1 DS2 records"


def test_the_annotated_records_come_from_heartbeat_data_else_a_clear_error(tmp_path, monkeypatch):
    from heartbeat.commands.evaluate import annotated_folder
    from heartbeat.errors import NotFoundError

    (tmp_path / "mitdb").mkdir()
    monkeypatch.setenv("HEARTBEAT_DATA", str(tmp_path))
    assert annotated_folder(None) == tmp_path / "mitdb" and annotated_folder(str(tmp_path)) == tmp_path
    monkeypatch.setenv("HEARTBEAT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(NotFoundError, match="give --data FOLDER"):
        annotated_folder(None)
