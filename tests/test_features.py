"""Hand-made beat features: shape, names, finiteness, and values checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from heartbeat.data.features import beat_features, signal_length


def feature_dict(x: np.ndarray) -> dict[str, float]:
    F, names = beat_features(x[None, :])
    return dict(zip(names, F[0].tolist()))


def test_shape_names_finite_on_random_beats():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (50, 187)).astype(np.float32)
    X *= np.arange(187)[None, :] < rng.integers(60, 188, (50, 1))
    X[0] = 0.0  # an all-zero beat must not give NaN
    F, names = beat_features(X)
    assert F.shape == (50, len(names)) and F.dtype == np.float32
    assert len(set(names)) == len(names)
    assert np.isfinite(F).all()
    expected = {"mean", "std", "skew", "kurtosis", "p50", "r_amplitude", "length", "log_energy", "ds0", "ds23"}
    assert expected <= set(names)
    F3, names3 = beat_features(X[:, None, :])  # the models' (n, 1, time) layout
    assert names3 == names
    np.testing.assert_array_equal(F3, F)
    F_small, names_small = beat_features(X, downsample=0)
    assert F_small.shape[1] == len(names) - 24 and not any(n.startswith("ds") for n in names_small)


def test_signal_length():
    X = np.zeros((3, 187))
    X[0, :100] = 0.5
    X[1, [0, 50]] = 0.2  # an inner zero does not end the beat
    X[2] = 0.0
    np.testing.assert_array_equal(signal_length(X), [100, 51, 1])


def test_constant_beat_by_hand():
    x = np.zeros(187)
    x[:100] = 0.5
    f = feature_dict(x)
    assert f["length"] == 100
    for name in ("mean", "min", "max", "p5", "p50", "p95", "r_amplitude", "s_min", "t_max", "ds0"):
        assert f[name] == pytest.approx(0.5), name
    for name in ("std", "skew", "kurtosis", "slope_changes", "line_length", "log_energy"):
        assert f[name] == pytest.approx(0.0, abs=1e-6), name
    energy = sum(v for k, v in f.items() if k.startswith("energy_seg"))
    assert energy == pytest.approx(100 * 0.25)
    assert f["ds23"] == 0.0  # the padded tail


def test_sine_beat_by_hand():
    # 12 whole cycles in 187 samples: 8.02 Hz, exactly on an FFT bin, so no leakage.
    t = np.arange(187)
    freq = 12 * 125 / 187
    x = 0.5 + 0.4 * np.sin(2 * np.pi * freq * t / 125)
    f = feature_dict(x)
    assert f["length"] == 187
    assert f["mean"] == pytest.approx(0.5, abs=1e-6)
    assert f["std"] == pytest.approx(0.4 / np.sqrt(2), rel=1e-4)
    assert f["skew"] == pytest.approx(0.0, abs=1e-4)
    assert f["kurtosis"] == pytest.approx(-1.5, abs=1e-3)  # a sine's excess kurtosis
    assert f["band_5_10hz"] == pytest.approx(1.0, abs=1e-5)
    assert f["band_0_2hz"] == pytest.approx(0.0, abs=1e-5)
    assert 22 <= f["slope_changes"] <= 24  # one per extremum, 24 extrema
    assert f["p50"] == pytest.approx(0.5, abs=0.02)
    assert f["max"] == pytest.approx(0.9, abs=0.01)


def test_morphology_by_hand():
    # R peak at 0, S trough at 6, T wave at 60, baseline 0.3, beat ends at 150.
    t = np.arange(187)
    x = 0.3 + 0.4 * np.exp(-0.5 * ((t - 60) / 8.0) ** 2)
    x[0], x[3], x[6] = 1.0, 0.5, 0.05
    x[150:] = 0.0
    f = feature_dict(x)
    assert f["r_amplitude"] == pytest.approx(1.0)
    assert (f["s_min_pos"], f["s_min"]) == (6, pytest.approx(0.05))
    assert f["t_max_pos"] == 60 and f["t_max"] == pytest.approx(0.7)
    assert f["t_max_pos_rel"] == pytest.approx(60 / 150)
    assert f["length"] == 150
    assert f["min"] == pytest.approx(0.05) and f["max"] == pytest.approx(1.0)


def test_rejects_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        beat_features(np.zeros(187))
