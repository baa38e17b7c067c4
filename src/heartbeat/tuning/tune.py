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

Before Ray starts, the search checks what it can: the space, the folders it would overwrite
(refused without ``--force`` / ``force=True``), and whether the data can serve the space (rhythm
columns where ``BeatInput.rhythm`` may be True, patients for an inter-patient split, every class
in the training beats). Each failure is one :class:`SearchError` line.

How a trial runs: the driver parses the search file once and hands each trial the
flattened gin text plus its sampled values (plain strings and dicts, so it works unchanged
on a Ray cluster); the data goes once into Ray's object store (``tune.with_parameters``).
The trial parses gin itself (gin state is per process), sets torch's threads to its CPU
share, trains with :func:`heartbeat.training.fit.fit` and reports every epoch; an epoch that
improves the objective carries a checkpoint (weights + operative ``config.gin``).

The searched metric is ``best_objective``: the best validation objective a trial has
reached so far. ASHA compares trials on it at each rung, with the trial's own ``epoch`` as
the resource (not Ray's ``training_iteration``, which goes on counting across a restart).

How a trial ends, and what the search makes of it (``trials.csv``'s status):

- *completed*: it ran its epochs, or its own early stopping ended it (``final``). Optuna: COMPLETE.
- *stopped early (ASHA)*: the scheduler stopped it at a rung. Optuna: PRUNED (below).
- *failed*: it raised, or its loss turned NaN; the search goes on. Optuna: FAIL.
- *cut by the time budget*: still running when the budget ran out. Optuna: PRUNED.
- *interrupted*: still running at Ctrl-C. Optuna: left RUNNING; ``--resume`` runs it again.

Which trials ended is what Ray's own callbacks saw (``on_trial_complete`` / ``on_trial_error``,
kept in ``ended.jsonl`` across resumes), not a guess from the last result. The exported best
is the best *completed* trial, which is Optuna's ``best_trial`` too; only where none
completed is it the best trial ASHA stopped (Optuna then has no best). Cut and interrupted
trials are never exported.

Truncated trials and Optuna: Ray's ``OptunaSearch`` tells Optuna the last value of every
trial as if the trial were complete, so a trial that ASHA stopped at epoch 2 would count as
a finished configuration worth its epoch-2 score. Here such a trial is told to Optuna as
PRUNED instead (its per-epoch values were already reported as intermediate values), which
is how Optuna's own pruners present it: TPE then ranks it below the trials that ran to the
end at the same step, rather than mixing low-rung scores with final ones.

Ctrl-C and ``--resume``: Ray stops the trials and saves the experiment; the search then says
how to continue it (the project's command, not Ray's ``Tuner.restore`` hint) and exports
nothing. On resume (``Tuner.restore``) an interrupted trial starts again from epoch 1 (the fit
loop keeps no optimiser state in its checkpoints, and a fit is seeded, so the rerun is the same
run): ``history.csv`` keeps its last run only, ``trials.csv`` counts its true epochs, and Optuna's
intermediate values are keyed by epoch, so a rerun epoch replaces its earlier value instead
of adding a step.

Output: one line per ended trial and a progress line every ``PROGRESS_EVERY_S`` seconds; Ray's
tables and the libraries' warnings only with ``--verbose``. Everything, quiet or not, also
goes to ``<results>/<name>/search.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import logging.handlers
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

import gin
import numpy as np
import pandas as pd

from heartbeat.config import binding, parse, parse_text
from heartbeat.data import split as split_beats
from heartbeat.data import valid_split
from heartbeat.data.inputs import BeatInput
from heartbeat.data.sources import describe, load_dataset, warn_if_synthetic
from heartbeat.data.splits import left_out_classes
from heartbeat.errors import ExistsError, HeartbeatError
from heartbeat.inference.modelinfo import ModelInfo
from heartbeat.metrics import OBJECTIVES, classification_metrics
from heartbeat.options import (
    HISTORY_KEYS,
    TUNE_DESCRIPTION,
    TUNE_EPILOG,
    SearchOptions,
    add_search_flags,
    add_tune_args,
    trial_of_folder,
)

DOMAINS = ("choice", "uniform", "loguniform", "randint", "quniform")
#: where searches go that did not name their folders: smoke tests and API calls (ignored by git)
RUNS = "runs"
#: seconds between two progress lines while trials run
PROGRESS_EVERY_S = 15.0
#: the project's logger of a search: its lines on the console and in search.log
log = logging.getLogger("heartbeat.search")


@gin.configurable(denylist=[])
def search(space=gin.REQUIRED):
    """Holder of ``search.space``: {binding name: (domain, *args)}."""
    return space


class SearchSpaceError(HeartbeatError, ValueError):
    """A search file whose space is malformed or names a binding that does not exist."""


class SearchError(HeartbeatError, ValueError):
    """A search that cannot start (its folders exist, its data cannot serve its space, there is nothing to
    resume) or that ended with no trial finished."""


class SearchExistsError(SearchError, ExistsError):
    """A search would overwrite a model folder, a winner's gin file or an experiment (``--force`` / ``force=True``)."""


class SearchInterrupted(SearchError):
    """The search was stopped (Ctrl-C): its state is saved, nothing was exported; the message says how to
    continue it."""


@dataclass
class SearchResult:
    """What a search leaves: its name and folder, the trials table, the summary, the best model folder
    (always set: a search that exported nothing raises :class:`SearchError` instead) and the trial it came from."""

    name: str
    results_dir: Path
    table: pd.DataFrame
    summary: dict
    model_dir: Path
    best_trial: str = ""
    gin_file: Path | None = None


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
    from ray import tune  # ray: seconds to import; only once a search runs

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
    import torch  # torch: seconds to import, and this module is used without it
    from ray import tune  # ray: seconds to import; only once a search runs

    # heartbeat.inference.modelio brings torch: only where this function runs
    from heartbeat.inference.modelio import save_model
    from heartbeat.training.fit import fit  # heartbeat.training.fit brings torch: only where this function runs

    torch.set_num_threads(max(1, int(cpus)))  # Ray sets OMP_NUM_THREADS=1; give the trial its share
    parse_text(base_config, trial_bindings(config, space))
    inputs = BeatInput()
    train, valid = data[inputs.window]
    # the search's epoch cap becomes the config's own, so gin/best/<tag>.gin retrains the same run
    # (fit() gives the learning-rate schedule the capped length either way)
    cap = min(gin.query_parameter("fit.epochs"), max_epochs)
    gin.bind_parameter("fit.epochs", cap)
    # A trial rerun after --resume starts again at epoch 1 (tune.get_checkpoint() holds its best weights
    # but no optimiser, schedule or early-stopping state); the driver keeps the rows of its last run.

    def report(row: dict, model) -> None:
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float, bool)) and not isinstance(v, bool)}
        metrics.update(improved=int(row["improved"]), final=int(row["final"]), max_epoch=cap)
        if not row["improved"]:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as d:  # a model folder, as every other: the driver exports it
            record = ModelInfo(task=train.task, classes=list(train.classes), best_epoch=int(row["epoch"]))
            save_model(d, model, gin.operative_config_str(), record, inputs)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    fit(train, valid, on_epoch=report, max_epochs=max_epochs, device=device)


def truncation_aware_optuna(metric: str, seed: int, storage: str | None = None, study_name: str = "optuna"):
    """Ray's OptunaSearch (TPE, seeded), telling ASHA-truncated trials to Optuna as PRUNED.

    ``storage`` (an SQLAlchemy URL, e.g. ``sqlite:///results/<name>/optuna.db``) keeps the study on
    disk, for ``optuna-dashboard`` and the report's ``optuna.visualization`` figures.
    Each Optuna trial carries its Ray trial id (user attribute ``ray_trial_id``). Intermediate values
    are keyed by the trial's ``epoch``, so a trial rerun after ``--resume`` replaces the values of the
    epochs it runs again instead of adding steps; a trial Optuna already finished is never told again.
    The subclass writes Ray's internals (``_ot_study``, ``_ot_trials``, ``_completed_trials``);
    tests/test_tune.py checks them, so an upgrade that renames them breaks loudly.
    """
    import optuna  # optuna: a second to import; only where a study is used
    from ray.tune.search.optuna import OptunaSearch  # ray: seconds to import; only once a search runs

    class TruncationAwareOptunaSearch(OptunaSearch):
        def suggest(self, trial_id):
            config = super().suggest(trial_id)
            if trial_id in self._ot_trials:
                self._ot_trials[trial_id].set_user_attr("ray_trial_id", trial_id)
            return config

        def _finished(self, trial_id) -> bool:
            ot_trial = self._ot_trials[trial_id]
            return self._ot_study._storage.get_trial(ot_trial._trial_id).state.is_finished()

        def on_trial_result(self, trial_id, result):
            if trial_id in self._completed_trials or self._finished(trial_id):
                return
            ot_trial = self._ot_trials[trial_id]
            step = int(result.get("epoch", result["training_iteration"]))
            # the storage's own upsert: a rerun epoch replaces its value (Trial.report would keep the first)
            self._ot_study._storage.set_trial_intermediate_value(ot_trial._trial_id, step, float(result[self.metric]))

        def on_trial_complete(self, trial_id, result=None, error=False):
            if result and not error and "epoch" in result:  # Ray hands the last epoch's result here, not above
                self.on_trial_result(trial_id, result)
            if trial_id in self._ot_trials and trial_id not in self._completed_trials and self._finished(trial_id):
                self._completed_trials.add(trial_id)  # told already (e.g. cut by a time budget, then resumed)
                return
            if result and not error and not result.get("final") and trial_id not in self._completed_trials:
                self._ot_study.tell(self._ot_trials[trial_id], state=optuna.trial.TrialState.PRUNED)
                self._completed_trials.add(trial_id)
                return
            super().on_trial_complete(trial_id, result, error)

    return TruncationAwareOptunaSearch(metric=metric, mode="max", sampler=optuna.samplers.TPESampler(seed=seed),
                                       study_name=study_name,
                                       storage=optuna.storages.RDBStorage(storage) if storage else None)


def prune_in_optuna(storage: str, study_name: str, trial_ids: set[str]) -> int:
    """Tell Optuna the trials a time budget cut (still RUNNING in the study) as PRUNED; how many were told."""
    import optuna  # optuna: a second to import; only where a study is used

    study = optuna.load_study(study_name=study_name, storage=storage)
    told = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if t.user_attrs.get("ray_trial_id") in trial_ids:
            study.tell(t.number, state=optuna.trial.TrialState.PRUNED)
            told += 1
    return told


# ---------------------------------------------------------------- what the search says
@dataclass
class Voice:
    """How a message names an option: a flag on the command line (``--resume``), a keyword argument in
    Python (``resume=True``). ``command`` is the command line as typed, None for the Python API."""

    command: list[str] | None = None

    def opt(self, name: str, value=True) -> str:
        if self.command is not None:
            flag = "--" + name.replace("_", "-")
            return flag if value is True else f"{flag} {value}"
        return f"{name}={value!r}"

    def resume_command(self, opts: SearchOptions, name: str) -> str:
        """The project's own command that continues this search."""
        if self.command is not None:
            cmd, skip = [], False
            for arg in self.command:
                if skip:
                    skip = False
                elif arg in ("--force", "--resume"):
                    continue
                elif arg == "--name":
                    skip = True
                elif not arg.startswith("--name="):
                    cmd.append(arg)
            return shlex.join(cmd + ["--name", name, "--resume"])
        defaults = SearchOptions()
        given = {f.name: getattr(opts, f.name) for f in fields(opts)
                 if f.name not in ("search", "name", "resume", "force") and getattr(opts, f.name) != getattr(defaults, f.name)}
        args = [repr(opts.search)] + [f"{k}={v!r}" for k, v in given.items()] + [f"name={name!r}", "resume=True"]
        return f"heartbeat.search({', '.join(args)})"


class _LogFile(logging.Handler):
    """search.log: holds the records until the results folder exists, then writes each as it comes."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        self._buffer: list[logging.LogRecord] = []
        self._file = None

    def open(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")
        for record in self._buffer:
            self._write(record)
        self._buffer = []

    def emit(self, record: logging.LogRecord) -> None:
        if self._file is None:
            self._buffer.append(record)
        else:
            self._write(record)

    def _write(self, record: logging.LogRecord) -> None:
        try:
            self._file.write(self.format(record) + "\n")
            self._file.flush()
        except Exception:  # a log line never ends a search
            self.handleError(record)

    def note(self, text: str, name: str = "output") -> None:
        """Captured output of a library (MLflow's registration prints), into the file only."""
        for line in text.splitlines():
            if line.strip():
                self.emit(logging.LogRecord(name, logging.INFO, "", 0, line, None, None))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


class _RayInterrupt(logging.Filter):
    """On Ray Tune's own logger: notes Ray's Ctrl-C (its signal handler logs it) and drops Ray's
    ``Tuner.restore(...)`` hint, for which the search prints the project's command."""

    def __init__(self):
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "Stop signal received" in msg:
            self.interrupted = True
            log.info("Ctrl-C: stopping the trials and saving the search (Ctrl-C again skips the saving)")
            return False
        return not ("Resume experiment with" in msg or "Resume training with" in msg)


#: the libraries whose logs and warnings go to search.log only, unless --verbose
LIBRARY_LOGGERS = ("ray", "mlflow", "optuna", "alembic", "py.warnings", "filelock", "urllib3")


class SearchLog:
    """The search's output: the project's lines on stdout and in search.log; the libraries' logs and
    warnings in search.log, and on the console only when ``verbose``. Undone on exit, so a notebook's
    logging is as it was."""

    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.file = _LogFile()
        self.interrupt = _RayInterrupt()
        self._saved: dict[str, tuple] = {}

    def __enter__(self) -> "SearchLog":
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(logging.Formatter("%(message)s"))
        self._keep(log.name)
        log.handlers, log.propagate = [console, self.file], False
        log.setLevel(logging.INFO)
        logging.captureWarnings(True)
        self._keep("py.warnings")
        if self.verbose:
            warned = logging.StreamHandler(sys.stderr)
            logging.getLogger("py.warnings").handlers = [warned, self.file]
        else:
            logging.getLogger("py.warnings").handlers = [self.file]
            logging.getLogger("py.warnings").propagate = False
            quiet = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # MLflow's download bars
                     "RAY_AIR_NEW_OUTPUT": "0"}  # Ray's new output prints its tables even at verbose=0
            self._env = {k: os.environ.get(k) for k in quiet}
            os.environ.update(quiet)
        logging.getLogger("ray.tune.tune").addFilter(self.interrupt)
        return self

    def _keep(self, name: str) -> None:
        if name not in self._saved:
            lg = logging.getLogger(name)
            self._saved[name] = (lg.handlers[:], lg.propagate, lg.level)

    def attach(self, names=LIBRARY_LOGGERS) -> None:
        """Route the libraries' loggers (call once they are imported and have set up their own handlers)."""
        for name in names:
            if name == "py.warnings":
                continue
            self._keep(name)
            lg = logging.getLogger(name)
            if self.verbose:
                if self.file not in lg.handlers:
                    lg.addHandler(self.file)
            else:
                lg.handlers, lg.propagate = [self.file], False
                lg.setLevel(logging.INFO)
        if not self.verbose:
            logging.getLogger("py.warnings").handlers = [self.file]
            logging.getLogger("py.warnings").propagate = False

    @contextlib.contextmanager
    def captured(self):
        """Quiet: what a library prints (MLflow's registry messages, its progress bars) goes to the file."""
        if self.verbose:
            yield
            return
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                yield
        finally:
            self.file.note(out.getvalue() + err.getvalue())

    def __exit__(self, *exc) -> None:
        logging.getLogger("ray.tune.tune").removeFilter(self.interrupt)
        logging.captureWarnings(False)
        for name, (handlers, propagate, level) in self._saved.items():
            lg = logging.getLogger(name)
            lg.handlers, lg.propagate = handlers, propagate
            lg.setLevel(level)
        for k, v in getattr(self, "_env", {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self.file.close()


def short_params(config: dict, space: dict) -> str:
    """A trial's sampled values in a few characters: the binding's last name (its full name where two
    share it), floats to 3 significant digits."""
    names = [k.split(".")[-1] for k in space]
    parts = []
    for key, short in zip(space, names):
        value = config.get(key)
        shown = f"{value:.3g}" if isinstance(value, float) else str(value).replace(" ", "")
        parts.append(f"{key if names.count(short) > 1 else short}={shown}")
    return " ".join(parts)


def _trial_number(trial) -> str:
    tag = getattr(trial, "experiment_tag", "") or ""
    return tag.split("_")[0] if tag[:1].isdigit() else "?"


def _make_mlflow_logger(tracking_uri: str, experiment: str):
    """Ray's MLflow logger callback, one run per trial, except for a trial that failed before it started
    (its worker could not import the code, say): Ray's callback then looks up a run it never made and its
    KeyError ends the whole search. Such a trial ends without a run here, and the search goes on."""
    from ray.air.integrations.mlflow import MLflowLoggerCallback  # ray: seconds to import; only once a search runs

    class TrialSafeMLflowLogger(MLflowLoggerCallback):
        def log_trial_end(self, trial, failed: bool = False):
            if trial in self._trial_runs:
                super().log_trial_end(trial, failed=failed)

    return TrialSafeMLflowLogger(tracking_uri=tracking_uri, experiment_name=experiment, save_artifact=False)


def _make_progress(space: dict, objective: str, num_samples: int, budget_s: float | None, ended_file: str,
                   every_s: float = PROGRESS_EVERY_S):
    """The search's own Ray Tune callback: one line per ended trial, a progress line every ``every_s``
    seconds, and ``ended.jsonl`` (how each trial ended, as Ray's callbacks saw it: kept across resumes)."""
    from ray.tune import Callback  # ray: seconds to import; only once a search runs

    class SearchProgress(Callback):
        def __init__(self):
            self.start = self.last = time.monotonic()
            self.best = None

        def setup(self, **info):
            self.start = self.last = time.monotonic()

        def on_trial_result(self, iteration, trials, trial, result, **info):
            value = result.get("best_objective")
            if value is not None and (self.best is None or value > self.best):
                self.best = value

        def _ended(self, trial, status: str, why: str) -> None:
            r = trial.last_result or {}
            with open(ended_file, "a", encoding="utf-8") as f:
                f.write(json.dumps({"trial_id": trial.trial_id, "status": status}) + "\n")
            best = r.get("best_objective")
            shown = f"best {objective} {best:.4f}" if isinstance(best, (int, float)) else f"no {objective}"
            log.info(f"trial {_trial_number(trial)} ({trial.trial_id}) {status}: "
                     f"{short_params(trial.config or {}, space)} | {shown} | {int(r.get('epoch', 0))} epochs | {why}")

        def on_trial_complete(self, iteration, trials, trial, **info):
            r = trial.last_result or {}
            epoch, cap = int(r.get("epoch", 0)), int(r.get("max_epoch", 0))
            if r.get("final"):
                why = "its epoch limit" if cap and epoch >= cap else "its own early stopping (patience)"
                self._ended(trial, "completed", why)
            else:
                self._ended(trial, "stopped early (ASHA)", f"below ASHA's cut at epoch {epoch}")

        def on_trial_error(self, iteration, trials, trial, **info):
            self._ended(trial, "failed", _last_line(getattr(trial, "error_message", None)
                                                    or getattr(trial, "error_msg", None) or "error"))

        def on_step_end(self, iteration, trials, **info):
            now = time.monotonic()
            if now - self.last < every_s:
                return
            done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
            running = sum(t.status == "RUNNING" for t in trials)
            if not done and not running:
                return
            self.last = now
            best = f", best {objective} {self.best:.4f}" if self.best is not None else ""
            left = (f", {max(0.0, budget_s - (now - self.start)) / 60:.0f} min left" if budget_s
                    else f", {(now - self.start) / 60:.1f} min")
            log.info(f"{done}/{num_samples} trials done, {running} running{best}{left}")

    return SearchProgress()


# ---------------------------------------------------------------- the driver
def last_run(df: pd.DataFrame | None) -> pd.DataFrame | None:
    """A trial's rows of its last run: a trial rerun after --resume starts again at epoch 1, and Ray's
    progress.csv then holds the earlier run's rows too."""
    if df is None or not len(df) or "epoch" not in df:
        return df
    restarts = np.flatnonzero(df["epoch"].diff().to_numpy() <= 0)
    return df.iloc[restarts[-1]:] if len(restarts) else df


def _folder(result) -> tuple[str, int | None]:
    """(trial id, trial number) of a Ray result, from its folder's name."""
    return trial_of_folder(Path(result.path).name if result.path else "")


def read_ended(path: Path) -> dict[str, str]:
    """{trial id: how it ended} from ended.jsonl (the last line of a trial wins)."""
    ended = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                ended[row["trial_id"]] = row["status"]
    return ended


def trials_table(grid, space: dict, objective: str, ended: dict[str, str] | None = None,
                 unfinished: str = "interrupted") -> pd.DataFrame:
    """One row per trial: parameters, final and best metrics, epochs run (of its last run), how it ended,
    wall time. ``ended`` is what Ray's callbacks saw (:func:`read_ended`); a trial with results that is
    not in it did not end by itself and is ``unfinished`` ('interrupted', 'cut by the time budget').
    Without ``ended``, the last result decides (``final``: completed, else stopped early)."""
    rows = []
    for result in grid:
        if result.config is None:  # created but never started (the time budget ran out first)
            continue
        m = result.metrics or {}
        df = last_run(result.metrics_dataframe)
        best = df.loc[df["objective"].idxmax()] if df is not None and len(df) and "objective" in df else None
        folder_id, number = _folder(result)
        trial_id = m.get("trial_id", folder_id)
        if result.error:
            status = "failed"
        elif ended is not None:
            status = ended.get(trial_id) or (unfinished if m else "not run")
        elif m.get("final"):
            status = "completed"
        else:
            status = "stopped early (ASHA)" if m else "not run"
        epochs = int(df["epoch"].max()) if df is not None and len(df) and "epoch" in df else int(m.get("training_iteration", 0))
        row = {"trial_id": trial_id, "trial_number": number}
        row.update({k: result.config.get(k) for k in space})
        row.update({
            "status": status,
            "epochs": epochs,
            f"final_{objective}": m.get("objective", np.nan),
            f"best_{objective}": best["objective"] if best is not None else np.nan,
            "best_epoch": int(best["epoch"]) if best is not None else 0,
            "best_recall_macro": best["recall_macro"] if best is not None else np.nan,
            "best_f1_macro": best["f1_macro"] if best is not None else np.nan,
            "wall_seconds": m.get("time_total_s", np.nan),
            "error": _last_line(result.error),
        })
        rows.append(row)
    table = pd.DataFrame(rows)
    if not len(table):
        return table
    # best first; among equals the earlier trial, as Optuna's best_trial takes it
    return (table.sort_values("trial_number", kind="mergesort", na_position="last")
            .sort_values(f"best_{objective}", ascending=False, kind="mergesort", na_position="last")
            .reset_index(drop=True))


def history(grid) -> pd.DataFrame:
    """Every epoch of every trial (Ray's per-iteration results, the last run of a rerun trial), one row
    each: the columns the report reads (heartbeat.options.HISTORY_KEYS), with the trial's id and its
    number in the search."""

    frames = []
    for result in grid:
        df = last_run(result.metrics_dataframe)
        if df is not None and len(df):
            trial_id, number = _folder(result)
            frames.append(pd.DataFrame({"trial_id": trial_id if number is not None else df.get("trial_id"),
                                        "trial_number": number if number is not None else np.nan,
                                        **{k: df[k] if k in df else np.nan for k in HISTORY_KEYS}}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _last_line(error) -> str:
    """The exception line of a trial's error (Ray prefixes the remote traceback)."""
    lines = [line.strip() for line in str(error or "").splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Loss)\b", line)]
    return (raised or lines or [""])[-1][:300]


def choose_best(table: pd.DataFrame, objective: str) -> tuple[str, str] | None:
    """(trial id, why) of the trial to export: the best completed trial, which is Optuna's best trial;
    where none completed, the best one ASHA stopped. Never a failed, cut or interrupted trial."""
    for status, why in (("completed", "the best of {n} trials that ran to the end (Optuna's best trial)"),
                        ("stopped early (ASHA)", "no trial ran to the end: the best of {n} trials ASHA stopped "
                                                 "(Optuna, which counts those as pruned, has no best trial)")):
        pool = table[(table["status"] == status) & table[f"best_{objective}"].notna()] if len(table) else table
        if len(pool):
            return str(pool.iloc[0]["trial_id"]), why.format(n=len(pool))
    return None


def export_best(grid, trial_id: str, out: Path, record: ModelInfo, metric_names: set[str]) -> tuple[Path, dict, int]:
    """Copy the best checkpoint of trial ``trial_id`` into a model folder; (folder, valid metrics, epoch).

    A checkpoint is a model folder its trial wrote with :func:`save_model`; the exported folder's record
    is the search's ``record`` (its data and split) with the checkpoint's epoch, metrics and trial config."""
    from heartbeat.inference.modelio import load_model, save_model  # torch, only once a search has run

    best = next(r for r in grid if (r.metrics or {}).get("trial_id", _folder(r)[0]) == trial_id)
    if not best.best_checkpoints:
        raise SearchError(f"trial {trial_id} kept no checkpoint: nothing to export")
    ckpt, row = max(best.best_checkpoints, key=lambda pair: pair[1].get("objective", -np.inf))
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "ckpt"
        shutil.copytree(ckpt.to_directory(), local)
        loaded = load_model(local)
        valid = {k: float(row[k]) for k in row if k in metric_names}
        full = dataclasses.replace(record, best_epoch=int(row["epoch"]), valid=valid,
                                   extra={**record.extra, "trial_config": best.config})
        if out.exists():  # refused unless --force or --resume: the folder holds this search's winner only
            shutil.rmtree(out)
        save_model(out, loaded.net, loaded.config, full, loaded.inputs)
    return out, valid, int(row["epoch"])


def print_table(table: pd.DataFrame, objective: str, top: int = 10) -> str:
    cols = [c for c in table.columns if c not in ("error",)]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        return table[cols].head(top).to_string(index=False)


@dataclass
class SearchPaths:
    """Where a search reads and writes: its results folder, Ray's experiment, the model folder, the gin file."""

    results_dir: Path
    exp_path: Path
    model_dir: Path
    gin_file: Path

    @classmethod
    def of(cls, opts: SearchOptions, name: str, tag: str, api: bool) -> "SearchPaths":
        root = Path(opts.root if opts.root is not None else (RUNS if opts.smoke_test or api else "."))
        results = Path(opts.results) if opts.results else root / "results"
        models = Path(opts.models) if opts.models else root / "models"
        best_gin = Path(opts.best_gin) if opts.best_gin else root / "gin" / "best"
        results_dir = results.resolve() / name
        storage = Path(opts.storage).resolve() if opts.storage else results_dir / "ray"
        return cls(results_dir, storage / "tune", models / tag, best_gin / f"{tag}.gin")

    @property
    def ended_file(self) -> Path:
        """How each trial ended, as Ray's callbacks saw it (kept across resumes)."""
        return self.results_dir / "ended.jsonl"

    @property
    def optuna_db(self) -> str:
        """The Optuna study's storage URL (for optuna-dashboard and the report's figures)."""
        return f"sqlite:///{self.results_dir / 'optuna.db'}"


def refuse_overwrites(opts: SearchOptions, paths: SearchPaths, voice: Voice) -> None:
    """Before anything starts: an experiment, a model folder or a winner's gin file that exists is refused
    unless the search resumes (it continues its own) or ``force`` starts it afresh."""
    from ray import tune  # ray: seconds to import; only once a search runs

    if opts.resume:
        if not tune.Tuner.can_restore(str(paths.exp_path)):
            raise SearchError(f"nothing to resume at {paths.exp_path}: start the search without {voice.opt('resume')}")
        return
    if paths.exp_path.exists() and not opts.force:
        raise SearchExistsError(f"experiment {paths.exp_path} exists: continue it with {voice.opt('resume')}, start it "
                          f"afresh with {voice.opt('force')}, or pick another {voice.opt('name', 'NAME')}")
    taken = [p for p in (paths.model_dir, paths.gin_file) if p.is_file() or (p.is_dir() and any(p.iterdir()))]
    if taken and not opts.force:
        what = " and ".join(str(p) for p in taken)
        raise SearchExistsError(f"{what} exist{'s' if len(taken) == 1 else ''}: the search would overwrite "
                          f"{'it' if len(taken) == 1 else 'them'}; give {voice.opt('force')} to overwrite, or another "
                          f"{voice.opt('tag', 'TAG')}")
    if opts.force:  # start afresh: the old experiment, study and logs go
        for p in (paths.exp_path, paths.results_dir):
            if p.exists():
                shutil.rmtree(p)


def needs_rhythm(base: str, space: dict) -> bool:
    """Whether any trial may take the beat's rhythm: BeatInput.rhythm True in the base config or in the space."""

    parse_text(base)
    spec = space.get("BeatInput.rhythm")
    in_space = bool(spec) and spec[0] == "choice" and any(v is True for v in spec[1])
    return BeatInput().rhythm or in_space


def check_data(opts: SearchOptions, ds, train, base: str, space: dict, voice: Voice) -> None:
    """The data can serve the space, or one SearchError line says why (before Ray starts)."""
    data = voice.opt("data", "PATH")
    if needs_rhythm(base, space) and train.rhythm is None:
        raise SearchError(f"{opts.search} needs rhythm columns (BeatInput.rhythm = True), but {ds.source} has none: "
                          f"rhythm comes only with beats built from WFDB records; give {data} a folder of MIT-BIH "
                          f"records, or leave it out for $HEARTBEAT_DATA, data/ or the embedded sample")
    if opts.split in ("inter", "ds1ds2") and (train.record is None or ds.split != opts.split):
        raise SearchError(f"split {opts.split!r} splits by patient, but {ds.source} has no record ids: give {data} "
                          f"WFDB records (or a file with a record column), or {voice.opt('split', 'intra')}")
    counts = np.bincount(np.asarray(train.y, dtype=int), minlength=len(train.classes))
    missing = [c for c, n in zip(train.classes, counts) if n == 0 and c not in left_out_classes(opts.split)]
    if missing:
        raise SearchError(f"class{'es' if len(missing) > 1 else ''} {', '.join(missing)} "
                          f"{'have' if len(missing) > 1 else 'has'} no beats in the search's {len(train)} training "
                          f"beats ({ds.source}): no trial could learn {'them' if len(missing) > 1 else 'it'}; give "
                          f"{data} with every class, or another {voice.opt('split', 'SPLIT')}")


def run_search(args: SearchOptions, command: list[str] | None = None) -> SearchResult:
    """Run a search (``heartbeat.search`` and ``hypertune.py`` / ``heartbeat tune`` call this).

    ``command`` is the command line as typed, for a CLI search: its messages then name flags and
    its folders default to the project's; without it (the Python API) messages name keyword arguments
    and folders default to ``runs/``. Raises SearchError before Ray starts when a folder would be
    overwritten, the data cannot serve the space, or there is nothing to resume; after the search when
    no trial finished; SearchInterrupted on Ctrl-C (with the command that continues it).

    The steps, each a function of its own: :func:`load_search_data`, :func:`start_ray`,
    :func:`build_tuner`, :func:`fit_tuner`, :func:`record_trials`, :func:`export_winner`,
    :func:`register_winner`.
    """
    voice = Voice(command)
    if args.smoke_test:
        args = SearchOptions(**{**vars(args), "num_samples": min(args.num_samples, 3),
                                "max_epochs": min(args.max_epochs, 2)})
    base, space = read_search(args.search)
    base += "\n" + "\n".join([binding("fit.objective", args.objective)] + list(args.bind))
    name = args.name or Path(args.search).stem + ("-smoke" if args.smoke_test else "")
    tag = args.tag or name
    paths = SearchPaths.of(args, name, tag, api=command is None)
    refuse_overwrites(args, paths, voice)  # before data or Ray start up
    with SearchLog(args.verbose) as out:
        # mlflow and optuna set up their own loggers at import: import them before routing ours
        import mlflow  # noqa: F401
        import optuna  # noqa: F401

        out.attach()
        data = load_search_data(args, base, space, voice)
        if args.smoke_test:
            base += "\nfit.beats_per_epoch = 1000"
        paths.results_dir.mkdir(parents=True, exist_ok=True)
        out.file.open(paths.results_dir / "search.log")
        cpus, gpus = start_ray(args)
        out.attach()  # again: ray.init may have set up its loggers
        tuner = build_tuner(args, name, base, space, data, paths)
        grid, wall = fit_tuner(tuner, args, paths)
        interrupted = out.interrupt.interrupted
        table, summary = record_trials(grid, args, name, space, paths, data, wall, interrupted, cpus, gpus, out)
        if interrupted:
            raise SearchInterrupted(f"search {name} interrupted: {summary['status'].get('interrupted', 0)} trials "
                                    f"interrupted, nothing exported; continue it with: "
                                    f"{voice.resume_command(args, name)}")
        model_dir, trial_id = export_winner(grid, table, args, name, data, paths, summary)
        if not args.no_register:
            with out.captured():
                summary["registered"] = register_winner(model_dir, name, tag)
        (paths.results_dir / "search.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        log.info(f"wrote {paths.results_dir}/ (trials.csv, history.csv, search.json, search.log) and {paths.gin_file}")
        return SearchResult(name, paths.results_dir, table, summary, model_dir, trial_id, paths.gin_file)


@dataclass
class SearchData:
    """What the trials train and validate on: (train, valid) beats for each window searched, and the
    dataset they came from (its source, split and records go into the winner's record)."""

    dataset: object
    by_window: dict
    train: object
    valid: object


def load_search_data(args: SearchOptions, base: str, space: dict, voice: Voice) -> SearchData:
    """Step 1: the same beats and split, cut by each window the space searches; checked against the space
    (:func:`check_data`) before Ray starts."""
    by_window = {}
    for window in search_windows(base, space):
        ds = load_dataset(args.data, task=args.task, split_how=args.split, seed=args.seed, holdout=args.holdout,
                          window=window)
        train, valid = valid_split(ds, args.valid_size, args.seed)
        if args.smoke_test:
            train = split_beats(train, "intra", test_size=0.9, seed=args.seed)[0]
            valid = split_beats(valid, "intra", test_size=0.8, seed=args.seed)[0]
        check_data(args, ds, train, base, space, voice)
        by_window[window] = (train, valid)
    warn_if_synthetic(ds)
    log.info(f"data: {ds.source}\n  train {len(train)} beats ({describe(train)})\n  valid {len(valid)} beats "
             f"(the test split and any held-out patients are not used by the search); windows: {', '.join(by_window)}")
    return SearchData(ds, by_window, train, valid)


def start_ray(args: SearchOptions) -> tuple[int, int]:
    """Step 2: join the cluster at $RAY_ADDRESS, else start a Ray of our own (never one that happens to run on
    this machine); (CPUs, GPUs) of the cluster, which search.json records for the summary."""
    import ray  # seconds to import: only once a search starts, so `import heartbeat` stays quick

    if os.environ.get("RAY_ADDRESS"):  # a cluster (with RAY_AUTH_MODE=token where it uses token auth)
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False, configure_logging=args.verbose)
    else:
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=args.verbose)
    return int(ray.cluster_resources().get("CPU", 1)), int(ray.cluster_resources().get("GPU", 0))


def build_tuner(args: SearchOptions, name: str, base: str, space: dict, data: SearchData, paths: SearchPaths):
    """Step 3: the Tuner, restored from the experiment with ``resume`` (its callbacks come back with it),
    else new: ASHA on the trial's own epoch, seeded Optuna TPE, the progress and MLflow callbacks."""
    import ray  # ray: seconds to import; only once a search runs
    from ray import tune  # ray: seconds to import; only once a search runs
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler  # ray: seconds to import; only once a search runs
    from ray.tune.search.basic_variant import BasicVariantGenerator  # ray: seconds to import; only once a search runs

    from heartbeat.registry import tracking_uri  # mlflow, as ray: only once a search starts

    total_cpus = int(ray.cluster_resources().get("CPU", 1))
    concurrent = max(1, total_cpus // args.cpus_per_trial)
    log.info(f"ray: {total_cpus} CPUs, {args.cpus_per_trial} per trial, up to {concurrent} trials at once; "
             f"experiment {paths.exp_path}")
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=data.by_window, base_config=base, space=space,
                             cpus=args.cpus_per_trial, max_epochs=args.max_epochs,
                             device="cuda" if args.gpus_per_trial else "cpu"),
        {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial},
    )
    if args.resume:
        log.info(f"resuming {paths.exp_path}: ended trials are kept, unfinished ones run again")
        tuner = tune.Tuner.restore(str(paths.exp_path), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
        # the run config (callbacks included) comes back from the experiment; its verbosity is this run's
        tuner._local_tuner.get_run_config().verbose = 1 if args.verbose else 0
        return tuner
    # the trial's own epoch is ASHA's resource: Ray's training_iteration goes on across a rerun
    scheduler = (ASHAScheduler(time_attr="epoch", max_t=args.max_epochs,
                               grace_period=min(args.grace_period, args.max_epochs), reduction_factor=3)
                 if args.scheduler == "asha" else FIFOScheduler())
    searcher = (truncation_aware_optuna("best_objective", args.seed, paths.optuna_db, study_name=name)
                if args.searcher == "optuna" else BasicVariantGenerator(random_state=args.seed))
    budget_s = args.time_budget * 60 if args.time_budget else None
    progress = _make_progress(space, args.objective, args.num_samples, budget_s, str(paths.ended_file))
    return tune.Tuner(
        trainable,
        param_space=to_tune(space),
        tune_config=tune.TuneConfig(
            metric="best_objective", mode="max", scheduler=scheduler, search_alg=searcher,
            num_samples=args.num_samples, max_concurrent_trials=concurrent, time_budget_s=budget_s,
        ),
        run_config=tune.RunConfig(
            name="tune", storage_path=str(paths.exp_path.parent), verbose=1 if args.verbose else 0,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="objective",
                                                    checkpoint_score_order="max"),
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            callbacks=[progress, _make_mlflow_logger(tracking_uri(), f"heartbeat-{name}")],
        ),
    )


def fit_tuner(tuner, args: SearchOptions, paths: SearchPaths):
    """Step 4: run the trials; (Ray's ResultGrid, wall seconds). Ray is shut down after, whatever happens:
    a notebook or a benchmark may run the next search in the same process."""
    import ray  # ray: seconds to import; only once a search runs

    log.info(f"search: up to {args.num_samples} trials x {args.max_epochs} epochs"
             + (f" in {args.time_budget:g} min" if args.time_budget else "")
             + f"; a line per ended trial, progress every {PROGRESS_EVERY_S:.0f} s; log {paths.results_dir / 'search.log'}")
    start = time.perf_counter()
    try:
        grid = tuner.fit()
    finally:
        ray.shutdown()
    return grid, time.perf_counter() - start


def record_trials(grid, args: SearchOptions, name: str, space: dict, paths: SearchPaths, data: SearchData,
                  wall: float, interrupted: bool, cpus: int, gpus: int, out: SearchLog) -> tuple[pd.DataFrame, dict]:
    """Step 5: trials.csv, history.csv, space.json and search.json; cut trials told to Optuna as pruned.
    Returns the trials table and the summary that search.json holds."""
    results_dir = paths.results_dir
    table = trials_table(grid, space, args.objective, read_ended(paths.ended_file),
                         unfinished="interrupted" if interrupted else "cut by the time budget")
    table.to_csv(results_dir / "trials.csv", index=False)
    history(grid).to_csv(results_dir / "history.csv", index=False)
    (results_dir / "space.json").write_text(json.dumps(space, indent=2, default=repr) + "\n")
    never_started = len(grid) - len(table)  # trials_table leaves out the ones that never started
    status = table["status"].value_counts().to_dict() if len(table) else {}
    summary = {"experiment": name, "search": str(args.search), "trials": len(table), "never_started": never_started,
               "status": status, "wall_seconds": wall,
               "num_samples": args.num_samples, "max_epochs": args.max_epochs, "scheduler": args.scheduler,
               "searcher": args.searcher, "objective": args.objective, "cpus": cpus, "gpus": gpus,
               "data": data.dataset.source, "synthetic": data.dataset.synthetic, "interrupted": interrupted}
    log.info(f"{len(table)} trials in {wall / 60:.1f} min: "
             + (", ".join(f"{n} {s}" for s, n in status.items()) or "none ran")
             + (f"; {never_started} sampled but never started (time budget)" if never_started else ""))
    (log.info if args.verbose else out.file.note)(print_table(table, args.objective) if len(table) else "")
    cut = set(table.loc[table["status"] == "cut by the time budget", "trial_id"]) if len(table) else set()
    if cut and args.searcher == "optuna":
        prune_in_optuna(paths.optuna_db, name, cut)
    (results_dir / "search.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return table, summary


def export_winner(grid, table: pd.DataFrame, args: SearchOptions, name: str, data: SearchData, paths: SearchPaths,
                  summary: dict) -> tuple[Path, str]:
    """Step 6: the chosen trial's best checkpoint -> the model folder, its config -> gin/best/<tag>.gin;
    (model folder, trial id). ``summary`` gains the winner's fields. SearchError where no trial finished."""
    chosen = choose_best(table, args.objective)
    if chosen is None:
        failed = table[table["status"] == "failed"] if len(table) else table
        why = (f"all {len(table)} trials failed; the first: {failed.iloc[0]['error']}" if len(table) and
               len(failed) == len(table) else f"no trial finished ({summary['status'] or 'none started'})")
        raise SearchError(f"search {name}: {why}; nothing exported (see {paths.results_dir / 'trials.csv'} and "
                          f"{paths.results_dir / 'search.log'})")
    trial_id, why = chosen
    classes = data.train.classes
    metric_names = set(classification_metrics([0], [0], classes)) | set(OBJECTIVES)
    record = dataclasses.replace(
        ModelInfo.of_data(data.dataset, classes, args.seed, args.valid_size, search=str(args.search),
                          experiment=name, trial_id=trial_id), objective=args.objective)
    model_dir, valid_metrics, epoch = export_best(grid, trial_id, paths.model_dir, record, metric_names)
    paths.gin_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_dir / "config.gin", paths.gin_file)  # retrain the winner: heartbeat train <gin file>
    number = table.loc[table["trial_id"] == trial_id, "trial_number"].iloc[0]
    summary.update(best_trial=trial_id, best_why=why, best_model=str(model_dir), best_gin=str(paths.gin_file),
                   best_valid=valid_metrics)
    log.info(f"best: trial {number} ({trial_id}), {args.objective} {valid_metrics[args.objective]:.4f} at epoch "
             f"{epoch}, {why} -> {model_dir}\n  recall_macro {valid_metrics['recall_macro']:.4f}, per-class recall "
             + " ".join(f"{c} {valid_metrics['recall_' + c]:.3f}" for c in classes))
    return model_dir, trial_id


def register_winner(model_dir: Path, name: str, tag: str) -> str:
    """Step 7: the exported folder as a version of MLflow model ``heartbeat-<tag>``; 'name/version'."""
    from heartbeat.registry import register_model_dir, tracking_uri  # mlflow: 1.5 s to import; only here

    version = register_model_dir(model_dir, name=f"heartbeat-{tag}", tags={"experiment": name})
    log.info(f"registered in MLflow ({tracking_uri()}) as heartbeat-{tag} version {version}")
    return f"heartbeat-{tag}/{version}"


def build_parser():

    p = argparse.ArgumentParser(prog="hypertune.py", description=TUNE_DESCRIPTION, epilog=TUNE_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tune_args(p)
    add_search_flags(p)
    return p


def cli(args, command: list[str] | None = None) -> int:
    """Run a parsed search: bad input is one ``error:`` line and exit 1; Ctrl-C says how to continue, exit 130."""
    command = command if command is not None else ["python", "hypertune.py", *sys.argv[1:]]
    try:
        run_search(SearchOptions.from_args(args), command=command)
    except SearchInterrupted as exc:
        print(str(exc), file=sys.stderr)
        return 130
    except HeartbeatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return cli(build_parser().parse_args(argv), ["python", "hypertune.py", *argv])


if __name__ == "__main__":
    sys.exit(main())
