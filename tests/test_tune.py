"""The search end to end: Ray Tune in a subprocess on 2 CPUs, small synthetic data, MLflow in tmp."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from heartbeat.data import write_beats
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.tuning.tune import SearchSpaceError, read_search, trial_bindings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def workdir(tmp_path):
    write_beats(synthetic_beats(3000, seed=0), tmp_path / "beats.parq")
    return tmp_path


def hypertune(workdir: Path, *args: str, wait: bool = True, ray_address: str | None = None, **kw):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
           "TUNE_GLOBAL_CHECKPOINT_S": "1", "RAY_DEDUP_LOGS": "0"}
    env.pop("RAY_ADDRESS", None)
    if ray_address:
        env["RAY_ADDRESS"] = ray_address
    cmd = [sys.executable, str(ROOT / "hypertune.py"), "--data", str(workdir / "beats.parq"),
           "--results", str(workdir / "results"), "--models", str(workdir / "models"), "--cpus", "2", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, **kw)
    return subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=600, **kw)


def search_file(workdir: Path, space: str, name: str = "space.gin") -> Path:
    path = workdir / name
    path.write_text(f"include 'gin/models/cnn1d.gin'\nCNN1D.channels = 8\nfit.batch_size = 64\n"
                    f"fit.beats_per_epoch = 640\nsearch.space = {{{space}}}\n")
    return path


def test_invalid_search_key_is_rejected_before_any_trial(workdir):
    bad = search_file(workdir, "'CNN1D.chanels': ('choice', [8, 16])")
    with pytest.raises(SearchSpaceError, match=r"search key 'CNN1D.chanels' is not a valid gin binding"):
        read_search(bad)
    worse = search_file(workdir, "'CNN1D.channels': ('between', 8, 16)", "worse.gin")
    with pytest.raises(SearchSpaceError, match=r"domain .* must be a tuple whose first item is one of"):
        read_search(worse)
    done = hypertune(workdir, "--search", str(bad), "--name", "bad")
    assert done.returncode == 1 and "not a valid gin binding" in done.stderr
    assert not (workdir / "results" / "bad").exists()


def test_non_scalar_choices_travel_as_text():
    _, space = read_search(ROOT / "gin/search/cnn2d.gin")
    lines = trial_bindings({"CNN2D.grid": "(24, 8)"}, space)
    assert lines == ["CNN2D.grid = (24, 8)"]


@pytest.mark.slow
def test_smoke_search_end_to_end(workdir):
    done = hypertune(workdir, "--smoke-test", "--name", "smoke")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = pd.read_csv(workdir / "results" / "smoke" / "trials.csv", dtype={"trial_id": str})
    assert len(trials) == 3 and set(trials.status) <= {"completed", "stopped early (ASHA)"}
    assert trials["best_f2_macro"].notna().all()
    model = workdir / "models" / "smoke"
    assert {p.name for p in model.iterdir()} == {"model.pt", "config.gin", "metrics.json"}
    info = json.loads((model / "metrics.json").read_text())
    assert info["valid"]["f2_macro"] == pytest.approx(trials["best_f2_macro"].max())
    # the winner's config, to retrain it from gin alone; a smoke test writes it under runs/, not into gin/best
    assert (workdir / "runs" / "gin" / "best" / "smoke.gin").read_text() == (model / "config.gin").read_text()
    assert info["trial_id"] == trials.loc[trials["best_f2_macro"].idxmax(), "trial_id"]
    # quiet: the project's lines only (one per trial among them), Ray's tables and hints in search.log
    lines = done.stdout.splitlines()
    assert sum("completed" in line or "stopped early" in line for line in lines if line.startswith("trial ")) == 3
    assert len(lines) < 30 and max(map(len, lines)) < 300, done.stdout
    assert "Trial status" not in done.stdout and "╭" not in done.stdout
    assert (workdir / "results" / "smoke" / "search.log").read_text().count("heartbeat.search") >= 5

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("heartbeat-smoke")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 3 and all("best_objective" in r.data.metrics for r in runs)
    assert [str(v.version) for v in client.search_model_versions("name='heartbeat-smoke'")] == ["1"]

    # the search keeps its Optuna study, every epoch of every trial, and its space
    import optuna

    study = optuna.load_study(study_name="smoke", storage=f"sqlite:///{workdir / 'results' / 'smoke' / 'optuna.db'}")
    assert len(study.trials) == 3
    from heartbeat.report import tables

    history = tables.history(workdir / "results", "smoke")  # the report reads what the search saved
    assert set(history["source"]) == {"history.csv"}
    ids = pd.read_csv(workdir / "results" / "smoke" / "trials.csv", dtype=str)["trial_id"]
    assert set(history["trial_id"]) == set(ids)
    assert sorted(history["trial_number"].unique()) == [1, 2, 3]
    assert history["epoch"].max() == trials["epochs"].max()
    space = json.loads((workdir / "results" / "smoke" / "space.json").read_text())
    assert space and set(space) <= set(trials.columns)


@pytest.mark.slow
def test_smoke_search_on_a_two_node_cluster(workdir):
    """The search runs unchanged on a Ray cluster: two nodes (one and two logical CPUs) on this machine's own
    address (Ray resolves 127.0.0.1 to it), joined through RAY_ADDRESS as the README's cluster section does."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        done = hypertune(workdir, "--smoke-test", "--name", "cluster", "--no-register", ray_address=cluster.address)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        # the search saw both nodes' CPUs (1 + 2), not a Ray of its own started with --cpus 2 ...
        assert "ray: 3 CPUs, 1 per trial, up to 3 trials at once" in done.stdout
        trials = pd.read_csv(workdir / "results" / "cluster" / "trials.csv")
        assert len(trials) == 3 and trials["best_f2_macro"].notna().all()
        assert (workdir / "models" / "cluster" / "model.pt").exists()
        # ... and left the cluster running: it disconnects, it does not shut down what it joined
        assert len([n for n in cluster.list_all_nodes() if n.remaining_processes_alive()]) == 2
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_a_failing_trial_does_not_end_the_search(workdir):
    space = search_file(workdir, "'fit.scheduler': ('choice', ['constant', 'no-such-schedule'])")
    done = hypertune(workdir, "--search", str(space), "--name", "fail", "--searcher", "random",
                     "--scheduler", "none", "--num-samples", "4", "--max-epochs", "1", "--no-register")
    trials = pd.read_csv(workdir / "results" / "fail" / "trials.csv")
    assert len(trials) == 4, done.stdout[-3000:]
    bad = trials["fit.scheduler"] == "no-such-schedule"
    assert bad.any() and (~bad).any()
    assert (trials.loc[bad, "status"] == "failed").all()
    assert trials.loc[bad, "error"].str.contains("no-such-schedule").all()
    assert (trials.loc[~bad, "status"] == "completed").all()
    assert done.returncode == 0 and (workdir / "models" / "fail" / "model.pt").exists()


@pytest.mark.slow
def test_resume_after_a_killed_run_does_not_rerun_finished_trials(workdir):
    space = search_file(workdir, "'fit.learning_rate': ('loguniform', 0.001, 0.01)")
    args = ("--search", str(space), "--name", "crash", "--searcher", "random", "--scheduler", "none",
            "--num-samples", "4", "--max-epochs", "3", "--no-register")
    proc = hypertune(workdir, *args, wait=False)
    exp = workdir / "results" / "crash" / "ray" / "tune"
    deadline = time.time() + 300
    finished = []
    while time.time() < deadline and not finished:
        time.sleep(1)
        finished = [p for p in exp.glob("run_trial_*/result.json") if '"final": 1' in p.read_text()]
    assert finished, "no trial finished in time"
    time.sleep(4)  # let Ray write its experiment state once more
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.parent.name: p.read_text() for p in finished}

    done = hypertune(workdir, *args, "--resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = pd.read_csv(workdir / "results" / "crash" / "trials.csv")
    assert len(trials) == 4 and (trials.status == "completed").all()
    for name, text in before.items():
        assert (exp / name / "result.json").read_text() == text, f"{name} was run again"
    again = hypertune(workdir, *args)
    assert again.returncode == 1 and "--resume" in again.stderr


def test_trials_table_leaves_out_trials_that_never_started():
    """A time budget can end a search with sampled trials still pending: no config, no metrics."""
    from types import SimpleNamespace

    from heartbeat.tuning.tune import trials_table

    history = pd.DataFrame({"epoch": [1, 2], "objective": [0.5, 0.7], "recall_macro": [0.6, 0.8],
                            "f1_macro": [0.4, 0.6]})
    ran = SimpleNamespace(config={"CNN1D.channels": 8}, error=None, path="/x/run_trial_a", metrics_dataframe=history,
                          metrics={"trial_id": "a", "final": 1, "training_iteration": 2, "objective": 0.7,
                                   "time_total_s": 3.0})
    pending = SimpleNamespace(config=None, error=None, path=None, metrics={}, metrics_dataframe=None)
    table = trials_table([ran, pending], {"CNN1D.channels": ("choice", [8, 16])}, "f2_macro")
    assert table["trial_id"].tolist() == ["a"] and table.loc[0, "status"] == "completed"
    assert table.loc[0, "best_f2_macro"] == 0.7 and table.loc[0, "best_epoch"] == 2


def test_truncated_trials_reach_optuna_as_pruned_and_finished_ones_as_complete():
    import optuna
    from ray import tune

    from heartbeat.tuning.tune import truncation_aware_optuna

    searcher = truncation_aware_optuna("best_objective", seed=0)
    searcher.set_search_properties("best_objective", "max", {"x": tune.uniform(0.0, 1.0)})
    for trial_id in ("cut", "done", "broken"):
        assert searcher.suggest(trial_id) is not None
        searcher.on_trial_result(trial_id, {"best_objective": 0.3, "training_iteration": 1})
    searcher.on_trial_complete("cut", {"best_objective": 0.3, "final": 0, "training_iteration": 2})
    searcher.on_trial_complete("done", {"best_objective": 0.5, "final": 1, "training_iteration": 2})
    searcher.on_trial_complete("broken", None, error=True)
    states = [t.state for t in searcher._ot_study.trials]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE,
                      optuna.trial.TrialState.FAIL]
    assert searcher._ot_study.best_value == 0.5


@pytest.mark.slow  # MLflow's import and two sqlite stores: 8 s
def test_a_trial_that_never_started_does_not_end_the_search_through_mlflow(tmp_path):
    """Ray's MLflowLoggerCallback looks up the MLflow run of every trial that errs; a trial whose worker
    failed before the trial began has none, and the KeyError ended a whole DS1 search. Ours skips it."""
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    from heartbeat.tuning.tune import _make_mlflow_logger

    never_started = object()  # a trial Ray made but never ran: no log_trial_start, so no MLflow run
    ray_own = MLflowLoggerCallback(tracking_uri=f"sqlite:///{tmp_path / 'ray.db'}", experiment_name="heartbeat-test")
    ray_own.setup()  # what the Tuner does when the search starts
    with pytest.raises(KeyError):  # Ray's own callback, as it is: this is what the search died of
        ray_own.log_trial_end(never_started, failed=True)
    ours = _make_mlflow_logger(f"sqlite:///{tmp_path / 'ours.db'}", "heartbeat-test")
    ours.setup()
    ours.log_trial_end(never_started, failed=True)  # no error: the search goes on
    assert isinstance(ours, MLflowLoggerCallback) and never_started not in ours._trial_runs
