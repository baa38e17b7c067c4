import numpy as np
import pytest

from heartbeat.data import BeatSet, load_dataset, split
from heartbeat.data.synthetic import synthetic_beats


def test_synthetic_is_deterministic_and_imbalanced():
    a, b, c = synthetic_beats(3000, seed=1), synthetic_beats(3000, seed=1), synthetic_beats(3000, seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    counts = np.bincount(a.y)
    assert counts[0] > 0.8 * len(a.y) and counts.min() >= 20
    assert a.X.min() >= 0 and a.X.max() <= 1


def test_synthetic_classes_differ_in_shape():
    beats = synthetic_beats(5000, seed=0)
    means = np.stack([beats.X[beats.y == k].mean(0) for k in range(5)])
    dist = np.abs(means[:, None] - means[None]).mean(-1)
    assert dist[~np.eye(5, dtype=bool)].min() > 0.005


def test_intra_split_is_stratified_and_seeded():
    beats = synthetic_beats(4000, seed=0)
    tr, te = split(beats, "intra", 0.2, seed=3)
    tr2, _ = split(beats, "intra", 0.2, seed=3)
    np.testing.assert_array_equal(tr.X, tr2.X)
    assert len(te) == 800
    np.testing.assert_allclose(np.bincount(te.y) / len(te), np.bincount(beats.y) / len(beats), atol=0.01)


def test_inter_split_keeps_records_apart():
    rng = np.random.default_rng(0)
    record = np.repeat([f"r{i}" for i in range(20)], 50)
    beats = BeatSet(rng.uniform(size=(1000, 187)), rng.integers(0, 5, 1000), "mitbih", record=record)
    tr, te = split(beats, "inter", 0.2, seed=0)
    assert not set(tr.record) & set(te.record)
    assert len(tr) + len(te) == 1000 and 0.1 < len(te) / 1000 < 0.3
    with pytest.raises(ValueError, match="needs a record id"):
        split(BeatSet(beats.X, beats.y, "mitbih"), "inter")


def test_synthetic_beats_only_by_name(monkeypatch, tmp_path):
    monkeypatch.delenv("HEARTBEAT_DATA", raising=False)
    monkeypatch.setattr("heartbeat.data.sources.project_root", lambda: tmp_path)
    ds = load_dataset("synthetic", synthetic_size=2000)
    assert ds.synthetic and "synthetic" in ds.source
    assert len(ds.train) + len(ds.test) == len(synthetic_beats(2000))


def test_inter_split_keeps_rare_classes_on_every_side():
    """Rare classes in few records (like F in 208 and 213): train, valid and test each still hold them."""
    rng = np.random.default_rng(3)
    n_records, per_record = 30, 60
    record = np.repeat([f"r{i}" for i in range(n_records)], per_record)
    y = np.zeros(len(record), dtype=np.int64)
    for rare, holders in ((3, ("r0", "r1", "r2")), (4, ("r5", "r6", "r7", "r8"))):
        for r in holders:
            rows = np.flatnonzero(record == r)
            y[rng.choice(rows, 20, replace=False)] = rare
    y[rng.choice(np.flatnonzero(y == 0), 300, replace=False)] = rng.integers(1, 3, 300)
    beats = BeatSet(rng.uniform(0, 1, (len(y), 187)).astype(np.float32), y, "mitbih", record=record)
    train, test = split(beats, "inter", 0.2, seed=0)
    fit, valid = split(train, "inter", 0.2, seed=0, nested=False)  # as valid_split carves it
    for side in (fit, valid, test):
        assert set(np.unique(side.y)) == {0, 1, 2, 3, 4}
    assert not set(test.record) & set(train.record) and not set(valid.record) & set(fit.record)


def test_grouped_folds_score_every_training_patient_once_and_never_the_test_side():
    from heartbeat.data import Dataset, valid_split
    from heartbeat.data.splits import grouped_folds
    from heartbeat.errors import ConfigError

    rng = np.random.default_rng(1)
    record = np.repeat([f"r{i}" for i in range(12)], 40)
    beats = BeatSet(rng.uniform(size=(480, 187)).astype(np.float32), rng.integers(0, 4, 480), "mitbih",
                    record=record)
    folds = grouped_folds(beats, 4, seed=0)
    assert len(folds) == 4
    seen = np.concatenate([valid for _, valid in folds])
    assert sorted(seen) == list(range(480))  # every beat on exactly one validation side
    for train, valid in folds:
        assert not set(record[train]) & set(record[valid])
        assert len(train) + len(valid) == 480
    # through valid_split: the folds are of the training side; the test side's patients never appear
    test = BeatSet(beats.X[:40], beats.y[:40], "mitbih", record=np.array(["t0"] * 40))
    ds = Dataset(beats, test, "here", split="ds1ds2")
    got = [valid_split(ds, seed=0, fold=(i, 4))[1] for i in range(4)]
    assert sorted(r for v in got for r in set(v.record)) == sorted(set(record))
    with pytest.raises(ConfigError, match="fold 4 of 4"):
        valid_split(ds, fold=(4, 4))
    with pytest.raises(ConfigError, match="inter or ds1ds2"):
        valid_split(Dataset(beats, test, "here"), fold=(0, 4))
    with pytest.raises(ConfigError, match="at most the 12 records"):
        grouped_folds(beats, 13)
