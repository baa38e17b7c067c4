"""Raw recordings to labelled beats: detection, heartbeat predict, bad input, ONNX, the MLflow pyfunc."""

from __future__ import annotations

import json

import gin
import numpy as np
import pandas as pd
import pytest

from heartbeat.cli import main
from heartbeat.config import parse_text
from heartbeat.data import DataError
from heartbeat.inference.modelio import load_model, save_model
from heartbeat.inference.recording import Recording, check_signal, detect_peaks, match_beats, read_recording


def synthetic_ecg(fs: float = 360.0, seconds: float = 60.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An ECG-like signal with known R peaks: P, QRS and T bumps, irregular RR, noise and wander."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    beats = np.cumsum(rng.uniform(0.6, 1.1, size=int(seconds)))
    beats = beats[beats < seconds - 0.5]
    x = 0.05 * np.sin(2 * np.pi * 0.3 * t) + rng.normal(0, 0.01, len(t))
    for b in beats:
        x += 0.15 * np.exp(-((t - b + 0.18) / 0.025) ** 2)   # P
        x += 1.2 * np.exp(-((t - b) / 0.010) ** 2)           # R
        x -= 0.25 * np.exp(-((t - b - 0.03) / 0.010) ** 2)   # S
        x += 0.3 * np.exp(-((t - b - 0.3) / 0.05) ** 2)      # T
    return x, np.round(beats * fs).astype(np.int64)


def test_detection_finds_the_known_peaks():
    x, truth = synthetic_ecg()
    found = detect_peaks(x, 360.0)
    ref_idx, det_idx = match_beats(truth, found, 360.0)
    assert len(ref_idx) == len(truth) and len(det_idx) == len(found)  # Se = +P = 1
    assert np.abs(found[det_idx] - truth[ref_idx]).max() <= 0.02 * 360  # within 20 ms of the R peak


def test_nan_runs_are_imputed_and_counted():
    x, _ = synthetic_ecg(seconds=20)
    x[100:150] = np.nan
    x[1000:1010] = np.nan
    rec = check_signal(Recording(x, 360.0, "lead0", "x.npy"))
    assert np.isfinite(rec.signal).all()
    assert any("60 non-finite samples in 2 runs" in n for n in rec.notes)


@pytest.mark.parametrize("case, match", [
    ("no_fs", "give --fs"),
    ("bad_fs", "out of range"),
    ("short", "shorter than a few beats"),
    ("lead", "no lead 'V9'"),
    ("flat", "is flat"),
    ("saturated", "is saturated"),
])
def test_bad_recordings_fail_clearly_and_write_nothing(tmp_path, case, match, capsys):
    x, _ = synthetic_ecg(seconds=30)
    fs = {"no_fs": None, "bad_fs": 0.5}.get(case, 360.0)
    if case == "short":
        x = x[:360]
    if case == "flat":
        x = np.zeros_like(x)
    if case == "saturated":
        x = np.clip(x * 10, -0.5, 0.5)
    np.save(tmp_path / "rec.npy", x)
    with pytest.raises(DataError, match=match):
        read_recording(tmp_path / "rec.npy", fs=fs, lead="V9" if case == "lead" else None)
    # the CLI: exit code 1, the message, and no output folder at all
    args = ["predict", "--model", str(tmp_path / "no-model-needed"), str(tmp_path / "rec.npy"),
            "--out", str(tmp_path / "out")]
    args += ["--fs", str(fs)] if fs else []
    args += ["--lead", "V9"] if case == "lead" else []
    assert main(args) == 1
    assert not (tmp_path / "out").exists()


def test_csv_with_a_header_names_its_leads(tmp_path):
    x, _ = synthetic_ecg(seconds=20)
    pd.DataFrame({"II": x, "V1": -x}).to_csv(tmp_path / "r.csv", index=False)
    rec = read_recording(tmp_path / "r.csv", fs=360, lead="V1")
    np.testing.assert_allclose(rec.signal, -x)
    assert read_recording(tmp_path / "r.csv", fs=360).notes == ["no MLII lead (leads ['II', 'V1']): used II"]


def test_adc_counts_and_header_units_are_read_in_mv(tmp_path):
    """A CSV of raw ADC counts (with --gain, --baseline) and a WFDB header in uV give the same mV signal."""
    import wfdb

    x, _ = synthetic_ecg(seconds=20)
    counts = np.round(x * 200 + 1024)  # MIT-BIH's gain and baseline
    pd.DataFrame({"MLII": counts}).to_csv(tmp_path / "adc.csv", index=False)
    rec = read_recording(tmp_path / "adc.csv", fs=360, units="adc", gain=200, baseline=1024)
    assert rec.units == "mV"
    np.testing.assert_allclose(rec.signal, (counts - 1024) / 200)
    np.save(tmp_path / "uv.npy", x * 1000)
    np.testing.assert_allclose(read_recording(tmp_path / "uv.npy", fs=360, units="uV").signal, x)

    wfdb.wrsamp("micro", fs=360, units=["uV"], sig_name=["MLII"], p_signal=(x * 1000)[:, None], fmt=["16"],
                adc_gain=[1.0], baseline=[0], write_dir=str(tmp_path))
    rec = read_recording(tmp_path / "micro", lead="MLII")
    np.testing.assert_allclose(rec.signal, x, atol=1e-3)  # 1 uV steps
    assert rec.units == "mV" and "converted from uV to mV" in rec.notes

    with pytest.raises(DataError, match="ADC counts need --gain"):
        read_recording(tmp_path / "adc.csv", fs=360, units="adc")
    with pytest.raises(DataError, match="a WFDB header gives the units and gains itself"):
        read_recording(tmp_path / "micro", units="adc", gain=200)
    with pytest.raises(DataError, match="--gain is for --units adc"):
        read_recording(tmp_path / "adc.csv", fs=360, gain=200)
    with pytest.raises(DataError, match="expected one of mV, uV, V, adc"):
        read_recording(tmp_path / "adc.csv", fs=360, units="mv ")


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
def test_predict_reads_an_adc_csv_as_its_mv_twin(tmp_path, capsys):
    """heartbeat predict --units adc --gain --baseline: the same beats as the file in mV."""
    import heartbeat as hb
    from heartbeat.data import write_beats
    from heartbeat.data.synthetic import synthetic_beats

    model = tmp_path / "m"
    hb.train("gin/models/cnn1d.gin", {"fit.beats_per_epoch": 500, "CNN1D.channels": 8, "CNN1D.depth": 2},
             data=hb.load_data(write_beats(synthetic_beats(600, seed=0), tmp_path / "b.parq")), out=model, epochs=1)
    x, _ = synthetic_ecg(seconds=30)
    pd.DataFrame({"MLII": np.round(x, 4)}).to_csv(tmp_path / "mv.csv", index=False)
    pd.DataFrame({"MLII": np.round(x, 4) * 200 + 1024}).to_csv(tmp_path / "adc.csv", index=False)
    assert main(["predict", "--model", str(model), "--fs", "360", "--no-plot", "--out", str(tmp_path / "p"),
                 str(tmp_path / "mv.csv")]) == 0
    assert main(["predict", "--model", str(model), "--fs", "360", "--no-plot", "--out", str(tmp_path / "p"),
                 "--units", "adc", "--gain", "200", "--baseline", "1024", str(tmp_path / "adc.csv")]) == 0
    mv, adc = (pd.read_csv(tmp_path / "p" / n / "beats.csv") for n in ("mv", "adc"))
    assert len(mv) > 20 and list(mv["sample"]) == list(adc["sample"]) and list(mv["class"]) == list(adc["class"])


@pytest.fixture(scope="module")
def rhythm_model(tmp_path_factory, mitdb):
    """A small CNN1D with rhythm, trained for one short epoch on two real records."""
    from heartbeat.data.wfdb_beats import build_beats
    from heartbeat.training.fit import fit

    beats, _ = build_beats(mitdb, ["100", "208"], window="pwave")
    parse_text("fit.model = @CNN1D\nCNN1D.channels = 8\nCNN1D.depth = 3\nBeatInput.rhythm = True\n"
               "BeatInput.window = 'pwave'\nfit.epochs = 1\nfit.beats_per_epoch = 1024")
    result = fit(beats, beats)
    out = tmp_path_factory.mktemp("models") / "tiny"
    save_model(out, result.model, gin.operative_config_str(), {"task": "mitbih", "classes": list(beats.classes)},
               result.inputs)
    gin.clear_config()
    return out, beats


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
@pytest.mark.realdata
def test_predict_on_a_real_record_writes_what_it_says(rhythm_model, mitdb, tmp_path):
    model_dir, _ = rhythm_model
    assert main(["predict", "--model", str(model_dir), str(mitdb / "208"), "--out", str(tmp_path / "p")]) == 0
    folder = tmp_path / "p" / "208"
    table = pd.read_csv(folder / "beats.csv")
    summary = json.loads((folder / "summary.json").read_text())
    assert list(table.columns[:3]) == ["time_s", "sample", "class"]
    assert sum(summary["per_class"].values()) == summary["beats"] == len(table)
    assert summary["abnormal_burden_percent"] == pytest.approx(100 * table["abnormal"].mean())
    np.testing.assert_allclose(table.filter(like="p_").sum(axis=1), 1.0, atol=1e-4)
    assert (folder / "strip.png").read_bytes()[:4] == b"\x89PNG"
    assert 2500 <= len(table) <= 3100  # record 208: 2,955 annotated beats, some of its V couplets undetected


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
@pytest.mark.realdata
def test_onnx_matches_torch_on_real_beats(rhythm_model):
    model_dir, beats = rhythm_model
    assert main(["export", "--model", str(model_dir)]) == 0
    torch_model, onnx_model = load_model(model_dir), load_model(model_dir, runtime="onnx")
    assert onnx_model.runtime == "onnx"
    diff = np.abs(onnx_model.proba_beats(beats) - torch_model.proba_beats(beats)).max()
    assert diff <= 1e-4


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
@pytest.mark.realdata
def test_registered_model_loads_as_a_pyfunc(rhythm_model, tmp_path, monkeypatch):
    import mlflow

    from heartbeat.data.readers import SIGNAL_COLUMNS
    from heartbeat.registry import register_model_dir

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    model_dir, beats = rhythm_model
    version = register_model_dir(model_dir, name="heartbeat-tiny")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    pyfunc = mlflow.pyfunc.load_model(f"models:/heartbeat-tiny/{version}")
    frame = pd.DataFrame(beats.X[:50], columns=SIGNAL_COLUMNS)
    frame[list(beats.rhythm_names)] = beats.rhythm[:50]  # every column a built file has; the model takes its own
    proba = np.asarray(pyfunc.predict(frame))
    np.testing.assert_allclose(proba, load_model(model_dir).proba_beats(beats.subset(np.arange(50))), atol=1e-5)


def test_long_recordings_are_detected_in_chunks_without_double_beats(monkeypatch):
    import heartbeat.inference.recording as recording

    x, truth = synthetic_ecg(seconds=120)
    monkeypatch.setattr(recording, "CHUNK_S", 30.0)  # four chunks, three boundaries
    found = recording.detect_peaks(x, 360.0)
    ref_idx, det_idx = match_beats(truth, found, 360.0)
    assert len(ref_idx) == len(truth) and len(det_idx) == len(found)
    assert np.diff(found).min() >= 0.2 * 360
