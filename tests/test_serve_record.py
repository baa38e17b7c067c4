"""The service on raw signals: /predict/record, and the rhythm a rhythm model needs on /predict."""

from __future__ import annotations

import numpy as np
import pytest
from test_recording import synthetic_ecg
from test_serve import ADMIN_KEY, Server

import heartbeat as hb
from heartbeat.data import BeatSet, write_beats
from heartbeat.data.rhythm import RHYTHM_NAMES, rhythm_features
from heartbeat.data.synthetic import synthetic_beats

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rhythm_server(tmp_path_factory):
    """A tiny CNN1D trained with rhythm (on synthetic beats given an RR series), served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("serve-rhythm")
    beats = synthetic_beats(2000, seed=0)
    times = np.cumsum(np.where(beats.y == 1, 0.45, 0.85))  # S beats come early
    with_rhythm = BeatSet(X=beats.X, y=beats.y, task="mitbih", record=np.arange(len(beats)) % 4,
                          rhythm=rhythm_features(times), rhythm_names=RHYTHM_NAMES)
    data = write_beats(with_rhythm, root / "beats.parq")
    model = root / "tiny-rhythm"
    hb.train("gin/models/cnn1d.gin", {"fit.beats_per_epoch": 1000, "CNN1D.channels": 8, "BeatInput.rhythm": True},
             data=hb.load_data(data), out=model, epochs=1)
    srv = Server(model, root / "serve.db", root, "--max-record-seconds", "120").start()
    r = srv.call("POST", "/users", ADMIN_KEY, json={"name": "nina", "role": "clinician"})
    srv.key = r.json()["api_key"]
    yield srv
    srv.stop()


def test_a_raw_segment_needs_credentials(rhythm_server):
    x, _ = synthetic_ecg(seconds=20)
    r = rhythm_server.call("POST", "/predict/record", json={"samples": x.tolist(), "fs": 360})
    assert r.status_code == 401


def test_a_raw_segment_gives_every_beat_stored_and_open_to_feedback(rhythm_server):
    x, truth = synthetic_ecg(seconds=60)
    r = rhythm_server.call("POST", "/predict/record", rhythm_server.key,
                           json={"samples": np.round(x, 5).tolist(), "fs": 360, "lead": "MLII"})
    assert r.status_code == 200, r.text
    out = r.json()
    times = np.array([b["time_s"] for b in out["beats"]])
    assert abs(len(times) - len(truth)) <= 1  # a beat cut off by the segment's end may be left out
    assert np.abs(times[:, None] - truth[None, :] / 360).min(axis=1).max() < 0.05  # each at a true R peak
    assert sum(out["summary"]["per_class"].values()) == out["summary"]["beats"] == len(out["beats"])
    assert out["lead"] == "MLII" and out["seconds"] == pytest.approx(60.0)
    first = out["beats"][0]
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    fb = rhythm_server.call("POST", "/feedback", rhythm_server.key, json={"prediction_id": first["id"], "label": "N"})
    assert fb.status_code == 200, fb.text


def test_the_service_and_heartbeat_predict_flag_the_same_beats_abnormal(rhythm_server):
    """One rule for "abnormal" (heartbeat.inference.operating.abnormal): /predict/record and the CLI's classify agree
    beat by beat, and the flag follows the class unless a threshold is asked for."""
    from heartbeat.inference.modelio import load_model
    from heartbeat.inference.recording import Recording, check_signal, classify, detect_peaks

    x, _ = synthetic_ecg(seconds=60)
    x = np.round(x, 5)
    out = rhythm_server.call("POST", "/predict/record", rhythm_server.key,
                             json={"samples": x.tolist(), "fs": 360, "lead": "MLII"}).json()
    assert out["threshold"] is None
    served = [b["abnormal"] for b in out["beats"]]
    assert served == [b["predicted_class"] != "N" for b in out["beats"]]
    model = load_model(rhythm_server.model)
    rec = check_signal(Recording(x.astype(np.float64), 360.0, "MLII", "the segment", []))
    table, summary = classify(model, rec, detect_peaks(rec.signal, rec.fs))
    assert list(table["abnormal"]) == served and list(table["class"]) == [b["predicted_class"] for b in out["beats"]]
    assert summary["abnormal_burden_percent"] == pytest.approx(out["summary"]["abnormal_burden_percent"])
    low, _ = classify(model, rec, detect_peaks(rec.signal, rec.fs), threshold=0.0)
    assert low["abnormal"].all()  # P(not N) >= 0 for every beat: the threshold, not the class, decides


@pytest.mark.parametrize("body, status, says", [
    ({"samples": [0.0] * 3600, "fs": 360}, 422, "flat"),
    ({"samples": [0.1, 0.2] * 1000, "fs": 0.5}, 422, "out of range"),
    ({"samples": [0.1, 0.2] * 90_000, "fs": 360}, 422, "at most 120 s"),
    ({"samples": [0.1, 0.3] * 200, "fs": 360}, 422, "shorter than a few beats"),
])
def test_a_bad_segment_is_a_422_that_says_why(rhythm_server, body, status, says):
    r = rhythm_server.call("POST", "/predict/record", rhythm_server.key, json=body)
    assert r.status_code == status and says in r.text, r.text


@pytest.mark.parametrize("fs", [50, 1000])
def test_a_wrong_sampling_rate_is_a_422_naming_the_likely_rate(rhythm_server, fs):
    x, _ = synthetic_ecg(seconds=15)  # 15 s at 360 Hz: 108 s at 50 Hz, within the server's 120 s
    r = rhythm_server.call("POST", "/predict/record", rhythm_server.key,
                           json={"samples": np.round(x, 4).tolist(), "fs": fs})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "fs"] and "implausible" in detail["msg"] and "360 Hz" in detail["msg"]


def test_the_lead_is_checked_as_the_cli_checks_it(rhythm_server, tmp_path):
    from heartbeat.data import DataError
    from heartbeat.inference.recording import read_recording

    x, _ = synthetic_ecg(seconds=20)
    np.save(tmp_path / "seg.npy", x)
    with pytest.raises(DataError) as cli:
        read_recording(tmp_path / "seg.npy", fs=360, lead="V9")
    r = rhythm_server.call("POST", "/predict/record", rhythm_server.key,
                           json={"samples": np.round(x, 4).tolist(), "fs": 360, "lead": "V9"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "lead"]
    said = r.json()["detail"][0]["msg"]
    assert said.replace("lead: the segment: ", "") == str(cli.value).replace(f"{tmp_path / 'seg.npy'}: ", "")
    ok = rhythm_server.call("POST", "/predict/record", rhythm_server.key,
                            json={"samples": np.round(x, 4).tolist(), "fs": 360, "lead": "mlii"})
    assert ok.status_code == 200 and ok.json()["lead"] == "MLII" == read_recording(tmp_path / "seg.npy", fs=360,
                                                                                   lead="mlii").lead


def test_a_rhythm_model_asks_for_the_rhythm_of_a_bare_beat(rhythm_server):
    beat = [0.5] * 187
    r = rhythm_server.call("POST", "/predict", rhythm_server.key, json={"beat": beat})
    assert r.status_code == 422 and "rhythm" in r.json()["message"] and "/predict/record" in r.json()["message"]
    ok = rhythm_server.call("POST", "/predict", rhythm_server.key, json={"beat": beat, "rhythm": [0.8] * 8})
    assert ok.status_code == 200, ok.text
    two = rhythm_server.call("POST", "/predict/batch", rhythm_server.key,
                             json={"beats": [beat, beat], "rhythms": [[0.8] * 8]})
    assert two.status_code == 422 and "one rhythm per beat" in two.text
