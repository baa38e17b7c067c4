"""Tables from the results of searches and fits: functions of a :class:`~heartbeat.report.results.Results`
(the folders, each file read once), to DataFrames. Each also takes a results folder, and then loads it.

What they read, all written by other parts of heartbeat (only the first two are required):

```
results/<experiment>/trials.csv        a row per trial: searched bindings, status, epochs, best metrics
results/<experiment>/search.json       the search's settings, status counts, best model, objective
results/<experiment>/history.csv       per-epoch history of each trial, saved by the search (optional)
results/<experiment>/optuna.db         the search's Optuna study, for importances (optional)
results/<experiment>/ray/tune/run_*/   Ray's own per-epoch folders (optional: not committed)
models/<tag>/metrics.json, config.gin  a model's valid metrics, task, split, searched config
results/output.csv, output_test.csv    every model scored on its valid / test split (optional)
results/shift/*.csv                    inter-patient and corruption figures (optional)
```

A searched hyperparameter is a column named like its gin binding (``CNN1D.depth``,
``fit.learning_rate``): a column with a dot in its name. A metric keeps the name of
:mod:`heartbeat.metrics` everywhere, prefixed ``valid_`` or ``test_`` where both appear.
Missing optional sources give empty tables, never errors.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.config import binding_default
from heartbeat.data.beatset import CLASSES
from heartbeat.evaluation.ablation import rank_agreement
from heartbeat.metrics import classification_metrics
from heartbeat.options import HISTORY_KEYS, trial_of_folder
from heartbeat.report.results import FAMILY_ORDER, OUTPUT_COLUMNS, Results, classes_for  # noqa: F401 (re-exported)

COMPLETED, STOPPED, FAILED, NOT_RUN = "completed", "stopped early (ASHA)", "failed", "not run"
SCORED = (COMPLETED, STOPPED)  # trials with a validation score (an ASHA-stopped one at its last rung)
HEADLINE = ("f2_macro", "recall_macro", "precision_macro", "f1_macro", "accuracy", "abnormal_sensitivity")


# ---------------------------------------------------------------- searches
def experiments(results: Results | str | Path) -> list[str]:
    """Names of the searches under ``results`` (folders with a trials.csv), model families first."""
    return Results.of(results).names


def search_info(results: Results | str | Path, name: str) -> dict:
    """A search's search.json ({} where it has none)."""
    return Results.of(results).search_info(name)


def objective_of(info: dict) -> str:
    """The searched metric's name (``f2_macro`` unless search.json says otherwise)."""
    return info.get("objective") or "f2_macro"


def param_columns(trials: pd.DataFrame) -> list[str]:
    """The searched bindings of a trials table: the columns named like ``Configurable.parameter``."""
    return [c for c in trials.columns if "." in c and trials[c].notna().any()]


def read_trials(results: Results | str | Path, name: str) -> pd.DataFrame:
    """``trials.csv`` of one search plus ``experiment``, ``objective`` (best) and ``final_objective`` columns
    (a copy: the caller may change it)."""
    return Results.of(results).searches[name].trials.copy()


def all_trials(results: Results | str | Path) -> pd.DataFrame:
    """Every trial of every search (bindings of other families are NaN; a copy)."""
    return Results.of(results).trials.copy()


def scored(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that reached a validation score (completed or stopped early by ASHA)."""
    return trials[trials["status"].isin(SCORED) & trials["objective"].notna()]


def search_overview(results: Results | str | Path) -> pd.DataFrame:
    """One row per search: trials by status, the best objective, the budget it used."""
    rows = []
    for name, search in Results.of(results).searches.items():
        info, trials = search.info, search.trials
        status = trials["status"].value_counts()
        ok = scored(trials)
        rows.append({
            "experiment": name,
            "trials": len(trials),
            "completed": int(status.get(COMPLETED, 0)),
            "stopped_early": int(status.get(STOPPED, 0)),
            "failed": int(status.get(FAILED, 0)),
            "not_run": int(status.get(NOT_RUN, 0)),
            "params": len(param_columns(trials)),
            "objective_name": objective_of(info),
            "best_objective": ok["objective"].max() if len(ok) else np.nan,
            "median_objective": ok["objective"].median() if len(ok) else np.nan,
            "max_epochs": info.get("max_epochs", trials["epochs"].max()),
            "mean_epochs": trials.loc[trials["status"].isin(SCORED), "epochs"].mean(),
            "wall_minutes": info["wall_seconds"] / 60 if "wall_seconds" in info else np.nan,
            "trial_minutes": trials["wall_seconds"].sum() / 60 if "wall_seconds" in trials else np.nan,
            "scheduler": info.get("scheduler", ""),
            "searcher": info.get("searcher", ""),
            "cpus": info.get("cpus", np.nan),
            "gpus": info.get("gpus", np.nan),
            "data": info.get("data", ""),
            "synthetic": bool(info.get("synthetic", False)),
        })
    return pd.DataFrame(rows)


def search_space(info: dict, roots=()) -> dict | None:
    """The ``search.space`` dict of the search file named in search.json, if that file can be found.

    The file is looked up as given, then under each of ``roots`` (e.g. the project root). The
    dict is read as a Python literal (gin's dict syntax is Python's), not parsed by gin, so
    reading it leaves gin's global state alone. None when the file or the dict is not there.
    """
    name = info.get("search")
    if not name:
        return None
    candidates = [Path(name)] + [Path(r) / name for r in roots]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return None
    text = path.read_text()
    m = re.search(r"^\s*search\.space\s*=\s*\{", text, re.M)
    if not m:
        return None
    start = m.end() - 1
    for end in (i for i, ch in enumerate(text) if ch == "}" and i > start):
        try:
            space = ast.literal_eval(text[start:end + 1])
        except (SyntaxError, ValueError):
            continue
        return space if isinstance(space, dict) else None
    return None


# ---------------------------------------------------------------- what mattered
def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _py(v):
    """A CSV cell as a plain Python scalar (numpy ints/floats, integral floats of int columns)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _choice_key(v) -> str:
    """Choices are matched by their text: a CSV gives 32 or '32' or '(24, 8)' for what gin calls 32, (24, 8)."""
    return str(_py(v))


def param_kinds(trials: pd.DataFrame, params: list[str], space: dict | None = None) -> dict[str, dict]:
    """How each hyperparameter varies: {'kind': 'choice'|'float'|'int', 'choices', 'low', 'high', 'log'}.

    From the search file's domains when known, else inferred from the values the trials got:
    text, or at most 10 distinct whole numbers, is a choice; a positive range over a factor
    of 10 or more is log-scaled.
    """
    kinds = {}
    for p in params:
        values = trials[p].dropna()
        spec = (space or {}).get(p)
        if spec:
            kind, *args = spec
            if kind == "choice":
                kinds[p] = {"kind": "choice", "choices": [_py(c) if _scalar(c) else repr(c) for c in args[0]]}
            else:
                lo, hi = float(args[0]), float(args[1])
                kinds[p] = {"kind": "int" if kind == "randint" else "float", "log": kind == "loguniform",
                            "low": lo, "high": hi - 1 if kind == "randint" else hi}
        elif not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            kinds[p] = {"kind": "choice", "choices": sorted({_py(v) for v in values}, key=str)}
        elif (values == values.round()).all() and values.nunique() <= 10:
            kinds[p] = {"kind": "choice", "choices": sorted({_py(v) for v in values})}
        else:
            lo, hi = float(values.min()), float(values.max())
            kinds[p] = {"kind": "float", "low": lo, "high": hi, "log": lo > 0 and hi / lo >= 10}
        if kinds[p]["kind"] != "choice" and len(values):  # the domain must hold every value seen
            kinds[p]["low"] = min(kinds[p]["low"], float(values.min()))
            kinds[p]["high"] = max(kinds[p]["high"], float(values.max()))
    return kinds


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def varied_params(trials: pd.DataFrame) -> list[str]:
    """The searched bindings that took more than one value among the scored trials."""
    ok = scored(trials)
    return [p for p in param_columns(trials) if ok[p].astype(str).nunique() > 1]


def stored_study(results: Results | str | Path, name: str):
    """The Optuna study a search kept (``results/<name>/optuna.db``), or None for a search run before
    studies were kept."""
    import optuna  # a second to import: only where importances are asked for

    path = Results.of(results).root / name / "optuna.db"
    if not path.exists():
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")


def study_importances(study, seed: int = 0, min_trials: int = 4) -> pd.Series:
    """optuna.importance (fANOVA, normalised to sum 1) of a stored study's complete trials."""
    import optuna  # optuna: a second to import; only where a study is used

    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < min_trials:
        return pd.Series(dtype=float, name="importance")
    try:
        imp = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    except (RuntimeError, ValueError):  # e.g. no parameter present in every trial
        return pd.Series(dtype=float, name="importance")
    return pd.Series(imp, name="importance", dtype=float).sort_values(ascending=False)


def search_importances(results: Results | str | Path, name: str, trials: pd.DataFrame, space: dict | None = None,
                       seed: int = 0) -> pd.Series:
    """A search's importances: from the Optuna study it kept, else rebuilt from its trials.csv. Computed
    once per Results (fANOVA takes seconds a search): the summary and Table 2 share them."""
    r = Results.of(results)

    def compute() -> pd.Series:
        study = stored_study(r, name)
        if study is not None:
            imp = study_importances(study, seed)
            if len(imp):
                return imp
        return importances(trials, space, seed)

    return r.memo(("importances", name, len(trials), repr(space), seed), compute)


def importances(trials: pd.DataFrame, space: dict | None = None, seed: int = 0, min_trials: int = 4) -> pd.Series:
    """Optuna's hyperparameter importances (fANOVA, normalised to sum 1) of one search's trials.

    For a search that predates ``optuna.db`` (:func:`search_importances` prefers the kept study),
    an in-memory Optuna study is rebuilt from trials.csv: every scored trial (completed, or
    stopped early by ASHA, at its best epoch) is added as a complete trial with its best
    objective. Empty when fewer than ``min_trials`` trials were scored or nothing varied.
    """
    import optuna  # optuna: a second to import; only where a study is used

    # optuna: a second to import; only where a study is used
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    ok = scored(trials)
    params = varied_params(trials)
    if len(ok) < min_trials or not params:
        return pd.Series(dtype=float, name="importance")
    kinds = param_kinds(ok, params, space)
    dists = {}
    for p, k in kinds.items():
        if k["kind"] == "choice":
            choices = {_choice_key(c): c for c in k["choices"]}
            for v in ok[p].dropna():
                choices.setdefault(_choice_key(v), _py(v))
            dists[p] = CategoricalDistribution(list(choices.values()))
        elif k["kind"] == "int":
            dists[p] = IntDistribution(int(k["low"]), int(k["high"]), log=k["log"] and k["low"] > 0)
        else:
            dists[p] = FloatDistribution(k["low"], k["high"], log=k["log"] and k["low"] > 0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for _, row in ok.iterrows():
        values = {}
        for p, dist in dists.items():
            v = row[p]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if isinstance(dist, CategoricalDistribution):
                v = {_choice_key(c): c for c in dist.choices}[_choice_key(v)]
            elif isinstance(dist, IntDistribution):
                v = int(v)
            else:
                v = float(v)
            values[p] = v
        study.add_trial(optuna.trial.create_trial(params=values, distributions={p: dists[p] for p in values},
                                                  value=float(row["objective"])))
    return study_importances(study, seed, min_trials)


def param_effects(trials: pd.DataFrame, space: dict | None = None) -> pd.DataFrame:
    """Which way each varied hyperparameter pushed the objective, over the scored trials.

    A choice: the value with the best and the worst mean objective. A number: Spearman's rank
    correlation with the objective (positive: larger is better).
    """
    ok = scored(trials)
    params = varied_params(trials)
    kinds = param_kinds(ok, params, space)
    rows = []
    for p in params:
        row = {"param": p, "kind": kinds[p]["kind"], "n": int(ok[p].notna().sum())}
        if kinds[p]["kind"] == "choice":
            means = ok.groupby(ok[p].map(_choice_key))["objective"].agg(["mean", "count"]).sort_values("mean")
            row.update(best_value=means.index[-1], best_mean=means["mean"].iloc[-1],
                       worst_value=means.index[0], worst_mean=means["mean"].iloc[0], rho=np.nan)
        else:
            rho = ok[p].astype(float).corr(ok["objective"], method="spearman")
            row.update(best_value=None, best_mean=np.nan, worst_value=None, worst_mean=np.nan, rho=rho)
        rows.append(row)
    return pd.DataFrame(rows, columns=["param", "kind", "n", "best_value", "best_mean", "worst_value",
                                       "worst_mean", "rho"])


# ---------------------------------------------------------------- models and their scores
def model_infos(models: Results | str | Path) -> dict[str, dict]:
    """Every model folder's record as a row dict, by tag (its fields, extras, path and config text).
    ``models`` is a models folder, or a Results (its models folder)."""
    r = models if isinstance(models, Results) else Results(None, models)
    return {tag: m.as_dict() for tag, m in r.models.items()}


def scores(results: Results | str | Path, split: str = "valid") -> pd.DataFrame:
    """``results/output.csv`` (valid), ``output_test.csv`` or ``output_holdout.csv`` by model tag, in metric names."""
    return Results.of(results).scores(split)


def winners(results: Results | str | Path, models: str | Path | None = None) -> pd.DataFrame:
    """The best model of each search side by side, then the other model folders (e.g. a baseline).

    Valid metrics come from the model folder (the best epoch on its own valid split), else
    from search.json's ``best_valid``, else from the best row of trials.csv; test metrics
    from ``results/output_test.csv`` where the model was scored there. Search rows are sorted
    by their valid objective, best first.
    """
    r = Results.of(results, models)
    return r.memo("winners", lambda: _winners(r))


def _winners(r: Results) -> pd.DataFrame:
    infos, valid_scores, test_scores = model_infos(r), r.scores("valid"), r.scores("test")
    rows, taken = [], set()

    def metrics_row(tag: str | None, info: dict | None, fallback: dict) -> dict:
        valid = (info or {}).get("valid") or fallback
        row = {f"valid_{k}": v for k, v in valid.items() if k != "n"}
        for split, table in (("valid", valid_scores), ("test", test_scores)):
            if tag and tag in table.index:
                for k, v in table.loc[tag].items():
                    row.setdefault(f"{split}_{k}", v)
        return {k: (np.nan if v is None else v) for k, v in row.items()}

    for name, search in r.searches.items():
        info, trials = search.info, search.trials
        obj = search.objective
        tag = search.best_tag or (name if name in infos else None)
        model = infos.get(tag) if tag else None
        fallback = dict(info.get("best_valid") or {})
        ok = scored(trials)
        if not fallback and len(ok):
            best = ok.loc[ok["objective"].idxmax()]
            fallback = {obj: best["objective"], "recall_macro": best.get("best_recall_macro", np.nan),
                        "f1_macro": best.get("best_f1_macro", np.nan)}
        if tag:
            taken.add(tag)
        rows.append({"experiment": name, "tag": tag or "", "source": "search",
                     "family": (model or {}).get("family", name), "task": (model or {}).get("task", "mitbih"),
                     "split": (model or {}).get("split", info.get("split", "")), "seed": (model or {}).get("seed"),
                     "trials": len(trials),
                     "objective_name": obj, "synthetic": bool(info.get("synthetic", (model or {}).get("synthetic"))),
                     **metrics_row(tag, model, fallback)})
    order = sorted(range(len(rows)), key=lambda i: -_num(rows[i].get(f"valid_{rows[i]['objective_name']}")))
    rows = [rows[i] for i in order]
    for tag, model in infos.items():
        if tag in taken:
            continue
        rows.append({"experiment": "", "tag": tag, "source": "train", "family": model.get("family", ""),
                     "task": model.get("task", "mitbih"), "split": model.get("split", ""),
                     "seed": model.get("seed"), "trials": 0,
                     "objective_name": model.get("objective") or "f2_macro",
                     "synthetic": bool(model.get("synthetic")), **metrics_row(tag, model, {})})
    return pd.DataFrame(rows)


def _num(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if math.isnan(v) else v


def class_names(win: pd.DataFrame) -> tuple[str, ...]:
    """The classes of the models in a winners table (from their per-class recall columns)."""
    seen = []
    for col in win.columns:
        m = re.fullmatch(r"(?:valid|test)_recall_(.+)", col)
        if m and m.group(1) != "macro" and m.group(1) not in seen:
            seen.append(m.group(1))
    for names in CLASSES.values():
        if set(seen) == set(names):
            return names
    return tuple(seen)


def per_class(win: pd.DataFrame, split: str = "valid") -> pd.DataFrame:
    """Long table of per-class recall (and precision where known): model, class, recall, precision."""
    rows = []
    for _, r in win.iterrows():
        label = r["experiment"] or r["tag"]
        for c in class_names(win):
            rec = r.get(f"{split}_recall_{c}", np.nan)
            if pd.notna(rec):
                rows.append({"model": label, "tag": r["tag"], "class": c, "recall": float(rec),
                             "precision": float(r.get(f"{split}_precision_{c}", np.nan))})
    return pd.DataFrame(rows, columns=["model", "tag", "class", "recall", "precision"])


# ---------------------------------------------------------------- the table-3 style variations
def _same(a, b) -> bool:
    a, b = _py(a), _py(b)
    a_nan = a is None or (isinstance(a, float) and math.isnan(a))
    b_nan = b is None or (isinstance(b, float) and math.isnan(b))
    if a_nan or b_nan:
        return a_nan and b_nan
    if _is_number(a) and _is_number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12)
    return _choice_key(a) == _choice_key(b)


def _distance(a, b, kind: dict) -> float:
    """How far apart two values of one hyperparameter are: 0..1 (a choice: 0 or 1)."""
    if _same(a, b):
        return 0.0
    if kind["kind"] == "choice" or not (_is_number(_py(a)) and _is_number(_py(b))):
        return 1.0
    f = (lambda x: math.log(max(float(x), 1e-300))) if kind.get("log") else float
    span = f(kind["high"]) - f(kind["low"])
    return min(1.0, abs(f(a) - f(b)) / span) if span > 0 else 1.0


def gin_values(config: str, names) -> dict:
    """Values of the bindings ``names`` in a gin config text (simple one-line bindings)."""
    out = {}
    for line in config.splitlines():
        m = re.match(r"^\s*([\w./]+)\s*=\s*(.+?)\s*$", line)
        if m and m.group(1) in names:
            try:
                out[m.group(1)] = ast.literal_eval(m.group(2))
            except (SyntaxError, ValueError):
                out[m.group(1)] = m.group(2)
    return out


def variations(results: Results | str | Path, models: str | Path | None = None, experiment: str | None = None, top: int = 3,
               per_group: int = 2, importance: pd.Series | None = None, space: dict | None = None,
               min_step: float = 0.1) -> pd.DataFrame:
    """A table in the manner of table 3 of "Attention Is All You Need", from one search.

    The first row is the base configuration: the search's winner (its model folder's
    searched config and metrics, test metrics where scored). Then, for each of the ``top``
    hyperparameters that mattered most (by :func:`importances`), a group of rows ``(A)``,
    ``(B)``, ...: trials where that hyperparameter took another value (one trial per other
    choice, or one below and one above the base for a number, at least ``min_step`` of its
    range away), each the trial closest to the base in the other hyperparameters. Last,
    other model folders of the winner's family whose config differs from the base, group
    ``(R)``, with their test metrics. A hyperparameter cell is NA where the row has the
    base's value (the paper's blank cell). Metrics: epochs run and the valid objective,
    macro recall and macro F1 of the trial's best epoch, then test objective and recall.
    """
    results = Results.of(results, models)
    win = winners(results)
    searched = win[win["source"] == "search"]
    if experiment is None:
        if searched.empty:
            return pd.DataFrame()
        experiment = searched.iloc[0]["experiment"]
    trials = read_trials(results, experiment)
    obj = objective_of(search_info(results, experiment))
    params = param_columns(trials)
    ok = scored(trials)
    if ok.empty:
        return pd.DataFrame()
    kinds = param_kinds(trials, params, space)
    if importance is None:
        importance = importances(trials, space)
    order = [p for p in importance.index if p in varied_params(trials)] or varied_params(trials)
    order += [p for p in params if p not in order]  # the columns: what mattered most on the left
    metric_cols = ["epochs", f"valid_{obj}", "valid_recall_macro", "valid_f1_macro", f"test_{obj}", "test_recall_macro"]

    wrow = searched[searched["experiment"] == experiment]
    wrow = wrow.iloc[0] if len(wrow) else None
    infos = model_infos(results)
    base_model = infos.get(wrow["tag"]) if wrow is not None and wrow["tag"] else None
    best_trial = ok.loc[ok["objective"].idxmax()]
    base = {p: best_trial[p] for p in params}
    if base_model and base_model.get("trial_config"):
        base.update({p: v for p, v in base_model["trial_config"].items() if p in base})
    match = ok[[all(_same(r[p], base[p]) for p in params) for _, r in ok.iterrows()]]
    base_trial = match.iloc[0] if len(match) else best_trial

    def trial_metrics(r) -> dict:
        return {"epochs": int(r["epochs"]), f"valid_{obj}": r["objective"],
                "valid_recall_macro": r.get("best_recall_macro", np.nan),
                "valid_f1_macro": r.get("best_f1_macro", np.nan), f"test_{obj}": np.nan, "test_recall_macro": np.nan}

    first = {"group": "base", "varied": "", "source": f"trial {base_trial['trial_id']}", **base,
             **trial_metrics(base_trial)}
    if wrow is not None and base_model:
        first["source"] = f"model {wrow['tag']}"
        for col in metric_cols[1:]:
            if pd.notna(wrow.get(col, np.nan)):
                first[col] = wrow[col]
    rows, used = [first], {base_trial["trial_id"]}

    def others_distance(r, skip: str) -> float:
        return sum(_distance(r[p], base[p], kinds[p]) for p in params if p != skip)

    letters = iter("ABCDEFGHIJKLMNOPQ")
    for p in order[:top]:
        pool = ok[[r["trial_id"] not in used and _distance(r[p], base[p], kinds[p]) >= min_step
                   for _, r in ok.iterrows()]]
        if pool.empty:
            continue
        if kinds[p]["kind"] == "choice":
            buckets = [g for _, g in pool.groupby(pool[p].map(_choice_key))]
        else:
            values = pool[p].astype(float)
            buckets = [pool[values < float(base[p])], pool[values > float(base[p])]]

        def closeness(r, p=p):  # nearest to the base in the other hyperparameters, then the better trial
            return others_distance(r, p), -_num(r["objective"])

        picks = [min((b.loc[i] for i in b.index), key=closeness) for b in buckets if not b.empty]
        picks = sorted(sorted(picks, key=closeness)[:per_group], key=lambda r: _sort_key(r[p]))
        label = f"({next(letters)})"
        for r in picks:
            used.add(r["trial_id"])
            rows.append({"group": label, "varied": p, "source": f"trial {r['trial_id']}",
                         **{q: (pd.NA if _same(r[q], base[q]) else r[q]) for q in params}, **trial_metrics(r)})

    family = (base_model or {}).get("family")
    for tag, info in infos.items():
        if not family or info.get("family") != family or tag in set(win.loc[win["source"] == "search", "tag"]):
            continue
        values = {**base, **gin_values(info.get("config", ""), params)}
        diff = [p for p in params if not _same(values[p], base[p])]
        if not diff:
            continue
        row = {"group": "(R)", "varied": ", ".join(diff), "source": f"model {tag}",
               **{q: (values[q] if q in diff else pd.NA) for q in params}, "epochs": np.nan}
        mrow = win[win["tag"] == tag].iloc[0]
        row.update({c: mrow.get(c, np.nan) for c in metric_cols[1:]})
        rows.append(row)
    table = pd.DataFrame(rows)
    return table[["group", "varied", "source", *order, *metric_cols]]


def _sort_key(v):
    v = _py(v)
    return (0, float(v), "") if _is_number(v) else (1, 0.0, str(v))


# ---------------------------------------------------------------- per-epoch history (optional sources)
def ray_history(results: Results | str | Path, name: str) -> pd.DataFrame:
    """Per-epoch rows of every trial from Ray's ``result.json`` files; empty when the folders are gone."""
    rows = []
    for path in sorted((Results.of(results).root / name / "ray").glob("*/run_trial_*/result.json")):
        folder_id, number = trial_of_folder(path.parent.name)
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line being written by a running search
                continue
            rows.append({"trial_id": str(rec.get("trial_id") or folder_id),
                         "trial_number": number if number is not None else np.nan,
                         **{k: rec.get(k, np.nan) for k in HISTORY_KEYS}})
    return _history_frame(rows, name, "ray")


def _history_frame(rows: list[dict], name: str, source: str) -> pd.DataFrame:
    cols = ["experiment", "source", "trial_id", "trial_number", *HISTORY_KEYS, "minutes"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    df.insert(0, "source", source)
    df.insert(0, "experiment", name)
    df = df.sort_values(["trial_number", "trial_id", "epoch"]).reset_index(drop=True)
    if df["best_objective"].isna().all():
        df["best_objective"] = df.groupby("trial_id")["objective"].cummax()
    t = pd.to_numeric(df["timestamp"], errors="coerce")
    df["minutes"] = (t - t.min()) / 60.0
    return df[cols]


def saved_history(results: Results | str | Path, name: str) -> pd.DataFrame:
    """The per-epoch rows a search saved itself (``results/<name>/history.csv``); empty when absent."""
    path = Results.of(results).root / name / "history.csv"
    if not path.exists():
        return _history_frame([], name, "history.csv")
    df = pd.read_csv(path, dtype={"trial_id": str})
    rows = [{"trial_id": r["trial_id"], "trial_number": r.get("trial_number", np.nan),
             **{k: r.get(k, np.nan) for k in HISTORY_KEYS}} for r in df.to_dict("records")]
    return _history_frame(rows, name, "history.csv")


def history(results: Results | str | Path, name: str) -> pd.DataFrame:
    """Per-epoch history of a search: the ``history.csv`` it saved, else Ray's folders where they are
    still on this machine, else empty."""
    hist = saved_history(results, name)
    return hist if len(hist) else ray_history(results, name)


# ---------------------------------------------------------------- data, shift
def class_table(dataset) -> pd.DataFrame:
    """Beats per class in train and test, their share, and the balancing weight n / (k n_c) of train."""
    train, test = dataset.train.class_counts(), dataset.test.class_counts()
    n, k = sum(train.values()), len(train)
    return pd.DataFrame([{"class": c, "train": train[c], "train_share": train[c] / max(n, 1), "test": test[c],
                          "test_share": test[c] / max(sum(test.values()), 1),
                          "weight": n / (k * train[c]) if train[c] else np.nan} for c in train])


def majority_metrics(beats) -> dict[str, float]:
    """The metrics of a model that always answers the most frequent class: what imbalance does to them."""
    major = int(np.bincount(beats.y, minlength=beats.num_classes).argmax())
    return classification_metrics(beats.y, np.full_like(beats.y, major), beats.classes)


def shift_tables(results: Results | str | Path) -> dict[str, pd.DataFrame]:
    """``results/shift/*.csv`` (inter-patient and corruption figures) by file stem; empty if absent."""
    return Results.of(results).shift


def confusions(results: Results | str | Path, tags=None, on: str = "valid") -> dict[str, pd.DataFrame]:
    """Confusion matrices as ``heartbeat score`` counted them on each model's ``on`` split
    (``results/confusions*.csv``): {tag: DataFrame (true x predicted)}, in the model's class order.
    ``tags`` picks and orders the models (default: every model scored); a tag not scored is left out."""
    cells = Results.of(results).confusions(on)
    if not len(cells):
        return {}
    cells = cells.astype({"model": str})
    out = {}
    for tag in (list(dict.fromkeys(cells["model"])) if tags is None else [str(t) for t in tags]):
        part = cells[cells["model"] == tag]
        if not len(part):
            continue
        order = list(dict.fromkeys(part["true"]))
        cm = part.pivot(index="true", columns="predicted", values="beats").reindex(index=order, columns=order)
        out[tag] = cm.rename_axis(index="true", columns="predicted").astype(int)
    return out


# ---------------------------------------------------------------- Table 3 in the paper's form
#: short column headers of Table 3's varied bindings (the legend names the binding in full)
SHORT = {"fit.balance": "bal", "fit.class_weight_power": "pow", "CNN1D.dropout": "drop", "CNN1D.channels": "ch",
         "CNN1D.depth": "depth", "CNN1D.kernel_size": "k", "fit.augment": "aug", "BeatInput.rhythm": "RR",
         "BeatInput.context": "ctx", "BeatInput.window": "win", "fit.model": "family", "Ensemble.members": "K"}
#: Table 3's figures after the bindings: (table.csv column, header)
TABLE3_FIGURES = (("valid_recall_macro", "valid"), ("test_macro_Se", "macro Se"), ("test_Se_S", "Se S"),
                  ("test_P_S", "+P S"), ("test_Se_V", "Se V"), ("test_P_V", "+P V"))
def _float(v) -> float:
    """A cell as a float, NaN where it is empty or not a number."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


_BALANCE = {"sampler_sqrt": "sqrt", "sampler": "sampler", "loss": "loss", "none": "none"}
#: a part of the patient context as Table 3's narrow ctx column shows it (heartbeat.data.context.CONTEXT_GROUPS)
_CONTEXT = {"underlying": "under", "neighbours": "neigh", "template": "tmpl"}
#: what the legend adds for a binding whose cells are abbreviated
_LEGEND_VALUES = {"BeatInput.context": "yes: all of it; under, neigh, tmpl: its underlying-rhythm, neighbouring-beat "
                                       "or template part alone"}


def parse_change(change: str) -> dict:
    """``"fit.balance = 'loss'; fit.class_weight_power = 1.0"`` -> {binding: value}; ``(base)`` -> {}."""
    if not isinstance(change, str) or change.strip() in ("", "(base)"):
        return {}
    return gin_values(change.replace("; ", "\n"), {part.split("=")[0].strip() for part in change.split(";")})


def hp_cell(binding: str, value) -> str:
    """One binding's value as Table 3 shows it: ``@CNN1D`` -> CNN1D, True -> yes, 0.0356 -> 0.036."""
    value = _py(value)
    if binding == "fit.augment":
        return "no" if value in (None, "None") else "yes"
    if binding == "fit.balance":
        return _BALANCE.get(str(value), str(value))
    if binding == "BeatInput.context" and isinstance(value, str):
        return "+".join(_CONTEXT.get(part, part) for part in value.split("+"))
    if isinstance(value, str):
        return {"GBTBaseline": "GBT", "LDABaseline": "LDA"}.get(value.lstrip("@"), value.lstrip("@"))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2g}"
    return "none" if value is None else str(value)


def table3_layout(table: pd.DataFrame, base_config: str) -> dict:
    """Table 3 as "Attention Is All You Need" prints it, from ``results/table3/table.csv`` and the base's gin.

    A column per binding that some row varies (under a short header, :data:`SHORT`), in the order
    the rows first vary them; the base row gives every such value (from ``base_config``, else the
    configurable's default); each other row gives only the cells where its value differs from the
    base's, the rest blank. Then :data:`TABLE3_FIGURES` as (mean, spread) pairs, the parameter count
    and the training seconds. Returns ``{"bindings", "headers", "figures", "legend", "rows"}``, each
    row ``{"group", "variant", "cells", "figures", "params", "seconds"}``; a row that ends up equal
    to the base in every varied binding says so in its ``variant``."""
    changes = [parse_change(c) for c in table["change"]] if "change" in table else [{} for _ in range(len(table))]
    bindings = list(dict.fromkeys(b for ch in changes for b in ch))
    set_in_base = gin_values(base_config or "", set(bindings))
    base = {}
    for b in bindings:
        if b in set_in_base:
            base[b] = set_in_base[b]
        else:
            try:
                base[b] = binding_default(b)
            except Exception:  # a binding of a configurable this install does not have
                base[b] = None
    rows = []
    for (_, r), change in zip(table.iterrows(), changes):
        is_base = r.get("group") == "base"
        values = {b: (base[b] if is_base else change.get(b, base[b])) for b in bindings}
        differs = {b: is_base or (b in change and not _same(change[b], base[b]))
                   for b in bindings}
        figs = [(r.get(c, np.nan), r.get(f"{c}_spread", np.nan)) for c, _ in TABLE3_FIGURES]
        rows.append({"group": str(r.get("group", "")), "variant": str(r.get("variant", "")),
                     "cells": [hp_cell(b, values[b]) if differs[b] else "" for b in bindings],
                     "same_as_base": not is_base and not any(differs.values()),
                     "figures": [(_float(m), _float(s)) for m, s in figs],
                     "params": _float(r.get("params")), "seconds": _float(r.get("seconds")),
                     "seeds": int(_float(r.get("seeds")) or 0)})
    headers = [SHORT.get(b, b.rpartition(".")[2]) for b in bindings]
    legend = "; ".join(f"{h} = {b}" + (f" ({_LEGEND_VALUES[b]})" if b in _LEGEND_VALUES else "")
                       for h, b in zip(headers, bindings))
    return {"bindings": bindings, "headers": headers, "figures": [h for _, h in TABLE3_FIGURES],
            "legend": legend, "rows": rows}


def _params_text(n: float) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "–"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else f"{int(n)}"


def table3_frame(layout: dict, digits: int = 3) -> pd.DataFrame:
    """:func:`table3_layout` as a DataFrame of strings (README, notebook): mean ± spread, blanks kept."""
    out = []
    for r in layout["rows"]:
        row = {"": "base" if r["group"] == "base" else r["group"]}
        row.update(dict(zip(layout["headers"], r["cells"])))
        if r["same_as_base"]:
            row[layout["headers"][0]] = "(= base)"
        for h, (m, s) in zip(layout["figures"], r["figures"]):
            row[h] = "" if math.isnan(m) else f"{m:.{digits}f}" + ("" if math.isnan(s) else f" ± {s:.{digits}f}")
        row["params"] = _params_text(r["params"])
        row["train s"] = "" if math.isnan(r["seconds"]) else f"{r['seconds']:.0f}"
        out.append(row)
    return pd.DataFrame(out)


# ---------------------------------------------------------------- the tuned hyperparameters
def space_text(binding: str, spec) -> str:
    """A search-space entry as a reader sees it: ``('loguniform', 5e-4, 5e-3)`` -> ``5e-04 – 5e-03, log``."""
    if not isinstance(spec, (tuple, list)) or not spec:
        return str(spec)
    kind, *args = spec
    if kind == "choice" and args:
        return "{" + ", ".join(hp_cell(binding, v) for v in args[0]) + "}"
    if len(args) >= 2:
        lo, hi = args[0], args[1]
        num = (lambda v: f"{v:.0e}") if kind.startswith("log") else (lambda v: f"{v:g}")
        return f"{num(lo)} – {num(hi)}" + (", log" if kind.startswith("log") else "")
    return f"{kind} {args}"


def tuned_hyperparameters(results: Results | str | Path, models: str | Path | None = None, roots=()) -> pd.DataFrame:
    """One row per searched binding of every search whose winner is a model folder under ``models``.

    Columns: ``search``, ``model``, ``binding``, ``space`` (the range or choices of the search file,
    :func:`search_space`, else the values its trials took), ``chosen`` (the winner's value, read
    from its folder's config.gin), ``importance`` (Optuna's fANOVA, :func:`search_importances`; NaN
    where too few trials were scored) and ``trials``. Ordered by search, then importance."""
    results = Results.of(results, models, roots)
    infos = model_infos(results)
    rows = []
    for name, search in results.searches.items():
        info, tag = search.info, search.best_tag
        if tag not in infos:
            continue
        trials = search.trials
        space = search_space(info, roots or results.roots) or {}
        params = list(space) or param_columns(trials)
        imp = search_importances(results, name, trials, space or None)
        chosen = gin_values(infos[tag]["config"], set(params))
        for p in params:
            if p in space:
                where = space_text(p, space[p])
            else:
                vals = trials[p].dropna() if p in trials else pd.Series(dtype=object)
                where = (f"{vals.min():g} – {vals.max():g}" if len(vals) and all(_is_number(_py(v)) for v in vals)
                         else "{" + ", ".join(sorted({str(v) for v in vals})) + "}")
            rows.append({"search": name, "model": tag, "binding": p, "space": where,
                         "chosen": hp_cell(p, chosen[p]) if p in chosen else "",
                         "importance": float(imp.get(p, np.nan)), "trials": len(trials)})
    out = pd.DataFrame(rows, columns=["search", "model", "binding", "space", "chosen", "importance", "trials"])
    if len(out):
        order = {n: i for i, n in enumerate(experiments(results))}
        out = out.assign(_s=out["search"].map(order), _i=-out["importance"].fillna(-1)).sort_values(
            ["_s", "_i"], kind="stable").drop(columns=["_s", "_i"]).reset_index(drop=True)
    return out


def grouped_folds_sentence(results: Results | str | Path) -> str | None:
    """What selecting on DS1's patient-grouped folds (``make ablate-cv``, ``results/table3/cv_table.csv``)
    says, against one validation fold: their rank agreement with DS2 over the same rows. None when absent."""
    table = Results.of(results).csv("table3/cv_table.csv")
    if table.empty:
        return None
    agree = rank_agreement(table)
    if "grouped folds" not in agree or len(table) < 4:
        return None
    top = table.loc[table["cv_macro_Se"].idxmax()]
    base = table[table["variant"] == "base"]
    folds = int(table["folds"].max())
    text = (f"Judged on DS1's {folds} patient-grouped folds instead, pooled so each DS1 patient counts once "
            f"(make ablate-cv, {len(table)} rows, DS2 unused), the rows rank against DS2 at "
            f"{agree['grouped folds']:+.2f}, against {agree['one fold']:+.2f} for the one fold over the same rows: "
            f"their best, {top['variant']} (pooled macro Se {top['cv_macro_Se']:.3f}), scores "
            f"{top['test_macro_Se']:.3f} on DS2")
    if len(base):
        text += f", the base {base.iloc[0]['test_macro_Se']:.3f}"
    if agree["grouped folds"] > agree["one fold"]:
        return text + ". The pooled folds rank the rows closer to DS2 than the one fold does."
    return text + ". More folds do not mend the selection: what DS1's patients favour is not what DS2's do."


def adapt_sentence(results: Results | str | Path) -> str | None:
    """What per-patient batch-norm statistics (``make adapt-cv``, ``results/table3/adapt_cv_table.csv``) do
    to the base on DS1's patient-grouped folds: each mode's change in pooled macro Se, seed by seed, against
    the seeds' own spread. None when absent."""
    table = Results.of(results).csv("table3/adapt_cv_table.csv")
    if table.empty or "unadapted" not in set(table["variant"]):
        return None
    base = table[table["variant"] == "unadapted"].iloc[0]
    modes = table[table["variant"] != "unadapted"]
    if modes.empty:
        return None
    best = modes.loc[modes["cv_macro_Se_change"].idxmax()]
    changes = "; ".join(f"{r['variant']} {r['cv_macro_Se_change']:+.3f}" for _, r in modes.iterrows())
    text = (f"Per-patient batch norm (AdaBN: every weight kept, each layer's mean and variance re-estimated on the "
            f"new patient's own unlabelled beats; make adapt-cv, DS1's {int(base['folds'])} grouped folds, "
            f"{int(base['seeds'])} seeds, DS2 unused) changes the base's pooled macro Se "
            f"({base['cv_macro_Se']:.3f} ± {base['cv_macro_Se_spread']:.3f}) by: {changes}.")
    if best["cv_macro_Se_change"] > base["cv_macro_Se_spread"]:
        return text + f" The best, {best['variant']}, gains more than the seeds' spread."
    verdict = "Every mode lowers it" if best["cv_macro_Se_change"] < 0 else "None gains more than the seeds' spread"
    return text + f" {verdict}, so none was adopted, and none was scored on DS2."


def context_search_sentence(results: Results | str | Path, name: str = "cnn1d-ds1ds2-context",
                            against: str = "cnn1d-ds1ds2") -> str | None:
    """What the DS1 search with the patient context in its space (``make search-context``, then
    ``make seeds-context``) found, against the earlier winner ``against`` trained over the same seeds
    (the base row of ``ds1ds2/context/table.csv``). None where either is absent."""
    r = Results.of(results)
    new, old = r.csv("ds1ds2/context-search/table.csv"), r.csv("ds1ds2/context/table.csv")
    if new.empty or old.empty or name not in r.searches:
        return None
    n, o = new[new["variant"] == "base"], old[old["variant"] == "base"]
    if n.empty or o.empty:
        return None
    n, o = n.iloc[0], o.iloc[0]
    trials = r.searches[name].trials
    with_context = int((~trials["BeatInput.context"].astype(str).isin(("False", "None", "nan"))).sum()) \
        if "BeatInput.context" in trials else 0  # True, or a part of the context by name
    chose = _chose_context(r, name)
    chose = {True: " chose it for its winner", False: " did not choose it for its winner", None: ""}[chose]
    prefers = "prefers" if n["valid_f2_macro"] > o["valid_f2_macro"] else "does not prefer"

    def pm(row, col: str) -> str:
        return f"{row[col]:.3f} ± {row[f'{col}_spread']:.3f}"

    return (f"A search on DS1 alone with the patient context in its space (make search-context: {len(trials)} trials, "
            f"{with_context} with the context){chose}. Over {int(n['seeds'])} seeds that winner has "
            f"DS1 valid F2 {pm(n, 'valid_f2_macro')} against {pm(o, 'valid_f2_macro')} for {against}, so selection on "
            f"DS1 {prefers} it; on DS2 it scores macro Se {pm(n, 'test_macro_Se')} against {pm(o, 'test_macro_Se')} "
            f"(VEB Se {n['test_Se_V']:.3f}, +P {n['test_P_V']:.3f}; SVEB Se {n['test_Se_S']:.3f}, +P {n['test_P_S']:.3f}; "
            f"make seeds-context). The headline stays on {against}, the winner declared before this search ran.")


def context_loss_sentence(results: Results | str | Path, name: str = "cnn1d-ds1ds2-context",
                          against: str = "cnn1d-ds1ds2") -> str | None:
    """Where the patient-context model loses its S beats on DS2 (``make protocol``'s per_record.csv): the DS2
    record with the most S beats, when S is most of that record's beats. There the patient's own normal,
    the median RR and the running template the context compares each beat with, is the S rhythm itself.
    None where either model's rows are absent or no such record exists."""
    per = Results.of(results).csv("ds1ds2/per_record.csv")
    if per.empty or not {name, against} <= set(per["model"]):
        return None
    per = per.assign(record=per["record"].astype(str))
    ctx, old = (per[per["model"] == m].set_index("record") for m in (name, against))
    top = ctx["n_S"].idxmax()
    row = ctx.loc[top]
    if top not in old.index or not row["n"] > 0 or row["n_S"] / row["n"] <= 0.5:
        return None
    return (f"Where the context loses S: record {top} holds {int(row['n_S']):,} of DS2's {int(ctx['n_S'].sum()):,} "
            f"S beats, and they are {row['n_S'] / row['n']:.0%} of its beats. Its underlying rhythm and its running "
            f"template are then the S beats' own, so they stop looking premature or unlike the patient's normal: "
            f"{name} finds {row['Se_S']:.0%} of them, {against} {old.loc[top, 'Se_S']:.0%}. A patient whose "
            "dominant rhythm is ectopic has no normal to judge against.")


def _chose_context(r: Results, name: str) -> bool | None:
    """Whether the search's exported winner reads the patient context (its model folder's config); None
    where that folder is not among ``r``'s models (no models folder given, or the winner not exported)."""
    tag = r.searches[name].best_tag
    model = r.models.get(tag) if tag and r.models_dir is not None else None
    if model is None:
        return None
    return bool(gin_values(model.config, {"BeatInput.context"}).get("BeatInput.context", False))


def read_table3(results: Results | str | Path) -> dict | None:
    """:func:`table3_layout` of ``results/table3/`` (table.csv and the base's base.gin), None when absent.

    A table written before ``heartbeat ablate`` kept base.gin has no base values: its base row
    then shows only the bindings its rows vary, at the configurables' defaults."""
    r = Results.of(results)
    table = r.csv("table3/table.csv")
    if table.empty:
        return None
    return table3_layout(table, r.text("table3/base.gin"))


#: the new-patient issue's targets on DS2, end to end from detected peaks: (figure, its reading from an EC57
#: report.json, the least value that meets it)
SEED_TARGETS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("macro Se (N, S, V, F)", ("macro",), 0.87),
    ("SVEB Se", ("gross", "sveb", "se"), 0.82),
    ("SVEB +P", ("gross", "sveb", "ppv"), 0.55),
    ("VEB Se", ("gross", "veb", "se"), 0.93),
    ("VEB +P", ("gross", "veb", "ppv"), 0.90),
    ("record-average SVEB Se", ("average", "sveb", "se"), 0.70),
)


def _ec57_figure(report: dict, path: tuple[str, ...]) -> float:
    if path == ("macro",):  # the mean Se of the four classes the protocol scores, at detected peaks
        return float(np.mean([report["classes"][c]["se"] for c in "NSVF"]))
    value = report
    for key in path:
        value = value[key]
    return float("nan") if value is None else float(value)


def seed_columns(headline: pd.DataFrame) -> list[str]:
    """The seeds' columns of :func:`seeds_headline` (one per seed folder)."""
    return [c for c in headline.columns if c not in ("figure", "mean", "sd", "target", "met")]


def seeds_headline(results: Results | str | Path, folder: str = "ds1ds2/seeds/ec57") -> pd.DataFrame:
    """``make seeds``: each target figure on DS2 from detected peaks, per fit seed (one EC57 report.json per
    seed folder under ``folder``), their mean ± sd (the sample sd over seeds) and whether the mean meets
    its target. Empty where no report is there."""
    root = Results.of(results).root / folder
    reports = {p.parent.name: json.loads(p.read_text()) for p in sorted(root.glob("*/report.json"))}
    if not reports:
        return pd.DataFrame()
    rows = []
    for name, path, target in SEED_TARGETS:
        values = np.array([_ec57_figure(rep, path) for rep in reports.values()])
        mean, sd = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        rows.append({"figure": name, **{tag: v for tag, v in zip(reports, values)}, "mean": mean, "sd": sd,
                     "target": target, "met": bool(mean >= target)})
    return pd.DataFrame(rows)


def seeds_method(headline: pd.DataFrame) -> str:
    """How :func:`seeds_headline`'s figures were made, in words."""
    return (f"the DS1 → DS2 winner's configuration trained on DS1 with {len(seed_columns(headline))} fit seeds, each with its "
            "recall-first operating point chosen on DS1 validation, then run on DS2's raw recordings (R peaks "
            "detected, beats cut and classified) and scored as EC57 does: gross SVEB and VEB, and the record "
            "average over the DS2 records that hold SVEB beats.")


def seeds_sentence(headline: pd.DataFrame) -> str:
    """:func:`seeds_method`, then each figure's mean ± sd over the seeds against its target."""
    met, method = int(headline["met"].sum()), seeds_method(headline)
    return (method[0].upper() + method[1:] + " Mean ± sd over the seeds: "
            + "; ".join(f"{row.figure} {row.mean:.3f} ± {row.sd:.3f} (target {row.target:.2f}, "
                        f"{'met' if row.met else 'missed'})" for row in headline.itertuples())
            + f". {met} of {len(headline)} targets met.")
