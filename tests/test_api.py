"""The Python API: what a notebook does, without any command-line argument."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gin
import numpy as np
import pytest

import heartbeat as hb
from heartbeat.data import write_beats
from heartbeat.data.synthetic import synthetic_beats

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow


@pytest.fixture()
def beats_file(tmp_path):
    return write_beats(synthetic_beats(2000, seed=0), tmp_path / "beats.parq")


def test_load_data_warns_a_python_caller_about_synthetic_beats(tmp_path, monkeypatch):
    """Synthetic beats only when asked for by name, and then with a warning; never a fall-back."""
    monkeypatch.delenv("HEARTBEAT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    import heartbeat.data.sources as sources

    monkeypatch.setattr(sources, "project_root", lambda: tmp_path)  # no data/ folder to find
    with pytest.warns(hb.SyntheticDataWarning, match="SYNTHETIC"):
        ds = hb.load_data("synthetic")
    assert ds.synthetic
    with pytest.raises(hb.api.DataError, match="source='synthetic'.*needs real data"):
        hb.load_data("synthetic", allow_synthetic=False)


def test_train_predict_evaluate_and_reload(beats_file, tmp_path):
    from heartbeat.config import register_all

    register_all()
    gin.parse_config("Augment.p = 0.25")  # the caller's own binding
    data = hb.load_data(beats_file)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hb.SyntheticDataWarning)  # a file was given: no warning
        model = hb.train("gin/models/cnn1d.gin", bindings={"CNN1D.channels": 8, "fit.beats_per_epoch": 512},
                         data=data, out=tmp_path / "m", epochs=1)
    assert gin.query_parameter("Augment.p") == 0.25  # train and load_model left it alone
    pred = model.predict(data.test)
    assert pred.shape == (len(data.test),)
    metrics = model.evaluate(data.test)
    assert metrics["n"] == len(data.test)
    assert metrics["accuracy"] == pytest.approx(float(np.mean(pred == data.test.y)))
    again = hb.load_model(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(data.test), model.predict_proba(data.test), atol=1e-6)
    assert gin.query_parameter("Augment.p") == 0.25
    gin.clear_config()


def test_import_and_help_stay_light():
    code = ("import sys, heartbeat; from heartbeat.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'ray', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_cli_version_missing_gin_file_and_exit_codes(capsys):
    from heartbeat import __version__
    from heartbeat.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"heartbeat {__version__}"
    assert main(["train", "gin/models/no-such-family.gin", "--epochs", "1"]) == 1  # bad input: one line, exit 1
    err = capsys.readouterr().err
    assert err.startswith("error: gin file") and "no-such-family.gin not found" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as usage:
        main(["train"])  # a usage error: argparse's exit 2
    assert usage.value.code == 2


def test_option_values_and_defaults_are_written_once():
    """The data layer, the metrics and the command line read their values from heartbeat.choices (the same
    objects, not copies), and the search's command line takes its defaults from SearchOptions."""
    import argparse

    from heartbeat import choices
    from heartbeat.data.beatset import WINDOWS
    from heartbeat.data.splits import SPLITS
    from heartbeat.metrics import OBJECTIVES
    from heartbeat.options import DEFAULTS, SearchOptions, add_search_flags, add_tune_args

    assert WINDOWS is choices.WINDOWS and SPLITS is choices.SPLITS and OBJECTIVES is choices.OBJECTIVES

    p = argparse.ArgumentParser()
    add_tune_args(p)
    add_search_flags(p)
    parsed = SearchOptions.from_args(p.parse_args([]))
    assert parsed == DEFAULTS
    by_dest = {a.dest: a for a in p._actions}
    for name, enum_values in (("split", choices.SPLITS), ("task", choices.TASKS), ("objective", choices.OBJECTIVES),
                              ("scheduler", choices.SCHEDULERS), ("searcher", choices.SEARCHERS)):
        assert tuple(by_dest[name].choices) == enum_values
        assert getattr(DEFAULTS, name) in enum_values
        assert type(getattr(DEFAULTS, name)) is str  # an enum member would reach gin as <Split.INTRA: 'intra'>
    # a changed default reaches the command line
    q = argparse.ArgumentParser()
    add_tune_args(q, SearchOptions(num_samples=7, split="ds1ds2"))
    changed = q.parse_args([])
    assert (changed.num_samples, changed.split) == (7, "ds1ds2")
