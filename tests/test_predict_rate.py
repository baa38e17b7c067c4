"""heartbeat predict on raw files: a wrong sampling rate refused, the lead checked, CSV/NPY output folders, the strip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_recording import synthetic_ecg

from heartbeat.cli import main
from heartbeat.data import DataError
from heartbeat.inference.recording import (
    RateError,
    Recording,
    check_rate,
    detect_peaks,
    no_beat_spans,
    pick_lead,
    read_recording,
    strip_figure,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "cnn1d"  # a committed beat-only model: fast to load


@pytest.fixture(scope="module")
def ecg():
    x, truth = synthetic_ecg(seconds=60)
    return x, truth


def test_the_true_rate_passes_and_its_beats_are_ordinary(ecg):
    x, truth = ecg
    r = check_rate(Recording(x, 360.0, "lead0", "x.npy"), truth)
    assert 60 <= r.bpm <= 90 and 18 <= r.r_width_ms <= 40


@pytest.mark.parametrize("fs", [50.0, 1000.0])
def test_a_wrong_rate_is_refused_and_the_true_one_named(ecg, fs):
    x, _ = ecg
    rec = Recording(x, fs, "lead0", "x.npy")
    with pytest.raises(RateError, match=r"sampling rate .* Hz is implausible.*is the sampling rate 360 Hz\?"):
        check_rate(rec, detect_peaks(x, fs))


@pytest.mark.parametrize("fs", ["50", "1000"])
def test_the_cli_refuses_a_wrong_rate_in_one_line_and_writes_nothing(ecg, tmp_path, capsys, fs):
    x, _ = ecg
    np.save(tmp_path / "rec.npy", x)
    assert main(["predict", "--model", str(MODEL), str(tmp_path / "rec.npy"), "--fs", fs,
                 "--out", str(tmp_path / "out")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "implausible" in errors[0] and "360 Hz" in errors[0], errors
    assert not (tmp_path / "out").exists()


def test_csv_and_npy_write_to_predictions_stem(ecg, tmp_path, capsys, monkeypatch):
    x, _ = ecg
    pd.DataFrame({"MLII": x}).to_csv(tmp_path / "rec100.csv", index=False)
    np.save(tmp_path / "holter.npy", x)
    monkeypatch.chdir(tmp_path)  # the default --out is ./predictions
    assert main(["predict", "--model", str(MODEL), "rec100.csv", "holter.npy", "--fs", "360"]) == 0
    for stem in ("rec100", "holter"):
        folder = tmp_path / "predictions" / stem
        assert (folder / "beats.csv").exists() and (folder / "strip.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "predictions" / "rec100.csv").exists()
    out = capsys.readouterr().out
    assert "-> predictions/rec100/" in out and "-> predictions/holter/" in out


def test_the_lead_is_checked_by_one_function():
    assert pick_lead(["lead0"], "mlii", "x.npy", named=False) == (0, "MLII", [])
    assert pick_lead(["MLII", "V5"], None, "208") == (0, "MLII", [])
    with pytest.raises(DataError, match=r"no lead 'V9'; the recording has \['lead0'\], or for its single"):
        pick_lead(["lead0"], "V9", "x.npy", named=False)
    with pytest.raises(DataError, match=r"no lead 'II'; the recording has \['MLII', 'V5'\]$"):
        pick_lead(["MLII", "V5"], "II", "208")  # a named recording: only its own leads


def test_spans_with_no_beat_include_the_ends():
    assert no_beat_spans(np.array([1.0, 2.0, 6.0, 7.0]), 12.0) == [(2.0, 6.0), (7.0, 12.0)]


def test_the_strip_has_a_legend_units_times_and_marks_missing_beats(ecg):
    import matplotlib.pyplot as plt

    x, truth = ecg
    t = truth / 360.0
    rec = Recording(x[:int((t[-1] + 0.5) * 360)], 360.0, "MLII", "rec100.csv")  # no pause at the end
    keep = (t < 30) | (t > 34)  # four seconds of missed beats
    cls = np.where(np.arange(keep.sum()) % 7 == 3, "V", "N")
    table = pd.DataFrame({"time_s": t[keep], "sample": truth[keep], "class": cls, "abnormal": cls != "N"})
    fig = strip_figure(rec, table)
    try:
        legend = [txt.get_text() for txt in fig.legends[0].get_texts()]
        assert any(s.startswith("N normal") for s in legend) and any(s.startswith("V ventricular") for s in legend)
        assert any(s.startswith("no beat detected") for s in legend)
        axes = fig.axes
        assert all(ax.get_ylabel() == "MLII (mV)" for ax in axes)
        titles = [ax.get_title(loc="left") for ax in axes]
        assert titles[0] == "0:00\u20130:10" and titles[1] == "0:10\u20130:20"
        gap = [ti for ti in titles if "no beat detected" in ti]
        assert gap and gap[0].startswith("0:2")  # the panel around 30..34 s says where it is
        labels = {txt.get_text() for ax in axes for txt in ax.texts}
        assert "no beat detected" in labels
    finally:
        plt.close(fig)


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("record", ["100", "208", "217", "232"])
def test_real_records_at_their_own_rate_pass(mitdb, record):
    rec = read_recording(mitdb / record)
    r = check_rate(rec, detect_peaks(rec.signal, rec.fs))
    assert 20 <= r.bpm <= 300


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("record, fs", [("100", "50"), ("100", "1000"), ("217", "1000")])
def test_a_real_record_at_a_wrong_rate_is_refused(mitdb, tmp_path, capsys, record, fs):
    rec = read_recording(mitdb / record)
    np.save(tmp_path / f"{record}.npy", rec.signal)
    assert main(["predict", "--model", str(MODEL), str(tmp_path / f"{record}.npy"), "--fs", fs,
                 "--out", str(tmp_path / "out")]) == 1
    assert "implausible" in capsys.readouterr().err
