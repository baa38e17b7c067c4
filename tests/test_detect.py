"""heartbeat.inference.detect: known peaks on synthetic ECG at the rates recorders use, chunk edges, real records."""

from __future__ import annotations

import numpy as np
import pytest
from test_recording import synthetic_ecg

from heartbeat.evaluation.ec57 import match
from heartbeat.inference import recording
from heartbeat.inference.detect import CONTEXT_S, detect


@pytest.mark.parametrize("fs", [128.0, 250.0, 360.0, 500.0, 1000.0])
def test_detector_finds_the_known_peaks_at_every_rate(fs):
    x, truth = synthetic_ecg(fs=fs, seconds=90, seed=int(fs))
    found = detect(x, fs)
    ref_idx, det_idx = match(truth, found, fs)
    assert len(ref_idx) == len(truth) == len(found)  # Se = +P = 1
    assert np.abs(found[det_idx] - truth[ref_idx]).max() <= 0.03 * fs  # the QRS's middle, within 30 ms of R


def test_detector_is_deterministic_and_scale_free():
    x, _ = synthetic_ecg(seconds=60, seed=3)
    np.testing.assert_array_equal(detect(x, 360.0), detect(x.copy(), 360.0))
    np.testing.assert_array_equal(detect(x, 360.0), detect(1000 * x + 7, 360.0))  # gain and offset: ADC units


def test_detector_on_nothing_finds_nothing():
    assert len(detect(np.zeros(3600), 360.0)) == 0
    assert len(detect(np.random.default_rng(0).normal(0, 1e-3, 200), 360.0)) <= 2


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
@pytest.mark.parametrize("fs", [128.0, 360.0])
def test_chunk_edges_lose_and_double_no_beat(monkeypatch, fs):
    """A long recording detected in chunks gives the peaks of one piece (to a sample), edges included."""
    x, truth = synthetic_ecg(fs=fs, seconds=400, seed=7)
    x = x[:truth[-1] + int(0.5 * fs)]  # beats to the end (its RR draws run out before 400 s)
    from heartbeat.inference.detect import fiducial

    whole = fiducial(x, detect(x, fs), fs)  # one piece, by the same fiducial rule
    assert recording.OVERLAP_S >= CONTEXT_S
    monkeypatch.setattr(recording, "CHUNK_S", 61.7)  # six edges, none on a beat by design
    chunked = recording.detect_peaks(x, fs)
    assert len(chunked) == len(whole)
    assert np.abs(chunked - whole).max() <= 1  # the filter's edge transients may move a flat peak a sample
    ref_idx, _ = match(truth, chunked, fs)
    assert len(ref_idx) == len(truth) == len(chunked)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("record, least", [("100", 0.999), ("208", 0.995)])
def test_detector_on_real_records(mitdb, record, least):
    """Record 100 (clean) and 208 (V couplets, fusion beats): Se and +P as ec57 counts them."""
    from heartbeat.evaluation.ec57 import outside, reference_beats

    rec = recording.read_recording(mitdb / record)
    ref, _, episodes = reference_beats(mitdb, record)
    found = recording.detect_peaks(rec.signal, rec.fs)
    ref, found = ref[outside(ref, episodes)], found[outside(found, episodes)]
    ref_idx, _ = match(ref, found, rec.fs)
    assert len(ref_idx) / len(ref) >= least and len(ref_idx) / len(found) >= least


def test_the_fiducial_rule_moves_a_peak_to_the_apex_of_its_beat():
    from heartbeat.inference.detect import fiducial

    fs = 360.0
    x = np.zeros(3600)
    apex = np.array([500, 1400, 2300])
    for a in apex[:2]:
        x[a - 10:a + 11] = np.hanning(21)  # an upright R wave
    x[apex[2] - 15:apex[2] + 16] = -1.5 * np.hanning(31)  # a QS wave: its apex points down
    np.testing.assert_array_equal(fiducial(x, apex + np.array([9, -12, 14]), fs), apex)
    # peaks more than FIDUCIAL_S from the apex stay near where they were (the rule is local)
    far = fiducial(x, np.array([500 + 40]), fs)
    assert 500 <= far[0] <= 540
    assert len(fiducial(x, np.array([], dtype=np.int64), fs)) == 0
