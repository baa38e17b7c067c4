"""Options shared by more than one command (``heartbeat <verb>``, ``hypertune.py``): one definition each.

A neutral module: it imports nothing heavy, so ``--help`` is fast, and neither the CLI nor the
search imports the other for its options.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, fields

from heartbeat.choices import (
    DEVICES,
    OBJECTIVES,
    RUNTIMES,
    SCHEDULERS,
    SEARCHERS,
    SPLITS,
    TASKS,
    Objective,
    Scheduler,
    Searcher,
    Split,
    Task,
)


@dataclass
class SearchOptions:
    """Every option of a search, with the command line's defaults: :func:`add_tune_args` and
    :func:`add_search_flags` read their defaults from :data:`DEFAULTS`, so each default is written once
    (``hypertune.py --help`` explains each).

    The defaults are plain strings (the enums' values): they reach gin bindings and JSON records as text.

    ``results``, ``models`` and ``best_gin`` left None are taken under ``root``: the project ('.') for a
    command-line search, ``runs/`` (ignored by git) for a smoke test and for :func:`heartbeat.search`.
    """

    search: str = "gin/search/cnn1d.gin"
    num_samples: int = 40
    time_budget: float = 15
    max_epochs: int = 25
    grace_period: int = 2
    scheduler: str = Scheduler.ASHA.value
    searcher: str = Searcher.OPTUNA.value
    objective: str = Objective.F2_MACRO.value
    data: str | None = None
    task: str = Task.MITBIH.value
    split: str = Split.INTRA.value
    seed: int = 0
    holdout: str | None = None
    valid_size: float = 0.2
    bind: list[str] = field(default_factory=list)
    name: str | None = None
    tag: str | None = None
    resume: bool = False
    force: bool = False
    smoke_test: bool = False
    verbose: bool = False
    cpus: int | None = None
    cpus_per_trial: int = 1
    gpus_per_trial: float = 0
    root: str | None = None
    results: str | None = None
    models: str | None = None
    best_gin: str | None = None
    storage: str | None = None
    no_register: bool = False

    @classmethod
    def from_args(cls, args) -> "SearchOptions":
        """From a parsed command line (its other attributes, like the verb, are left out)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


#: the defaults of every search option: the command line's defaults are read from here
DEFAULTS = SearchOptions()

EPILOG_DATA = """
Data sources, in order: --data PATH, else $HEARTBEAT_DATA, else the project's data/ folder,
else the embedded sample (4 real MIT-BIH records shipped with the project). A folder may hold
the course parquet files (heart_big_train.parq + heart_big_test.parq), Kaggle's CSV files
(mitbih_train.csv + mitbih_test.csv, ptbdb_normal.csv + ptbdb_abnormal.csv) or raw MIT-BIH
WFDB records (heartbeat data download fetches them). --data synthetic asks for built-in
synthetic beats, to try the code: they are never used unless asked for.
"""


def add_runtime_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=RUNTIMES, default="torch",
                   help="torch (default), or onnx: onnxruntime on the folder's model.onnx (heartbeat export)")


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=DEVICES, default="cpu",
                   help="where torch runs the network: cpu (default), cuda, or auto (cuda where there is a GPU)")


def add_data_args(p: argparse.ArgumentParser, d: SearchOptions = DEFAULTS) -> None:
    """--data, --task, --split, --seed and --holdout, with the search's defaults (``d``)."""
    p.add_argument("--data", default=None, help="data file or folder, or 'synthetic' (default: $HEARTBEAT_DATA, else data/, else the embedded sample)")
    p.add_argument("--task", choices=TASKS, default=d.task, help=f"default: {d.task}")
    p.add_argument("--split", choices=SPLITS, default=d.split,
                   help=f"how a source without its own test file is split: intra (by beat, stratified), inter "
                        f"(by record) or ds1ds2 (de Chazal's inter-patient protocol: train and validate on DS1's "
                        f"records, test on DS2's; WFDB records only) (default: {d.split})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"split seed (default: {d.seed})")
    p.add_argument("--holdout", default=d.holdout, metavar="RECORDS",
                   help="patients kept out of train and test for data-shift checks: comma-separated record "
                        "ids, or 'ds2' (records 105,210,222,228,233 of de Chazal's DS2); default: none")


TUNE_DESCRIPTION = ("Search hyperparameters of a heartbeat model family with Ray Tune (ASHA + Optuna TPE), "
                    "tracked in MLflow. The test split is never seen: trials are scored on a validation "
                    "split carved from the training data.")
TUNE_EPILOG = """examples:
  python hypertune.py                                   # default: gin/search/cnn1d.gin, 15 min on 2 cores
  python hypertune.py --search gin/search/all.gin --time-budget 30
  python hypertune.py --smoke-test                      # 3 trials x 2 epochs on a small sample
  python hypertune.py --name cnn1d --resume             # continue an interrupted search
  python hypertune.py --split inter --name cnn1d-inter  # tune for new patients (split by record)
  RAY_ADDRESS=HEAD_IP:6379 python hypertune.py ...      # the same search on a Ray cluster

outputs: results/<name>/trials.csv, results/<name>/search.json, models/<tag>/, MLflow runs
($MLFLOW_TRACKING_URI, default sqlite:///mlflow.db in the project)."""


def add_tune_args(p, d: SearchOptions = DEFAULTS) -> None:
    """The options of ``hypertune.py`` and ``heartbeat tune`` (one definition for both), their defaults
    read from ``d``."""
    p.add_argument("--search", default=d.search, help=f"search file (default: {d.search})")
    p.add_argument("--num-samples", type=int, default=d.num_samples,
                   help=f"trials to sample at most (default: {d.num_samples})")
    p.add_argument("--time-budget", type=float, default=d.time_budget,
                   help=f"stop the search after MINUTES (default: {d.time_budget:g}; 0: none)")
    p.add_argument("--max-epochs", type=int, default=d.max_epochs,
                   help=f"epochs of the longest trial (ASHA's max_t; {d.max_epochs})")
    p.add_argument("--grace-period", type=int, default=d.grace_period,
                   help=f"epochs before ASHA may stop a trial ({d.grace_period})")
    p.add_argument("--scheduler", choices=SCHEDULERS, default=d.scheduler,
                   help=f"early stopping of trials (default: {d.scheduler})")
    p.add_argument("--searcher", choices=SEARCHERS, default=d.searcher,
                   help=f"how configs are proposed (default: {d.searcher})")
    p.add_argument("--objective", choices=OBJECTIVES, default=d.objective,
                   help=f"validation metric to maximise (default {d.objective}; f2_macro weighs recall 4x over "
                        "precision)")
    add_data_args(p, d)
    p.add_argument("--valid-size", type=float, default=d.valid_size,
                   help=f"share of train used for validation ({d.valid_size:g})")
    p.add_argument("--bind", action="append", default=[], metavar="'NAME = VALUE'", help="fixed extra binding")
    p.add_argument("--name", default=d.name, help="experiment name (default: the search file's stem)")
    p.add_argument("--tag", default=d.tag, help="model folder name under --models (default: the experiment name)")
    p.add_argument("--resume", action="store_true", help="continue the experiment --name after a crash or Ctrl-C")
    p.add_argument("--smoke-test", action="store_true", help="tiny run: at most 3 trials x 2 epochs on 10%% of data")
    p.add_argument("--cpus", type=int, default=d.cpus, help="CPUs for a local Ray (default: all)")
    p.add_argument("--cpus-per-trial", type=int, default=d.cpus_per_trial,
                   help=f"CPUs (and torch threads) per trial ({d.cpus_per_trial})")
    p.add_argument("--gpus-per-trial", type=float, default=d.gpus_per_trial,
                   help="GPUs per trial (Ray resources; a fraction shares one GPU); trials then train on CUDA "
                        f"({d.gpus_per_trial:g})")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--models", default="models", help="models folder (default: models)")
    p.add_argument("--best-gin", default="gin/best", help="folder for the winner's config, <tag>.gin (gin/best)")
    p.add_argument("--storage", default=d.storage, help="Ray storage path (default: results/<name>/ray; a shared "
                                                        "path or URI on a cluster)")
    p.add_argument("--no-register", action="store_true", help="do not register the best model in MLflow")


def add_search_flags(p) -> None:
    """The search's own flags beside heartbeat.options.add_tune_args: overwriting, output, where it writes."""
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing model folder, gin/best/<tag>.gin and experiment (start it afresh)")
    p.add_argument("--verbose", action="store_true", help="show Ray's tables and the libraries' logs and warnings "
                                                          "(always in <results>/<name>/search.log)")
    p.add_argument("--root", default=None, help="folder that holds the search's results/, models/ and gin/best/ "
                                                "(default: the project; runs/ for --smoke-test); --results, "
                                                "--models and --best-gin override it")
    p.set_defaults(results=None, models=None, best_gin=None)  # None: under --root


#: the columns of a search's history.csv, one row per trial and epoch (tune writes them, the report reads them)
HISTORY_KEYS = ("epoch", "objective", "best_objective", "recall_macro", "f1_macro", "time_total_s", "timestamp")

#: the folder Ray gives a trial, run_trial_<id>_<number>_<params> (tune names trials by it, the report reads them)
TRIAL_FOLDER = re.compile(r"run_trial_([0-9a-f]+)_(\d+)_")


def trial_of_folder(folder: str) -> tuple[str, int | None]:
    """(trial id, trial number) from a trial folder's name; (the name, None) for any other folder."""
    m = TRIAL_FOLDER.match(folder)
    return (m.group(1), int(m.group(2))) if m else (folder, None)
