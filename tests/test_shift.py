"""Data shift: patient holdout in the data layer, graded corruption, and the shift report."""

import numpy as np
import pandas as pd
import pytest

import heartbeat as hb
from heartbeat.cli import main
from heartbeat.data import BeatSet, DataError, load_dataset, write_beats
from heartbeat.data.sources import DS2_HOLDOUT, parse_holdout
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.evaluation.shift import LEVELS, corrupt

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Synthetic beats with 10 'patients' r0..r9, written as a course-format file with a record column."""
    beats = synthetic_beats(3000, seed=1)
    record = np.array([f"r{i % 10}" for i in range(len(beats))])
    path = tmp_path_factory.mktemp("shift") / "beats.parq"
    write_beats(BeatSet(beats.X, beats.y, "mitbih", record=record), path)
    return path


def test_parse_holdout():
    assert parse_holdout(None) == () and parse_holdout("none") == ()
    assert parse_holdout("ds2") == DS2_HOLDOUT
    assert parse_holdout(" 210,105,105 ") == ("105", "210")


def test_holdout_patients_are_in_neither_train_nor_test(recorded):
    for how in ("intra", "inter"):
        ds = load_dataset(recorded, split_how=how, holdout="r3,r7")
        held = set(ds.holdout.record)
        assert held == {"r3", "r7"} and ds.holdout_records == ("r3", "r7")
        assert not held & set(ds.train.record) and not held & set(ds.test.record)
        assert len(ds.train) + len(ds.test) + len(ds.holdout) == 3000  # nothing lost


def test_holdout_errors_name_what_is_wrong(recorded, tmp_path):
    with pytest.raises(DataError, match=r"holdout records \['r42'\] are not in the data"):
        load_dataset(recorded, holdout="r3,r42")
    beats = synthetic_beats(200, seed=0)
    no_records = write_beats(beats, tmp_path / "plain.parq")
    with pytest.raises(DataError, match="needs a record id per beat"):
        load_dataset(no_records, holdout="r1")


@pytest.mark.parametrize("kind", sorted(LEVELS))
def test_corruption_levels_are_monotone_in_strength(kind):
    beats = synthetic_beats(300, seed=2)
    clean = corrupt(beats.X, kind, 0)
    assert np.array_equal(clean, beats.X) and clean is not beats.X
    distances = [np.abs(corrupt(beats.X, kind, level, seed=5) - beats.X).mean()
                 for level in range(len(LEVELS[kind][1]) + 1)]
    assert distances[0] == 0
    assert all(a < b for a, b in zip(distances, distances[1:])), distances
    padded = beats.X == 0
    tail = np.zeros_like(padded)
    last = 187 - np.argmax(~padded[:, ::-1], axis=1)  # first index of the trailing zero padding
    for i, n in enumerate(last):
        tail[i, n:] = True
    assert np.all(corrupt(beats.X, kind, 4, seed=5)[tail] == 0)  # the padding stays zero


def test_corruption_ignores_the_augmentation_bound_in_gin():
    """A model's config.gin binds Augment.*; corrupting its test beats must not add that augmentation."""
    from heartbeat.config import parse_text

    beats = synthetic_beats(200, seed=4)
    parse_text("")
    clean_state = {kind: corrupt(beats.X, kind, 2, seed=1) for kind in LEVELS}
    parse_text("Augment.scale = 0.5\nAugment.wander = 0.3\nAugment.shift = 5\nAugment.warp = 0.2")
    try:
        for kind in LEVELS:
            assert np.array_equal(corrupt(beats.X, kind, 2, seed=1), clean_state[kind]), kind
    finally:
        parse_text("")
    noise = corrupt(beats.X, "noise", 2, seed=1) - beats.X
    assert abs(noise[beats.X != 0].std() - LEVELS["noise"][1][1]) < 0.005  # noise alone, at its strength


def test_shift_report_on_a_model_trained_with_a_holdout(recorded, tmp_path, capsys):
    models = tmp_path / "models"
    hb.train("gin/models/cnn1d.gin", {"CNN1D.channels": 8, "fit.beats_per_epoch": 1000, "fit.batch_size": 64},
             data=hb.load_data(recorded, holdout="r3,r7"), out=models / "tiny", epochs=2)
    out = tmp_path / "shift"
    assert main(["shift", "--models", str(models), "--data", str(recorded), "--out", str(out)]) == 0
    patients = pd.read_csv(out / "patients.csv")
    assert list(patients["model"]) == ["tiny"]
    assert patients.loc[0, "holdout_n"] == 600 and patients.loc[0, "holdout_records"] == "r3,r7"
    # the figures are the model's own on those beats, recomputed here
    from sklearn.metrics import recall_score

    from heartbeat.data import load_dataset
    from heartbeat.inference.modelio import load_model

    model = load_model(models / "tiny")
    ds = load_dataset(recorded, holdout="r3,r7")
    held = ds.holdout
    expected = recall_score(held.y, model.predict_beats(held), average="macro", labels=np.unique(held.y))
    assert patients.loc[0, "holdout_recall_macro"] == pytest.approx(expected, abs=1e-6)
    corruption = pd.read_csv(out / "corruption.csv").set_index("corruption")
    assert sorted(corruption.index) == sorted(LEVELS)
    test = ds.test
    clean = recall_score(test.y, model.predict_beats(test), average="macro", labels=np.unique(test.y))
    assert corruption["L0"].tolist() == pytest.approx([clean] * len(LEVELS), abs=1e-6)
    noisy = recall_score(test.y, model.predict(corrupt(test.X, "noise", 4, seed=0)), average="macro",
                         labels=np.unique(test.y))
    assert corruption.loc["noise", "L4"] == pytest.approx(noisy, abs=1e-6)
    # score --on holdout: the same 600 beats, in the course's columns; a model trained without a
    # holdout (like a ds1ds2 model, whose unseen patients are its test split) is left out, and said so
    hb.train("gin/models/cnn1d.gin", {"CNN1D.channels": 8, "fit.beats_per_epoch": 500}, data=hb.load_data(recorded),
             out=models / "plain", epochs=1)
    capsys.readouterr()
    csv = tmp_path / "output_holdout.csv"
    assert main(["score", "--models", str(models), "--on", "holdout", "--data", str(recorded),
                 "--out", str(csv)]) == 0
    assert pd.read_csv(csv)["modeltag"].tolist() == ["tiny"]
    assert "plain was trained without a patient holdout" in capsys.readouterr().err
