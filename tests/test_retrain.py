"""``heartbeat retrain``: a model folder retrained on its data plus the labelled beats of a service database,
registered in MLflow (a SQLite store in tmp), then served from the registry."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

import heartbeat as hb
from heartbeat.data import load_dataset, valid_split, write_beats
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.inference.modelio import ModelInfo, folder_version, load_model
from heartbeat.registry import fetch_model_dir
from heartbeat.serve.__main__ import main as serve_main
from heartbeat.serve.db import (
    Feedback,
    Prediction,
    RetrainRequest,
    User,
    beat_bytes,
    beat_hash,
    make_engine,
    session_factory,
)
from heartbeat.serve.retrain import original_dataset

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow

ADMIN_KEY = "hbk_" + "retrain-admin-key-0123456789abcdefghijk"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    data = write_beats(synthetic_beats(3000, seed=0), root / "beats.parq")
    out = root / "models" / "tiny"
    hb.train("gin/models/cnn1d.gin", {"fit.beats_per_epoch": 2000, "CNN1D.channels": 8}, data=hb.load_data(data),
             out=out, epochs=1)
    return root, data, out


@pytest.fixture()
def feedback_db(tmp_path):
    """A service database with 30 predictions of which 25 labelled (true labels), and an open request."""
    beats = synthetic_beats(200, seed=5)
    pick = np.concatenate([np.flatnonzero(beats.y == c)[:6] for c in range(5)])  # 6 of each class
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    sessions = session_factory(make_engine(url))
    with sessions.begin() as s:
        user = User(name="nina", role="clinician")
        s.add(user)
        s.flush()
        preds = [Prediction(model_version="tiny@x", task="mitbih", input_hash=beat_hash(beats.X[i]),
                            beat=beat_bytes(beats.X[i]), probabilities=[1, 0, 0, 0, 0], predicted=0, abnormal=False)
                 for i in pick]
        s.add_all(preds)
        s.flush()
        s.add_all([Feedback(prediction_id=p.id, label=int(beats.y[i]), user_id=user.id)
                   for p, i in zip(preds[:25], pick[:25])])
        s.add(RetrainRequest(model_version="tiny@x", reason="test", recall_macro=0.1, labelled=25))
    return url, beats.X[pick[:25]], beats.y[pick[:25]]


def test_retrain_adds_the_labelled_beats_and_registers_a_version(trained, feedback_db, tmp_path, monkeypatch, capsys):
    root, data, model = trained
    url, X_fb, y_fb = feedback_db
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("HEARTBEAT_DATA", str(root))  # the data root: the record names beats.parq below it
    out = tmp_path / "retrained"
    assert serve_main(["retrain", "--model", str(model), "--db", url, "--out", str(out), "--register", "hb-test",
                       "--epochs", "1", "--threads", "1", "--feedback-repeat", "2"]) == 0
    printed = capsys.readouterr().out
    assert "feedback beats: 25" in printed and "registered hb-test/1" in printed

    old = json.loads((model / "metrics.json").read_text())
    info = json.loads((out / "metrics.json").read_text())
    train, valid = valid_split(load_dataset(data, seed=old["seed"]), old["valid_size"], old["seed"])
    assert info["feedback_beats"] == 25 and info["train_beats"] == len(train) + 2 * 25
    assert info["feedback_classes"] == {c: int((y_fb == i).sum()) for i, c in enumerate("NSVFQ")}
    assert info["valid"]["n"] == len(valid) == old["valid"]["n"]  # validated on the same split as before
    assert info["retrained_from"]["version"] == folder_version(model)
    assert info["data"] == old["data"] and info["seed"] == old["seed"]
    config = (out / "config.gin").read_text()
    assert "CNN1D.channels = 8" in config and "fit.beats_per_epoch = 2000" in config
    assert json.loads((out / "reference.json").read_text())["n"] == info["train_beats"]
    assert load_model(out).predict_proba(X_fb).shape == (25, 5)

    fetched = fetch_model_dir("hb-test/1")
    assert (fetched / "config.gin").read_text() == config
    engine = make_engine(url)
    with session_factory(engine)() as s:
        (req,) = s.query(RetrainRequest).all()
    assert req.status == "done" and "hb-test/1" in req.resolution and req.resolved_at is not None

    # the new version served from the registry
    port = free_port()
    env = {**os.environ, "HEARTBEAT_ADMIN_KEY": ADMIN_KEY}
    log = tmp_path / "server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "heartbeat.serve", "serve", "--registry", "hb-test",
                                 "--port", str(port), "--db", f"sqlite:///{tmp_path / 'registry-serve.db'}",
                                 "--threads", "1"], cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(base + "/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert proc.poll() is None, log.read_text()[-3000:]
        served = requests.get(base + "/model", headers={"X-API-Key": ADMIN_KEY}, timeout=10).json()
        assert served["version"] == "hb-test/1" and served["source"] == "registry hb-test/1"
        assert served["feedback_beats"] == 25 and served["config"] == config
        assert requests.get(base + "/health", timeout=5).json()["model_version"] == "hb-test/1"
    finally:
        proc.terminate()
        proc.wait(10)


def test_without_feedback_and_with_moved_data(trained, tmp_path, capsys, monkeypatch):
    root, data, model = trained
    moved = tmp_path / "moved"
    shutil.copytree(model, moved)
    info = json.loads((moved / "metrics.json").read_text())
    info["data_path"] = "gone.parq"
    (moved / "metrics.json").write_text(json.dumps(info))
    monkeypatch.setenv("HEARTBEAT_DATA", str(root))
    assert serve_main(["retrain", "--model", str(moved), "--out", str(tmp_path / "x"), "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "gone.parq" in err and "give --data PATH" in err
    assert serve_main(["retrain", "--model", str(moved), "--db", f"sqlite:///{tmp_path / 'none.db'}",
                       "--epochs", "1"]) == 1
    assert "no such SQLite file" in capsys.readouterr().err
    out = tmp_path / "plain"
    assert serve_main(["retrain", "--model", str(moved), "--data", str(data), "--out", str(out), "--epochs", "1",
                       "--threads", "1"]) == 0
    assert json.loads((out / "metrics.json").read_text())["feedback_beats"] == 0


def test_the_original_data_is_found_from_metrics_json(trained, monkeypatch):
    root, data, model = trained
    info = json.loads((model / "metrics.json").read_text())
    # recorded relative to the data root, never as a path of the machine that trained it
    assert info["data_path"] == "beats.parq" and str(root) not in json.dumps(info)
    monkeypatch.setenv("HEARTBEAT_DATA", str(root))
    ds = original_dataset(ModelInfo.read(model))
    assert ds.source.startswith("<data>/beats.parq") and not ds.synthetic and len(ds.train) + len(ds.test) == 3000
    synthetic = original_dataset(ModelInfo.from_dict({**info, "synthetic": True,
                                                      "data": "built-in synthetic beats (seed 0)"}))
    assert synthetic.synthetic and len(synthetic.train) + len(synthetic.test) >= 20000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
