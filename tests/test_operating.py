"""The recall-first operating point: weights that reach target sensitivities, stored in the folder, used everywhere."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import heartbeat as hb
from heartbeat.cli import main
from heartbeat.data import write_beats
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.errors import ConfigError
from heartbeat.inference.modelio import load_model
from heartbeat.inference.operating import OPERATING_FILE, choose_weights, decide, parse_targets, recall_precision

CLASSES = ("N", "S", "V", "F", "Q")


def test_weights_reach_the_target_and_cost_precision():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(900, int), np.ones(100, int)]
    P = np.zeros((1000, 5))
    # S beats look half like N: at argmax only those with p_S > 0.5 are found
    P[:, 1] = np.r_[rng.uniform(0.0, 0.4, 900), rng.uniform(0.1, 0.9, 100)]
    P[:, 0] = 1 - P[:, 1]
    se0 = recall_precision(y, P.argmax(1), 5)[0][1]
    w, after = choose_weights(y, P, CLASSES, {"S": 0.95}, max_loss=1.0)
    assert se0 < 0.7 and after["se"]["S"] >= 0.95 and after["reached"] == {"S": True}
    assert w[1] > 1 and (w[[0, 2, 3, 4]] == 1).all()
    assert after["ppv"]["S"] < 1.0  # found more, at the cost of false alarms
    # a bound on what the others may lose holds the weight back
    w2, bounded = choose_weights(y, P, CLASSES, {"S": 0.95}, max_loss=0.01)
    assert w2[1] < w[1] and bounded["se"]["N"] >= recall_precision(y, P.argmax(1), 5)[0][0] - 0.01
    assert bounded["reached"] == {"S": False}
    # the smallest weight that reaches it: one grid step less does not
    smaller = w.copy()
    smaller[1] /= 1.0926  # the grid's ratio (200 ** (1/60))
    assert recall_precision(y, decide(P, smaller), 5)[0][1] < 0.95


def test_targets_are_checked():
    assert parse_targets(["S=0.9", "V=0.95"], CLASSES) == {"S": 0.9, "V": 0.95}
    for bad, message in ((["X=0.9"], "not one of"), (["S0.9"], "CLASS=SENSITIVITY"), (["S=2"], r"\(0, 1\]"),
                         (["S=high"], "not a number")):
        with pytest.raises(ConfigError, match=message):
            parse_targets(bad, CLASSES)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("op")
    data = write_beats(synthetic_beats(2500, seed=0), root / "beats.parq")
    out = root / "tiny"
    hb.train("gin/models/cnn1d.gin", {"CNN1D.channels": 8, "fit.beats_per_epoch": 500, "fit.batch_size": 32},
             data=hb.load_data(data), out=out, epochs=1)
    return data, out


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
def test_operate_round_trips_through_the_folder_torch_and_onnx(tiny, tmp_path, capsys):
    data, src = tiny
    out = tmp_path / "m"
    shutil.copytree(src, out)
    beats = synthetic_beats(600, seed=4)
    plain = load_model(out).predict(beats.X)
    assert main(["operate", "--model", str(out), "--data", str(data), "--target", "S=0.99", "--target",
                 "F=0.99"]) == 0
    printed = capsys.readouterr().out
    assert "operating point chosen on the validation split" in printed
    stored = json.loads((out / OPERATING_FILE).read_text())
    assert set(stored["weights"]) == set(CLASSES) and stored["targets"] == {"S": 0.99, "F": 0.99}
    model = load_model(out)
    assert model.weights is not None and model.weights[1] == stored["weights"]["S"]
    labels = model.predict(beats.X)
    np.testing.assert_array_equal(labels, decide(model.predict_proba(beats.X), model.weights))
    if model.weights[1] > 1:
        assert (labels == 1).sum() >= (plain == 1).sum()
    # ONNX decides the same way, from the same folder
    assert main(["export", "--model", str(out)]) == 0
    onnx = load_model(out, runtime="onnx")
    np.testing.assert_array_equal(onnx.weights, model.weights)
    agree = (onnx.predict(beats.X) == labels).mean()
    assert agree > 0.99
    # choosing again needs --force; --clear goes back to argmax
    assert main(["operate", "--model", str(out), "--data", str(data)]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["operate", "--model", str(out), "--clear"]) == 0
    np.testing.assert_array_equal(load_model(out).predict(beats.X), plain)


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
def test_a_broken_operating_point_is_a_clear_error(tiny, tmp_path):
    _, src = tiny
    out = tmp_path / "m"
    shutil.copytree(src, out)
    (out / OPERATING_FILE).write_text(json.dumps({"weights": {"N": 1.0}}))
    with pytest.raises(ValueError, match="not an operating point"):
        load_model(out)
    (out / OPERATING_FILE).write_text(json.dumps({"weights": dict.fromkeys(CLASSES, -1.0)}))
    with pytest.raises(ValueError, match="finite and > 0"):
        load_model(out)


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
def test_the_service_labels_at_the_folder_operating_point(tiny, tmp_path):
    """The served label is argmax(p * w) with the folder's weights, as predict's is."""
    from fastapi.testclient import TestClient

    from heartbeat.inference.operating import write
    from heartbeat.serve.app import Settings, create_app

    _, src = tiny
    out = tmp_path / "m"
    shutil.copytree(src, out)
    beats = synthetic_beats(200, seed=6).X
    P = load_model(out).predict_proba(beats)
    weights = np.array([1.0, 50.0, 1.0, 1.0, 1.0])  # calls S wherever it has any weight at all
    assert (decide(P, weights) != P.argmax(1)).any()
    write(out, CLASSES, weights, {"S": 0.99}, "a test", {}, {})
    key = "hbk_" + "a" * 43
    app = create_app(Settings(out, db_url=f"sqlite:///{tmp_path / 'op.db'}", admin_key=key))
    with TestClient(app) as client:
        r = client.post("/predict/batch", headers={"X-API-Key": key}, json={"beats": beats[:50].tolist()})
    assert r.status_code == 200, r.text
    served = [b["predicted_class"] for b in r.json()["predictions"]]
    assert served == [CLASSES[i] for i in decide(P[:50], weights)]


def test_abnormal_is_the_label_unless_a_threshold_is_asked_for():
    from heartbeat.inference.operating import abnormal

    P = np.array([[0.6, 0.3, 0.1], [0.4, 0.5, 0.1], [0.9, 0.05, 0.05]])
    labels = np.array([0, 1, 2])  # e.g. at an operating point that moved the third beat off N
    assert abnormal(P, labels).tolist() == [False, True, True]  # the flag never disagrees with the class
    assert abnormal(P, labels, threshold=0.35).tolist() == [True, True, False]  # P(not N) = 0.4, 0.6, 0.1
    assert abnormal(P, labels, threshold=0.0).all() and not abnormal(P, labels, threshold=1.0).any()
    with pytest.raises(ConfigError, match="expected a probability"):  # bad input, exit 1 at any entry point
        abnormal(P, labels, threshold=1.5)


def test_the_tradeoff_sweeps_one_weight_and_marks_the_operating_point():
    from heartbeat.inference.operating import recall_precision, tradeoff

    rng = np.random.default_rng(0)
    y = rng.choice(3, size=400, p=[0.8, 0.1, 0.1])
    P = rng.dirichlet(np.ones(3), size=400)
    P[np.arange(400), y] += 0.4
    P /= P.sum(1, keepdims=True)
    held = np.array([1.0, 2.0, 1.0])
    curve = tradeoff(y, P, ("N", "S", "V"), held, of=("S",), grid=(1.0, 3.0, 10.0))
    assert sorted(curve["weight"]) == sorted({0.1, 1 / 3, 1.0, 2.0, 3.0, 10.0})
    at = curve[curve["at_point"]]
    assert len(at) == 1 and at["weight"].iloc[0] == 2.0
    se, ppv = recall_precision(y, (P * held).argmax(1), 3)
    assert at["Se"].iloc[0] == pytest.approx(se[1]) and at["P"].iloc[0] == pytest.approx(ppv[1])
    # more weight on S: S is called more, so its Se never falls
    assert curve.sort_values("weight")["Se"].is_monotonic_increasing
