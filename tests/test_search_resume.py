"""Ctrl-C, then --resume: the project's own command to continue, no epoch twice, Optuna's best is the export."""

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from test_tune import hypertune, search_file, workdir  # noqa: F401  (the fixture and helpers of the search tests)

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow


def first_epoch_reported(exp: Path) -> bool:
    return any(len(p.read_text().splitlines()) >= 2 for p in exp.glob("run_trial_*/progress.csv"))


@pytest.mark.slow
def test_resume_after_sigint_has_no_duplicated_epochs_and_exports_optunas_best(workdir):  # noqa: F811
    import optuna

    space = search_file(workdir, "'fit.learning_rate': ('loguniform', 0.001, 0.01)")
    args = ("--search", str(space), "--name", "cc", "--num-samples", "3", "--max-epochs", "3", "--grace-period", "2",
            "--time-budget", "0", "--no-register")
    proc = hypertune(workdir, *args, wait=False, text=True)
    exp = workdir / "results" / "cc" / "ray" / "tune"
    deadline = time.time() + 300
    while time.time() < deadline and not first_epoch_reported(exp):
        time.sleep(0.5)
    assert first_epoch_reported(exp), "no epoch reported in time"
    os.kill(proc.pid, signal.SIGINT)  # the driver only, as a terminal's Ctrl-C reaches it first
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, out[-3000:]
    assert "Tuner.restore" not in out
    assert "continue it with: " in out and out.rstrip().endswith("--name cc --resume"), out[-2000:]
    assert "python hypertune.py --data" in out
    cut = pd.read_csv(workdir / "results" / "cc" / "trials.csv", dtype={"trial_id": str})
    assert "interrupted" in set(cut.status) and "stopped early (ASHA)" not in set(cut.status)
    assert not (workdir / "models" / "cc").exists(), "nothing is exported from an interrupted search"

    done = hypertune(workdir, *args, "--resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "best: trial" in done.stdout
    # the interrupted trials ran again from epoch 1 (Ray's raw progress.csv may hold their first rows too)
    assert "ended trials are kept, unfinished ones run again" in done.stdout

    history = pd.read_csv(workdir / "results" / "cc" / "history.csv", dtype={"trial_id": str})
    assert not history.duplicated(["trial_id", "epoch"]).any()
    trials = pd.read_csv(workdir / "results" / "cc" / "trials.csv", dtype={"trial_id": str})
    assert len(trials) == 3 and set(trials.status) <= {"completed", "stopped early (ASHA)"}
    for row in trials.itertuples():
        epochs = history.loc[history.trial_id == row.trial_id, "epoch"]
        assert row.epochs == epochs.max() == len(epochs) <= 3

    study = optuna.load_study(study_name="cc", storage=f"sqlite:///{workdir / 'results' / 'cc' / 'optuna.db'}")
    ids = [t.user_attrs["ray_trial_id"] for t in study.trials]
    assert sorted(ids) == sorted(trials.trial_id), "Optuna sees each trial once"
    by_id = {t.user_attrs["ray_trial_id"]: t for t in study.trials}
    for row in trials.itertuples():
        t = by_id[row.trial_id]
        want = optuna.trial.TrialState.COMPLETE if row.status == "completed" else optuna.trial.TrialState.PRUNED
        assert t.state == want
        assert sorted(t.intermediate_values) == list(range(1, row.epochs + 1))
        rows = history[history.trial_id == row.trial_id].set_index("epoch")
        for epoch, value in t.intermediate_values.items():
            assert value == pytest.approx(rows.loc[epoch, "best_objective"])
    info = json.loads((workdir / "models" / "cc" / "metrics.json").read_text())
    assert by_id[info["trial_id"]].state == optuna.trial.TrialState.COMPLETE
    assert info["valid"]["f2_macro"] == pytest.approx(study.best_value)
    assert by_id[info["trial_id"]].value == pytest.approx(study.best_value)
