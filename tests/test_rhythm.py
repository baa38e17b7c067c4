"""Beats that carry their rhythm: RR features, the P-wave window, rhythm fusion, the ds1ds2 protocol."""

from __future__ import annotations

import gin
import numpy as np
import pytest
import torch

from heartbeat.config import parse_text
from heartbeat.data import BeatSet, DataError, read_beats, write_beats
from heartbeat.data.inputs import BeatInput
from heartbeat.data.rhythm import RHYTHM_NAMES, rhythm_features
from heartbeat.data.splits import DS1, DS2, PACED, protocol_beats, split
from heartbeat.data.wfdb_beats import PWAVE_SAMPLES, beats_from_signal
from heartbeat.models import BASELINES, REGISTRY
from heartbeat.models.fusion import RhythmFusion, build_model

col = {name: i for i, name in enumerate(RHYTHM_NAMES)}


pytestmark = pytest.mark.usefixtures("clean_gin")


def test_rhythm_features_by_hand():
    t = np.array([0.0, 1.0, 2.0, 2.5, 4.0])  # a premature beat at 2.5 s, then a compensatory pause
    R = rhythm_features(t)
    assert R.shape == (5, len(RHYTHM_NAMES))
    np.testing.assert_allclose(R[:, col["pre_rr"]], [1.0, 1.0, 1.0, 0.5, 1.5])
    np.testing.assert_allclose(R[:, col["post_rr"]], [1.0, 1.0, 0.5, 1.5, 1.5])
    # local and running means: over the pre_rr of earlier beats only (beat 0 falls back to its own)
    np.testing.assert_allclose(R[:, col["local_rr"]], [1.0, 1.0, 1.0, 1.0, (1 + 1 + 1 + 0.5) / 4])
    np.testing.assert_allclose(R[:, col["mean_rr"]], R[:, col["local_rr"]])  # all within 5 minutes
    np.testing.assert_allclose(R[3, col["pre_ratio"]], 0.5)
    np.testing.assert_allclose(R[3, col["post_ratio"]], 1.5)
    np.testing.assert_allclose(R[4, col["pre_local_ratio"]], 1.5 / 0.875, rtol=1e-6)


def test_running_mean_forgets_beats_older_than_five_minutes():
    t = np.concatenate([np.arange(0, 300, 2.0), 298 + np.arange(1, 303, 1.0)])  # 2 s beats to 298 s, then 1 s beats
    R = rhythm_features(t)
    last = R[-1]
    assert last[col["mean_rr"]] == pytest.approx(1.0)  # only the 1 s beats lie in the last 5 minutes
    assert R[160, col["mean_rr"]] > 1.0  # early in the fast part the slow beats still count


def test_features_of_a_beat_use_nothing_after_the_next_beat():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.4, 1.4, size=400))
    R = rhythm_features(t)
    for i in (0, 1, 50, 200, 397):
        changed = t.copy()
        changed[i + 2:] += np.cumsum(rng.uniform(0.0, 0.8, size=len(t) - i - 2))  # every later beat moves
        np.testing.assert_array_equal(rhythm_features(changed)[: i + 1], R[: i + 1])
        # ... and the next beat itself does change the beat's post_rr
        moved = t.copy()
        moved[i + 1:] += 0.3
        assert rhythm_features(moved)[i, col["post_rr"]] != R[i, col["post_rr"]]


def test_pwave_window_holds_the_samples_before_the_r_peak():
    fs = 125
    sig = np.zeros(fs * 20)
    peaks = np.arange(fs, fs * 19, fs)  # one beat a second
    sig[peaks] = 1.0
    sig[peaks - 20] = 0.3  # a "P wave" 0.16 s before each R peak
    Xk, _, keep = beats_from_signal(sig, fs, peaks, "kachuee")
    Xp, R, _ = beats_from_signal(sig, fs, peaks, "pwave")
    assert keep.all() and Xk[3, 0] == 1.0 and Xp[3, PWAVE_SAMPLES] == 1.0
    assert Xp[3, PWAVE_SAMPLES - 20] == pytest.approx(0.3)
    np.testing.assert_allclose(R[:, col["pre_rr"]], 1.0)


def test_rhythm_survives_write_read_split_subset(tmp_path):
    rng = np.random.default_rng(1)
    n = 40
    beats = BeatSet(X=rng.uniform(0, 1, (n, 187)), y=np.arange(n) % 5, task="mitbih",
                    record=np.repeat(["101", "106", "100", "103"], 10),
                    rhythm=rhythm_features(np.cumsum(rng.uniform(0.5, 1.2, n))), rhythm_names=RHYTHM_NAMES,
                    sample=np.arange(n) * 300, time=np.arange(n) * 300 / 360, window="pwave")
    back = read_beats(write_beats(beats, tmp_path / "b.parq"), "mitbih")
    assert back.window == "pwave" and back.rhythm_names == RHYTHM_NAMES
    np.testing.assert_array_equal(back.rhythm, beats.rhythm)
    np.testing.assert_array_equal(back.sample, beats.sample)
    train, test = split(back, "ds1ds2")
    assert set(train.record) == {"101", "106"} and set(test.record) == {"100", "103"}
    sub = test.subset(np.array([3, 1]))
    np.testing.assert_array_equal(sub.rhythm, beats.rhythm[[23, 21]])
    np.testing.assert_array_equal(sub.time, beats.time[[23, 21]])


def test_partial_rhythm_columns_are_refused(tmp_path):
    import pandas as pd

    df = pd.DataFrame(np.zeros((3, 187)), columns=[str(i) for i in range(187)])
    df["target"] = 0.0
    df["pre_rr"] = 1.0
    df.to_parquet(tmp_path / "x.parq")
    with pytest.raises(DataError, match="rhythm columns"):
        read_beats(tmp_path / "x.parq", "mitbih")


def test_ds1ds2_protocol_keeps_patients_apart_and_ds2_out_of_validation():
    from heartbeat.data.splits import split_indices

    records = np.array([*DS1, *DS2, *PACED])
    rec = np.repeat(records, 30)
    y = np.tile(np.arange(5), len(rec) // 5)
    beats = BeatSet(X=np.zeros((len(rec), 187)), y=y, task="mitbih", record=rec)
    kept, note = protocol_beats(beats)
    assert not set(kept.record) & set(PACED) and (kept.y != 4).all() and "paced" in note
    train, test = split(kept, "ds1ds2")
    assert set(train.record) == set(DS1) and set(test.record) == set(DS2)
    fit_idx, valid_idx = split_indices(train, "inter", 0.2, 0, nested=False)  # what valid_split does
    assert not set(train.record[valid_idx]) & set(train.record[fit_idx])
    assert set(train.record[valid_idx]) <= set(DS1)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_family_takes_rhythm(name):
    torch.manual_seed(0)
    net = build_model(REGISTRY[name], 5, len(RHYTHM_NAMES))
    assert isinstance(net, RhythmFusion)
    x = torch.rand(6, 1, 187)
    r = torch.from_numpy(rhythm_features(np.cumsum(np.full(6, 0.8))))
    net.train()
    logits = net(x, r)
    assert logits.shape == (6, 5) and torch.isfinite(logits).all()
    logits.sum().backward()
    net.eval()
    assert torch.isfinite(net(x, r)).all()


def test_rhythm_model_refuses_beat_only_data():
    parse_text("BeatInput.rhythm = True")
    inputs = BeatInput()
    beats = BeatSet(X=np.zeros((4, 187)), y=np.zeros(4), task="mitbih")
    with pytest.raises(DataError, match="rhythm input.*pre_rr"):
        inputs.arrays(beats, "model x")
    with pytest.raises(DataError, match="'kachuee' beats"):
        BeatInput(window="pwave").arrays(beats, "model x")


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
def test_fit_with_rhythm_writes_a_model_that_needs_it(tmp_path):
    from heartbeat.inference.modelio import load_model, save_model
    from heartbeat.training.fit import fit

    rng = np.random.default_rng(0)
    n = 300
    y = np.arange(n) % 5
    t = np.cumsum(np.where(y == 1, 0.4, 0.9))  # S beats come early: only the rhythm tells them apart
    beats = BeatSet(X=rng.uniform(0, 1, (n, 187)), y=y, task="mitbih", record=np.full(n, "100"),
                    rhythm=rhythm_features(t), rhythm_names=RHYTHM_NAMES)
    parse_text("fit.model = @CNN1D\nCNN1D.channels = 4\nCNN1D.depth = 2\nBeatInput.rhythm = True\n"
               "fit.epochs = 2\nfit.beats_per_epoch = 256")
    result = fit(beats, beats)
    assert result.inputs.rhythm
    save_model(tmp_path / "m", result.model, gin.operative_config_str(), {"task": "mitbih"}, result.inputs)
    model = load_model(tmp_path / "m")
    assert model.inputs.rhythm and model.info.rhythm == list(RHYTHM_NAMES)
    assert model.proba_beats(beats).shape == (n, 5)
    with pytest.raises(DataError, match="rhythm"):
        model.proba_beats(beats.without_rhythm())


def test_baseline_adds_rhythm_to_its_features():
    rng = np.random.default_rng(0)
    n = 200
    y = np.arange(n) % 2
    rhythm = rhythm_features(np.cumsum(np.where(y == 1, 0.4, 0.9)))
    est = BASELINES["GBTBaseline"](num_classes=2, max_iter=20).fit(rng.uniform(0, 1, (n, 187)), y, rhythm=rhythm)
    assert est.feature_names[-1] == f"rhythm_{len(RHYTHM_NAMES) - 1}"
    assert (est.predict(rng.uniform(0, 1, (n, 187)), rhythm=rhythm) == y).mean() > 0.9


@pytest.mark.realdata
def test_real_records_build_with_rhythm(mitdb):
    from heartbeat.data.wfdb_beats import build_beats

    beats, report = build_beats(mitdb, ["100", "232"], window="pwave")
    from heartbeat.data.context import ALL_RHYTHM_NAMES

    assert beats.rhythm_names == ALL_RHYTHM_NAMES and beats.rhythm_names[: len(RHYTHM_NAMES)] == RHYTHM_NAMES
    assert beats.rhythm.shape == (len(beats), len(ALL_RHYTHM_NAMES)) and np.isfinite(beats.rhythm).all()
    s = beats.y == 1
    # S beats are premature: their pre-RR ratio to the patient's own rhythm is lower than N beats'
    assert np.median(beats.rhythm[s, col["pre_ratio"]]) < np.median(beats.rhythm[beats.y == 0, col["pre_ratio"]])
    assert sum(report.built.values()) == len(beats)
