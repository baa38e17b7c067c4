"""The manual exploration (heartbeat.report.explore): runs recorded once, resumed, never on the test side."""

from __future__ import annotations

import pandas as pd
import pytest

import heartbeat as hb
from heartbeat.data import write_beats
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.errors import ConflictError
from heartbeat.report.explore import explore, history, range_check, runs

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow

BUDGET = ["fit.epochs = 2", "fit.beats_per_epoch = 600", "CNN1D.channels = 8", "CNN1D.depth = 2"]
PLAN = [("learning rate", "fit.learning_rate", [1e-3, 3e-3]), ("families", "config", ["gin/models/cnn1d.gin"])]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = write_beats(synthetic_beats(900, seed=0), tmp_path_factory.mktemp("explore") / "beats.parq")
    return hb.load_data(path)


def test_each_run_is_recorded_with_its_curve_and_a_rerun_trains_nothing(data, tmp_path):
    said = []
    table = explore("gin/models/cnn1d.gin", data, tmp_path, plan=PLAN, bindings=BUDGET, log=said.append)
    assert list(table["value"]) == [1e-3, 3e-3, "gin/models/cnn1d.gin"]
    assert set(table["binding"]) == {"fit.learning_rate", "config"}
    assert table["params"].gt(0).all() and table["f2_macro"].between(0, 1).all()
    assert said[0].startswith("exploration: 3 runs to train, 0 already")
    curves = history(tmp_path)
    assert set(curves["key"]) == set(table["key"])
    assert curves.groupby("key")["epoch"].max().eq(table.set_index("key")["epochs"]).all()

    said.clear()
    again = explore("gin/models/cnn1d.gin", None, tmp_path, plan=PLAN, bindings=BUDGET, log=said.append)
    assert said == ["exploration: 0 runs to train, 3 already in " + str(tmp_path / "runs.csv")]  # outside the project
    pd.testing.assert_frame_equal(again, runs(tmp_path))


def test_the_test_side_plays_no_part(data, tmp_path):
    """Exploration sets ranges, so it must not see the test beats: with them scrambled, the same figures."""
    import dataclasses

    import numpy as np

    test = data.test
    scrambled = dataclasses.replace(test, X=np.random.default_rng(1).normal(size=test.X.shape).astype(test.X.dtype),
                                    y=np.zeros_like(test.y))
    plan = PLAN[:1]
    a = explore("gin/models/cnn1d.gin", data, tmp_path / "a", plan=plan, bindings=BUDGET, log=lambda *x, **k: None)
    b = explore("gin/models/cnn1d.gin", dataclasses.replace(data, test=scrambled), tmp_path / "b", plan=plan,
                bindings=BUDGET, log=lambda *x, **k: None)
    cols = ["f2_macro", "recall_macro", "recall_S", "best_epoch"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_a_folder_of_another_budget_is_refused(data, tmp_path):
    explore("gin/models/cnn1d.gin", data, tmp_path, plan=PLAN[:1], bindings=BUDGET, log=lambda *a, **k: None)
    with pytest.raises(ConflictError, match="another base or budget"):
        explore("gin/models/cnn1d.gin", data, tmp_path, plan=PLAN[:1], bindings=[*BUDGET, "fit.seed = 1"])


def test_range_check_says_whether_the_best_hand_values_are_searched():
    table = pd.DataFrame({"binding": ["fit.learning_rate"] * 4 + ["CNN1D.depth"] * 3 + ["config"],
                          "value": [1e-4, 1e-3, 3e-3, 3e-2, 2, 3, 4, "x.gin"],
                          "f2_macro": [0.5, 0.905, 0.91, 0.6, 0.8, 0.9, 0.85, 0.9]})
    space = {"fit.learning_rate": ("loguniform", 5e-4, 5e-3), "CNN1D.depth": ("choice", [4, 5])}
    check = range_check(table, space, within=0.01).set_index("binding")
    assert list(check.index) == ["fit.learning_rate", "CNN1D.depth"]  # config is not a searched binding
    lr, depth = check.loc["fit.learning_rate"], check.loc["CNN1D.depth"]
    assert lr["best by hand"] == 3e-3 and lr["within 0.01"] == [1e-3, 3e-3] and lr["inside"]
    assert depth["best by hand"] == 3 and not depth["inside"] and depth["outside"] == [3]
