"""The vectorised beat builder against a frozen copy of the loop it replaced (tests/_reference_beats.py):
the same X, rhythm and keep, on the embedded sample of real records and on synthetic edge cases."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from heartbeat.data import context
from heartbeat.data.sample import SAMPLE_RECORDS, sample_dir
from heartbeat.data.wfdb_beats import AAMI, beats_from_signal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _reference_beats as ref  # noqa: E402


def same(a, b):
    """X, rhythm and keep equal: bit for bit, or the float32 rhythm within 1e-6 (sums of floats)."""
    (X, r, k), (X0, r0, k0) = a, b
    assert X.dtype == X0.dtype and r.dtype == r0.dtype and X.shape == X0.shape and r.shape == r0.shape
    assert np.array_equal(X, X0) and np.array_equal(k, k0)
    assert np.allclose(r, r0, rtol=1e-6, atol=1e-6)
    assert np.array_equal(r, r0)  # in practice the very same values: the same order statistics, the same sums


def record(name: str, peaks: str = "annotated"):
    import wfdb

    rec = wfdb.rdrecord(str(sample_dir() / name))
    lead = rec.sig_name.index("MLII") if "MLII" in rec.sig_name else 0
    ann = wfdb.rdann(str(sample_dir() / name), "atr")
    samples = np.asarray(ann.sample)[[s in AAMI for s in ann.symbol]]
    return rec.p_signal[:, lead].astype(np.float64), float(rec.fs), samples


@pytest.mark.parametrize("name", SAMPLE_RECORDS)
@pytest.mark.parametrize("window", ["kachuee", "pwave"])
def test_sample_records_as_before(name, window):
    x, fs, peaks = record(name)
    same(beats_from_signal(x, fs, peaks, window), ref.beats_from_signal(x, fs, peaks, window))


def test_detected_peaks_as_before():
    from heartbeat.inference.recording import detect_peaks

    x, fs, _ = record(SAMPLE_RECORDS[0])
    peaks = detect_peaks(x, fs)
    same(beats_from_signal(x, fs, peaks, "pwave"), ref.beats_from_signal(x, fs, peaks, "pwave"))


def synthetic(n_beats: int, fs: float = 360.0, seconds: float = 60.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 0.05, int(seconds * fs))) + rng.normal(0, 0.1, int(seconds * fs))
    peaks = np.sort(rng.choice(len(x), size=n_beats, replace=False)) if n_beats else np.zeros(0, int)
    return x, fs, peaks


@pytest.mark.parametrize("n_beats", [0, 1, 2, 3, 17, 40])
@pytest.mark.parametrize("window", ["kachuee", "pwave"])
def test_few_beats(n_beats, window):
    x, fs, peaks = synthetic(n_beats)
    same(beats_from_signal(x, fs, peaks, window), ref.beats_from_signal(x, fs, peaks, window))


@pytest.mark.parametrize("fs", [125.0, 250.0, 360.0, 500.0, 1000.0])
@pytest.mark.parametrize("window", ["kachuee", "pwave"])
def test_beats_at_the_ends_and_other_rates(fs, window):
    x, _, peaks = synthetic(0, fs=fs, seconds=45.0)
    inner = np.sort(np.random.default_rng(1).choice(np.arange(5, len(x) - 5), 50, replace=False))
    # beats on the first and last samples, right after and before them, two on one sample, a flat window
    peaks = np.unique(np.concatenate([[0, 1, 2, len(x) - 3, len(x) - 2, len(x) - 1], inner]))
    peaks = np.sort(np.concatenate([peaks, peaks[10:12]]))
    x[int(20 * fs): int(31 * fs)] = 0.3
    same(beats_from_signal(x, fs, peaks, window), ref.beats_from_signal(x, fs, peaks, window))


def test_long_gaps_and_steady_rhythm():
    """A steady rhythm with an ectopic run, a gap longer than the underlying window, and a restart."""
    fs = 360.0
    rr = np.r_[np.full(200, 0.8), np.full(12, 0.45), np.full(100, 0.8), [400.0], np.full(80, 0.7 + 0.2 * np.sin(
        np.arange(80)))]
    t = np.cumsum(rr)
    peaks = np.round(t * fs).astype(np.int64)
    x = np.zeros(peaks[-1] + int(2 * fs))
    for i, p in enumerate(peaks):  # narrow beats, wide ones in the run
        w = 30 if 200 <= i < 212 else 6
        k = np.arange(-3 * w, 3 * w)
        x[np.clip(p + k, 0, len(x) - 1)] += np.exp(-(k / w) ** 2) * (1 if w == 6 else -0.7)
    x += np.random.default_rng(2).normal(0, 0.02, len(x))
    same(beats_from_signal(x, fs, peaks, "pwave"), ref.beats_from_signal(x, fs, peaks, "pwave"))


def test_template_reseeds_as_before():
    """A template that locks on a beat, then a dominant beat that changes: the reseed path, beat for beat."""
    rng = np.random.default_rng(3)
    n = 400
    tt = np.arange(187) / 125.0
    narrow = np.exp(-((tt - 0.05) / 0.012) ** 2)
    wide = 0.5 - 0.4 * np.exp(-((tt - 0.12) / 0.05) ** 2)
    X = np.stack([(wide if (i < 5 or 150 <= i < 300) else narrow) + rng.normal(0, 0.05, 187) for i in range(n)])
    X = np.clip(X, 0, 1).astype(np.float32)
    times = np.cumsum(rng.uniform(0.75, 0.85, n))
    times[100:103] += np.array([-0.3, -0.2, 0.1])  # a couplet, a pause: beats off time
    times = np.sort(times)
    new, old = context.context_features(X, times), ref.context_features(X, times)
    assert np.array_equal(new, old)
    flat = X.copy()
    flat[50:60] = 0.5  # flat beats: correlation 0, zero span
    assert np.array_equal(context.context_features(flat, times), ref.context_features(flat, times))
