"""Hyperparameter search: gin bindings as the search space, Ray Tune (ASHA + Optuna TPE), MLflow.

A search file includes a model's gin file and names the bindings to vary::

    include 'gin/models/cnn1d.gin'
    search.space = {
        'CNN1D.channels': ('choice', [16, 32, 64]),
        'fit.learning_rate': ('loguniform', 1e-4, 3e-3),
    }

Domains: ``('choice', [values])``, ``('uniform', lo, hi)``, ``('loguniform', lo, hi)``,
``('randint', lo, hi)`` (hi exclusive), ``('quniform', lo, hi, q)``. Every key is checked
as a gin binding before any trial starts.

How a trial runs: the driver parses the search file once and hands each trial the
flattened gin text plus its sampled values (plain strings and dicts, so it works unchanged
on a Ray cluster); the data goes once into Ray's object store (``tune.with_parameters``).
The trial parses gin itself (gin state is per process), sets torch's threads to its CPU
share, trains with :func:`heartbeat.fit.fit` and reports every epoch; an epoch that
improves the objective carries a checkpoint (weights + operative ``config.gin``).

The searched metric is ``best_objective``: the best validation objective a trial has
reached so far. ASHA (epochs as the resource) compares trials on it at each rung.

Truncated trials and Optuna: Ray's ``OptunaSearch`` tells Optuna the last value of every
trial as if the trial were complete, so a trial that ASHA stopped at epoch 2 would count as
a finished configuration worth its epoch-2 score. Here such a trial is told to Optuna as
PRUNED instead (its per-epoch values were already reported as intermediate values), which
is how Optuna's own pruners present it: TPE then ranks it below the trials that ran to the
end at the same step, rather than mixing low-rung scores with final ones. A trial that
ends by its own early stopping or reaches the epoch limit is COMPLETE. A trial that raises
or whose loss turns NaN is FAIL, and the search goes on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import gin
import numpy as np
import pandas as pd

from heartbeat.config import binding, parse, parse_text
from heartbeat.errors import HeartbeatError

DOMAINS = ("choice", "uniform", "loguniform", "randint", "quniform")


@gin.configurable(denylist=[])
def search(space=gin.REQUIRED):
    """Holder of ``search.space``: {binding name: (domain, *args)}."""
    return space


class SearchSpaceError(HeartbeatError, ValueError):
    """A search file whose space is malformed or names a binding that does not exist."""


class SearchError(HeartbeatError, ValueError):
    """A search that cannot start (its experiment exists, or there is nothing to resume) or found nothing."""


@dataclass
class SearchOptions:
    """Every option of a search, with the command line's defaults (``hypertune.py --help`` explains each)."""

    search: str = "gin/search/cnn1d.gin"
    num_samples: int = 40
    time_budget: float = 15
    max_epochs: int = 25
    grace_period: int = 2
    scheduler: str = "asha"
    searcher: str = "optuna"
    objective: str = "f2_macro"
    data: str | None = None
    task: str = "mitbih"
    split: str = "intra"
    seed: int = 0
    holdout: str | None = None
    valid_size: float = 0.2
    bind: list[str] = field(default_factory=list)
    name: str | None = None
    tag: str | None = None
    resume: bool = False
    smoke_test: bool = False
    cpus: int | None = None
    cpus_per_trial: int = 1
    gpus_per_trial: float = 0
    results: str = "results"
    models: str = "models"
    best_gin: str = "gin/best"
    storage: str | None = None
    no_register: bool = False

    @classmethod
    def from_args(cls, args) -> "SearchOptions":
        """From a parsed command line (its other attributes, like the verb, are left out)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


@dataclass
class SearchResult:
    """What a search leaves: its name and folder, the trials table, the summary, the best model folder."""

    name: str
    results_dir: Path
    table: pd.DataFrame
    summary: dict
    model_dir: Path | None


# ---------------------------------------------------------------- the space
def read_search(path: str | Path) -> tuple[str, dict]:
    """Parse a search file; return (flattened gin text of everything it binds, its space)."""
    parse(path)
    try:
        space = gin.query_parameter("search.space")
    except ValueError as exc:
        raise SearchSpaceError(f"{path}: no 'search.space = {{...}}' binding") from exc
    base = gin.config_str()
    validate_space(space, base, str(path))
    return base, space


def validate_space(space: dict, base: str, where: str) -> None:
    """Every key must be a valid binding and every domain well-formed; checked before any trial."""
    if not isinstance(space, dict) or not space:
        raise SearchSpaceError(f"{where}: search.space must be a non-empty dict of binding -> domain")
    for key, spec in space.items():
        if not (isinstance(spec, (tuple, list)) and spec and spec[0] in DOMAINS):
            raise SearchSpaceError(f"{where}: search key {key!r}: domain {spec!r} must be a tuple whose "
                                   f"first item is one of {DOMAINS}")
        kind, args = spec[0], spec[1:]
        if kind == "choice" and not (len(args) == 1 and isinstance(args[0], (list, tuple)) and args[0]):
            raise SearchSpaceError(f"{where}: search key {key!r}: ('choice', [v1, v2, ...]) expected, got {spec!r}")
        if kind != "choice" and not (len(args) in (2, 3) and all(isinstance(a, (int, float)) for a in args)
                                     and args[0] < args[1]):
            raise SearchSpaceError(f"{where}: search key {key!r}: ({kind!r}, low, high) with low < high expected, "
                                   f"got {spec!r}")
        if kind == "loguniform" and args[0] <= 0:
            raise SearchSpaceError(f"{where}: search key {key!r}: loguniform needs low > 0, got {spec!r}")
        samples = args[0] if kind == "choice" else [args[0]]
        for value in samples:
            try:
                gin.parse_config(binding(key, value))
            except Exception as exc:  # gin raises ValueError/KeyError/TypeError for unknown names
                raise SearchSpaceError(f"{where}: search key {key!r} is not a valid gin binding "
                                       f"(value {value!r}): {exc}") from exc
    parse_text(base)  # leave gin as the file left it


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def to_tune(space: dict) -> dict:
    """Ray Tune domains. Non-scalar choices (tuples, lists) travel as their repr string."""
    from ray import tune

    out = {}
    for key, (kind, *args) in space.items():
        if kind == "choice":
            out[key] = tune.choice([v if _scalar(v) else repr(v) for v in args[0]])
        elif kind == "uniform":
            out[key] = tune.uniform(*args[:2])
        elif kind == "loguniform":
            out[key] = tune.loguniform(*args[:2])
        elif kind == "randint":
            out[key] = tune.randint(*args[:2])
        else:  # quniform
            out[key] = tune.quniform(*args)
    return out


def trial_bindings(config: dict, space: dict) -> list[str]:
    """gin binding lines for a trial's sampled values (decoding non-scalar choices)."""
    lines = []
    for key, value in config.items():
        kind, *args = space[key]
        if kind == "choice":
            value = {(v if _scalar(v) else repr(v)): v for v in args[0]}[value]
        lines.append(binding(key, value))
    return lines


# ---------------------------------------------------------------- the trial
def search_windows(base: str, space: dict) -> list[str]:
    """The beat windows a search needs data for: the choices of ``BeatInput.window``, else its binding."""
    from heartbeat.inputs import BeatInput

    if "BeatInput.window" in space:
        kind, *args = space["BeatInput.window"]
        if kind != "choice":
            raise SearchSpaceError(f"BeatInput.window: ('choice', [windows]) expected, got {space['BeatInput.window']!r}")
        return sorted(set(args[0]))
    parse_text(base)
    return [BeatInput().window]


def run_trial(config: dict, data: dict, base_config: str, space: dict, cpus: int, max_epochs: int,
              device: str = "cpu") -> None:
    """One Ray Tune trial: parse gin, fit, report every epoch (with a checkpoint when improved).

    ``data`` maps each beat window the search uses to its (train, valid) beats; the trial takes
    those of its own ``BeatInput.window``.
    """
    import torch
    from ray import tune

    from heartbeat.inputs import BeatInput
    from heartbeat.fit import fit

    torch.set_num_threads(max(1, int(cpus)))  # Ray sets OMP_NUM_THREADS=1; give the trial its share
    parse_text(base_config, trial_bindings(config, space))
    train, valid = data[BeatInput().window]
    # the search's epoch cap becomes the config's own, so gin/best/<tag>.gin retrains the same run
    # (fit() gives the learning-rate schedule the capped length either way)
    gin.bind_parameter("fit.epochs", min(gin.query_parameter("fit.epochs"), max_epochs))

    def report(row: dict, model) -> None:
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float, bool)) and not isinstance(v, bool)}
        metrics.update(improved=int(row["improved"]), final=int(row["final"]))
        if not row["improved"]:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as d:
            if isinstance(model, torch.nn.Module):
                torch.save(model.state_dict(), Path(d) / "model.pt")
            else:
                model.save(d)
            (Path(d) / "config.gin").write_text(gin.operative_config_str())
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    fit(train, valid, on_epoch=report, max_epochs=max_epochs, device=device)


def truncation_aware_optuna(metric: str, seed: int, storage: str | None = None, study_name: str = "optuna"):
    """Ray's OptunaSearch (TPE, seeded), telling ASHA-truncated trials to Optuna as PRUNED.

    ``storage`` (an SQLAlchemy URL, e.g. ``sqlite:///results/<name>/optuna.db``) keeps the study on
    disk, for ``optuna-dashboard`` and the report's ``optuna.visualization`` figures.
    The subclass writes Ray's internals (``_ot_study``, ``_ot_trials``, ``_completed_trials``);
    tests/test_tune.py checks them, so an upgrade that renames them breaks loudly.
    """
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    class TruncationAwareOptunaSearch(OptunaSearch):
        def on_trial_complete(self, trial_id, result=None, error=False):
            if result and not error and not result.get("final") and trial_id not in self._completed_trials:
                self._ot_study.tell(self._ot_trials[trial_id], state=optuna.trial.TrialState.PRUNED)
                self._completed_trials.add(trial_id)
                return
            super().on_trial_complete(trial_id, result, error)

    return TruncationAwareOptunaSearch(metric=metric, mode="max", sampler=optuna.samplers.TPESampler(seed=seed),
                                       study_name=study_name,
                                       storage=optuna.storages.RDBStorage(storage) if storage else None)


# ---------------------------------------------------------------- the driver
def trials_table(grid, space: dict, objective: str) -> pd.DataFrame:
    """One row per trial: parameters, final and best metrics, epochs run, status, wall time."""
    rows = []
    for result in grid:
        if result.config is None:  # created but never started (the time budget ran out first)
            continue
        m = result.metrics or {}
        df = result.metrics_dataframe
        best = df.loc[df["objective"].idxmax()] if df is not None and len(df) and "objective" in df else None
        if result.error:
            status = "failed"
        elif m.get("final"):
            status = "completed"
        else:
            status = "stopped early (ASHA)" if m else "not run"
        row = {"trial_id": m.get("trial_id", Path(result.path).name if result.path else "")}
        row.update({k: result.config.get(k) for k in space})
        row.update({
            "status": status,
            "epochs": int(m.get("training_iteration", 0)),
            f"final_{objective}": m.get("objective", np.nan),
            f"best_{objective}": best["objective"] if best is not None else np.nan,
            "best_epoch": int(best["epoch"]) if best is not None else 0,
            "best_recall_macro": best["recall_macro"] if best is not None else np.nan,
            "best_f1_macro": best["f1_macro"] if best is not None else np.nan,
            "wall_seconds": m.get("time_total_s", np.nan),
            "error": _last_line(result.error),
        })
        rows.append(row)
    return pd.DataFrame(rows).sort_values(f"best_{objective}", ascending=False, na_position="last")


def history(grid) -> pd.DataFrame:
    """Every epoch of every trial (Ray's per-iteration results), one row each: the columns the report
    reads (heartbeat.report.tables.HISTORY_KEYS), with the trial's id and its number in the search."""
    from heartbeat.report.tables import HISTORY_KEYS  # the report owns the columns it reads

    frames = []
    for result in grid:
        df = result.metrics_dataframe
        if df is not None and len(df):
            folder = Path(result.path).name if result.path else ""
            m = re.match(r"run_trial_([0-9a-f]+)_(\d+)_", folder)
            frames.append(pd.DataFrame({"trial_id": m.group(1) if m else df.get("trial_id"),
                                        "trial_number": int(m.group(2)) if m else np.nan,
                                        **{k: df[k] if k in df else np.nan for k in HISTORY_KEYS}}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _last_line(error) -> str:
    """The exception line of a trial's error (Ray prefixes the remote traceback)."""
    lines = [line.strip() for line in str(error or "").splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Loss)\b", line)]
    return (raised or lines or [""])[-1][:300]


def export_best(grid, out: Path, info: dict) -> tuple[Path, dict] | None:
    """Copy the best checkpoint of the best trial into a model folder; None if no trial reported."""
    from heartbeat.modelio import load_model, save_model

    try:
        best = grid.get_best_result(metric="best_objective", mode="max", scope="all")
    except RuntimeError:
        return None
    ckpt = best.get_best_checkpoint(metric="objective", mode="max") if best.best_checkpoints else None
    if ckpt is None:
        return None
    df = best.metrics_dataframe
    row = df.loc[df["objective"].idxmax()].to_dict()
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "ckpt"
        shutil.copytree(ckpt.to_directory(), local)
        (local / "metrics.json").write_text(json.dumps({"task": info["task"]}))
        loaded = load_model(local)
        valid = {k: float(row[k]) for k in row if k in info["metric_names"]}
        full = {**info, "best_epoch": int(row["epoch"]), "valid": valid, "trial_config": best.config}
        full.pop("metric_names")
        save_model(out, loaded.net, loaded.config, full, loaded.inputs)
    return out, valid


def print_table(table: pd.DataFrame, objective: str, top: int = 10) -> None:
    cols = [c for c in table.columns if c not in ("error",)]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        print(table[cols].head(top).to_string(index=False))


def run_search(args: SearchOptions) -> SearchResult:
    """Run a search (``heartbeat.search`` and ``hypertune.py`` / ``heartbeat tune`` call this).

    Raises SearchError when the experiment exists (without ``resume``) or there is nothing to
    resume; ``model_dir`` of the result is None when no trial reported a result.
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from heartbeat.commands import warn_if_synthetic
    from heartbeat.data import valid_split
    from heartbeat.data.sources import describe, load_dataset
    from heartbeat.metrics import OBJECTIVES, classification_metrics
    from heartbeat.registry import tracking_uri

    if args.smoke_test:
        args = SearchOptions(**{**vars(args), "num_samples": min(args.num_samples, 3),
                                "max_epochs": min(args.max_epochs, 2)})
    base, space = read_search(args.search)
    base += "\n" + "\n".join([binding("fit.objective", args.objective)] + list(args.bind))
    name = args.name or Path(args.search).stem + ("-smoke" if args.smoke_test else "")
    results_dir = Path(args.results).resolve() / name
    storage = Path(args.storage).resolve() if args.storage else results_dir / "ray"
    exp_path = storage / "tune"

    # an experiment that exists (or that --resume cannot find) is refused before data or Ray start up
    if args.resume and not tune.Tuner.can_restore(str(exp_path)):
        raise SearchError(f"nothing to resume at {exp_path}")
    if not args.resume and exp_path.exists():
        raise SearchError(f"experiment {exp_path} exists; continue it with --resume, or pick another --name")

    data = {}
    for window in search_windows(base, space):  # the same beats and split, cut by each window searched
        ds = load_dataset(args.data, task=args.task, split_how=args.split, seed=args.seed, holdout=args.holdout,
                          window=window)
        train, valid = valid_split(ds, args.valid_size, args.seed)
        if args.smoke_test:
            from heartbeat.data import split as split_beats

            train = split_beats(train, "intra", test_size=0.9, seed=args.seed)[0]
            valid = split_beats(valid, "intra", test_size=0.8, seed=args.seed)[0]
        data[window] = (train, valid)
    warn_if_synthetic(ds)
    if args.smoke_test:
        base += "\nfit.beats_per_epoch = 1000"
    print(f"data: {ds.source}\n  train {len(train)} beats ({describe(train)})\n  valid {len(valid)} beats "
          f"(the test split and any held-out patients are not used by the search); windows: {', '.join(data)}")

    if os.environ.get("RAY_ADDRESS"):  # a cluster (with RAY_AUTH_MODE=token where it uses token auth)
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
    else:  # a Ray of our own, never one that happens to run on this machine
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    total_cpus = int(ray.cluster_resources().get("CPU", 1))
    concurrent = max(1, total_cpus // args.cpus_per_trial)
    print(f"ray: {total_cpus} CPUs, {args.cpus_per_trial} per trial, up to {concurrent} trials at once; "
          f"experiment {exp_path}")

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=data, base_config=base, space=space,
                             cpus=args.cpus_per_trial, max_epochs=args.max_epochs,
                             device="cuda" if args.gpus_per_trial else "cpu"),
        {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial},
    )
    uri = tracking_uri()
    if args.resume:
        print(f"resuming {exp_path}: finished trials are kept, unfinished ones continue")
        tuner = tune.Tuner.restore(str(exp_path), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
    else:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=args.max_epochs,
                                   grace_period=min(args.grace_period, args.max_epochs), reduction_factor=3)
                     if args.scheduler == "asha" else FIFOScheduler())
        results_dir.mkdir(parents=True, exist_ok=True)
        searcher = (truncation_aware_optuna("best_objective", args.seed, f"sqlite:///{results_dir / 'optuna.db'}",
                                            study_name=name)
                    if args.searcher == "optuna" else BasicVariantGenerator(random_state=args.seed))
        tuner = tune.Tuner(
            trainable,
            param_space=to_tune(space),
            tune_config=tune.TuneConfig(
                metric="best_objective", mode="max", scheduler=scheduler, search_alg=searcher,
                num_samples=args.num_samples, max_concurrent_trials=concurrent,
                time_budget_s=args.time_budget * 60 if args.time_budget else None,
            ),
            run_config=tune.RunConfig(
                name="tune", storage_path=str(storage), verbose=1,
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="objective",
                                                        checkpoint_score_order="max"),
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                callbacks=[MLflowLoggerCallback(tracking_uri=uri, experiment_name=f"heartbeat-{name}",
                                                save_artifact=False)],
            ),
        )
    start = time.perf_counter()
    try:
        grid = tuner.fit()
    finally:
        ray.shutdown()  # a notebook or a benchmark may run the next search in the same process
    wall = time.perf_counter() - start

    results_dir.mkdir(parents=True, exist_ok=True)
    table = trials_table(grid, space, args.objective)
    table.to_csv(results_dir / "trials.csv", index=False)
    history(grid).to_csv(results_dir / "history.csv", index=False)
    (results_dir / "space.json").write_text(json.dumps(space, indent=2, default=repr) + "\n")
    metric_names = set(classification_metrics([0], [0], train.classes)) | set(OBJECTIVES)
    info = {"task": ds.task, "classes": list(train.classes), "data": ds.source, "data_path": ds.data_path,
            "synthetic": ds.synthetic,
            "split": ds.split, "seed": args.seed, "valid_size": args.valid_size, "holdout": list(ds.holdout_records),
            "objective": args.objective, "search": str(args.search),
            "experiment": name, "metric_names": metric_names}
    tag = args.tag or name
    exported = export_best(grid, Path(args.models) / tag, info)
    never_started = len(grid) - len(table)  # trials_table leaves out the ones that never started
    summary = {"experiment": name, "search": str(args.search), "trials": len(table), "never_started": never_started,
               "status": table["status"].value_counts().to_dict(), "wall_seconds": wall,
               "num_samples": args.num_samples, "max_epochs": args.max_epochs, "scheduler": args.scheduler,
               "searcher": args.searcher, "objective": args.objective, "cpus": total_cpus,
               "data": ds.source, "synthetic": ds.synthetic}
    print(f"\n{len(table)} trials in {wall / 60:.1f} min: {summary['status']}"
          + (f"; {never_started} sampled but never started (time budget)" if never_started else ""))
    print_table(table, args.objective)
    if exported is None:
        print("no trial reported a result: nothing exported", file=sys.stderr)
        (results_dir / "search.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        return SearchResult(name, results_dir, table, summary, None)
    out, valid_metrics = exported
    best_gin = Path(args.best_gin) / f"{tag}.gin"
    best_gin.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "config.gin", best_gin)  # retrain the winner: heartbeat train gin/best/<tag>.gin
    summary["best_model"] = str(out)
    summary["best_gin"] = str(best_gin)
    summary["best_valid"] = valid_metrics
    print(f"\nbest model -> {out}: {args.objective} {valid_metrics[args.objective]:.4f}, recall_macro "
          f"{valid_metrics['recall_macro']:.4f}, per-class recall "
          + " ".join(f"{c} {valid_metrics['recall_' + c]:.3f}" for c in train.classes))
    if not args.no_register:
        from heartbeat.registry import register_model_dir

        version = register_model_dir(out, name=f"heartbeat-{tag}", tags={"experiment": name})
        summary["registered"] = f"heartbeat-{tag}/{version}"
        print(f"registered in MLflow ({uri}) as heartbeat-{tag} version {version}")
    (results_dir / "search.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"wrote {results_dir / 'trials.csv'}, {results_dir / 'search.json'} and {best_gin}")
    return SearchResult(name, results_dir, table, summary, out)


def build_parser():
    import argparse

    from heartbeat.options import TUNE_DESCRIPTION, TUNE_EPILOG, add_tune_args

    p = argparse.ArgumentParser(prog="hypertune.py", description=TUNE_DESCRIPTION, epilog=TUNE_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tune_args(p)
    return p


def cli(args) -> int:
    """Run a parsed search, turning bad input into a clear message and exit code 2."""
    from heartbeat.data import DataError

    try:
        result = run_search(SearchOptions.from_args(args))
    except HeartbeatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if result.model_dir is not None else 1


def main(argv: list[str] | None = None) -> int:
    return cli(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
