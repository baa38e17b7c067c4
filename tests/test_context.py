"""Patient context: underlying rhythm, neighbours and the running template, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from heartbeat.data.context import CONTEXT_NAMES, TEMPLATE_SAMPLES, context_features
from heartbeat.data.rhythm import rhythm_features


def beat(shape: str, n: int = 187) -> np.ndarray:
    t = np.arange(n) / 125.0
    if shape == "narrow":
        x = np.exp(-((t - 0.05) / 0.012) ** 2)
    else:  # wide, inverted-ish: a V-like beat
        x = 0.5 - 0.4 * np.exp(-((t - 0.12) / 0.05) ** 2)
    return x.astype(np.float32)


def col(name: str) -> int:
    return CONTEXT_NAMES.index(name)


def test_values_by_hand_on_a_small_record():
    # 6 beats at 1.0 s, then one 0.6 s early, then a compensatory 1.4 s pause
    rr = [1.0] * 6 + [0.6, 1.4, 1.0]
    t = np.concatenate([[0.0], np.cumsum(rr)])
    X = np.stack([beat("wide") if i == 7 else beat("narrow") for i in range(len(t))])
    c = context_features(X, t)
    assert c.shape == (len(t), len(CONTEXT_NAMES))
    # beat 7 came 0.6 s after beat 6; the underlying RR before it is the median of [1,1,1,1,1,1,1] = 1.0
    assert c[7, col("under_rr")] == pytest.approx(1.0)
    assert c[7, col("pre_under")] == pytest.approx(0.6)
    assert c[7, col("post_under")] == pytest.approx(1.4)
    assert c[8, col("prev_pre_under")] == pytest.approx(0.6) and c[9, col("prev2_pre_under")] == pytest.approx(0.6)
    # the beat after the pause: underlying = median(1,1,1,1,1,1,1,0.6) = 1.0, pre 1.4
    assert c[8, col("pre_under")] == pytest.approx(1.4)
    # irregularity at beat 8: |diffs| of pre over intervals 1..8 = [0,0,0,0,0,0.4,0.8] plus 0 -> median 0
    assert c[8, col("irregularity")] == pytest.approx(0.0)
    # the wide beat against a template of narrow ones: low correlation, large difference; the others ~1
    assert c[7, col("tmpl_dist")] > 0.7 and c[7, col("tmpl_rms")] > 0.1
    assert c[6, col("tmpl_dist")] == pytest.approx(0.0, abs=1e-6)
    assert c[6, col("next_tmpl_dist")] == pytest.approx(c[7, col("tmpl_dist")], abs=1e-6)
    assert c[8, col("prev_tmpl_dist")] == pytest.approx(c[7, col("tmpl_dist")], abs=1e-6)
    # the wide beat did not join the template: the beat after it still matches perfectly
    assert c[8, col("tmpl_dist")] == pytest.approx(0.0, abs=1e-6)
    head = X[7, :TEMPLATE_SAMPLES]
    assert c[7, col("tmpl_amp")] == pytest.approx(np.ptp(head) / np.ptp(X[0, :TEMPLATE_SAMPLES]), rel=1e-5)


def test_nothing_after_the_next_beat_changes_a_beat():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.6, 1.2, 60))
    X = rng.uniform(0, 1, (60, 187)).astype(np.float32)
    base = context_features(X, t)
    for i in (5, 20, 40):
        t2, X2 = t.copy(), X.copy()
        t2[i + 2:] += rng.uniform(0, 0.5)  # every beat after the next moves ...
        X2[i + 2:] = rng.uniform(0, 1, X2[i + 2:].shape)  # ... and changes shape
        np.testing.assert_array_equal(context_features(X2, t2)[: i + 1], base[: i + 1])


def test_a_run_of_premature_beats_stays_premature_against_the_underlying_rhythm():
    # 2 minutes of sinus at 1.0 s, then a 20-beat run at 0.45 s (SVT), then sinus again
    rr = [1.0] * 120 + [0.45] * 20 + [1.0] * 20
    t = np.concatenate([[0.0], np.cumsum(rr)])
    X = np.stack([beat("narrow")] * len(t))
    c = context_features(X, t)
    r = rhythm_features(t)
    run = np.arange(121, 141)  # the beats that end the 0.45 s intervals
    # against the local mean of the last 10 beats, the end of the run no longer looks premature ...
    assert r[run[-1], 7] > 0.95
    # ... against the underlying rhythm it does, all the way through
    assert (c[run, col("pre_under")] < 0.5).all()


def test_atrial_fibrillation_is_irregular_and_an_isolated_premature_beat_is_not():
    rng = np.random.default_rng(1)
    af = np.concatenate([[0.0], np.cumsum(rng.uniform(0.4, 1.1, 80))])
    steady = [1.0] * 40 + [0.6, 1.4] + [1.0] * 40
    sinus = np.concatenate([[0.0], np.cumsum(steady)])
    X = np.stack([beat("narrow")] * 90)
    assert np.median(context_features(X[: len(af)], af)[20:, col("irregularity")]) > 0.1
    assert context_features(X[: len(sinus)], sinus)[42:, col("irregularity")].max() < 0.05


def test_every_value_is_finite_and_not_negative():
    rng = np.random.default_rng(2)
    t = np.cumsum(rng.uniform(0.3, 2.0, 200))
    c = context_features(rng.uniform(0, 1, (200, 187)).astype(np.float32), t)
    assert np.isfinite(c).all() and (c >= -1e-6).all()


def test_edge_cases():
    assert context_features(np.zeros((0, 187), np.float32), np.zeros(0)).shape == (0, len(CONTEXT_NAMES))
    one = context_features(np.stack([beat("narrow")]), np.array([3.0]))
    assert np.isfinite(one).all()
    with pytest.raises(ValueError, match="sorted"):
        context_features(np.stack([beat("narrow")] * 2), np.array([2.0, 1.0]))


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
def test_context_is_an_input_binding_that_round_trips_through_the_model_folder(tmp_path):
    """BeatInput.context adds the context columns to the rhythm input; the folder records their names, and a
    model without context still takes its 8 rhythm columns from beats that carry all 19."""
    import heartbeat as hb
    from heartbeat.data.beatset import BeatSet
    from heartbeat.data.context import ALL_RHYTHM_NAMES
    from heartbeat.data.inputs import BeatInput
    from heartbeat.data.sample import sample_dir
    from heartbeat.data.sources import cached_wfdb_beats
    from heartbeat.errors import ConfigError

    with pytest.raises(ConfigError, match="context = True needs BeatInput.rhythm = True"):
        BeatInput(context=True)
    assert BeatInput(rhythm=True, context=True).names == ALL_RHYTHM_NAMES
    beats = cached_wfdb_beats(sample_dir())
    assert beats.rhythm_names == ALL_RHYTHM_NAMES
    data = hb.load_data(sample_dir())
    out = tmp_path / "ctx"
    model = hb.train("gin/models/cnn1d.gin", {"BeatInput.rhythm": True, "BeatInput.context": True,
                                               "CNN1D.channels": 8, "fit.beats_per_epoch": 500},
                     data=data, out=out, epochs=1)
    assert model.inputs.context and model.info.rhythm == list(ALL_RHYTHM_NAMES)
    again = hb.load_model(out)
    np.testing.assert_allclose(again.proba_beats(data.test), model.proba_beats(data.test), atol=1e-6)
    # beats with the rhythm only (an older built file) are refused by name
    old = BeatSet(data.test.X, data.test.y, "mitbih", rhythm=data.test.rhythm[:, :8],
                  rhythm_names=ALL_RHYTHM_NAMES[:8], window=data.test.window)
    with pytest.raises(ValueError, match="has no under_rr"):
        again.proba_beats(old)


def test_a_part_of_the_context_takes_its_columns_alone():
    """BeatInput.context names a part (or parts joined by '+') so that Table 3 can weigh each addition:
    the columns come in CONTEXT_NAMES order, and an unknown part is refused by name."""
    from heartbeat.data.beatset import BeatSet
    from heartbeat.data.context import ALL_RHYTHM_NAMES, CONTEXT_GROUPS, CONTEXT_NAMES
    from heartbeat.data.inputs import BeatInput
    from heartbeat.data.rhythm import RHYTHM_NAMES
    from heartbeat.errors import ConfigError

    assert sorted(c for cols in CONTEXT_GROUPS.values() for c in cols) == sorted(CONTEXT_NAMES)  # a partition
    assert BeatInput(rhythm=True, context="template").names == RHYTHM_NAMES + ("tmpl_dist", "tmpl_rms", "tmpl_amp")
    both = BeatInput(rhythm=True, context="template+underlying").names[len(RHYTHM_NAMES):]
    assert both == ("under_rr", "pre_under", "post_under", "irregularity", "tmpl_dist", "tmpl_rms", "tmpl_amp")
    assert BeatInput(rhythm=True, context=True).names == RHYTHM_NAMES + CONTEXT_NAMES
    assert BeatInput(rhythm=True, context=False).names == RHYTHM_NAMES
    with pytest.raises(ConfigError, match="unknown BeatInput.context 'tmpl'.*underlying, neighbours, template"):
        BeatInput(rhythm=True, context="tmpl")
    with pytest.raises(ConfigError, match="'neighbours' needs BeatInput.rhythm = True"):
        BeatInput(context="neighbours")
    # beats carrying all 19 columns give a part's model exactly its columns
    rng = np.random.default_rng(0)
    beats = BeatSet(rng.uniform(0, 1, (4, 187)).astype(np.float32), np.zeros(4, dtype=np.int64), "mitbih",
                    rhythm=rng.uniform(0, 2, (4, 19)).astype(np.float32), rhythm_names=ALL_RHYTHM_NAMES)
    _, R = BeatInput(rhythm=True, context="neighbours").arrays(beats)
    cols = [ALL_RHYTHM_NAMES.index(c) for c in RHYTHM_NAMES + CONTEXT_GROUPS["neighbours"]]
    np.testing.assert_array_equal(R, beats.rhythm[:, cols])
