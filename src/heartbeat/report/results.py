"""What the report reads, as typed records, each file read once: the data half of ``report/``.

:class:`Results` stands for a results folder and a models folder. Each source is read the first time
it is asked for and kept (:func:`functools.cached_property`), so the summary, the README and the
notebook can ask for the same trials table ten times and ``trials.csv`` is still read once. The tables
of :mod:`heartbeat.report.tables` are functions of a ``Results``; given a folder instead, they load
one. Nothing here draws or formats: :mod:`~heartbeat.report.figures` and the writers do that.

The folders' layout is described in :mod:`heartbeat.report.tables`. Missing optional sources are
empty tables, never errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.data.beatset import CLASSES
from heartbeat.inference.modelinfo import ModelInfo

#: the searches' order in every table: the model families first, then the rest by name
FAMILY_ORDER = ("cnn1d", "cnn2d", "gru", "transformer", "resnet1d")
# results/output*.csv use the course's column names; TP_i there is the recall of class i
OUTPUT_COLUMNS = {"F2scoremacro": "f2_macro", "Recallmacro": "recall_macro", "Precisionmacro": "precision_macro",
                  "F1scoremacro": "f1_macro", "F1scoremicro": "f1_micro", "Accuracy": "accuracy"}


def classes_for(k: int) -> tuple[str, ...]:
    """Class names of a task with ``k`` classes (recall columns TP_0.. carry no names)."""
    for names in CLASSES.values():
        if len(names) == k:
            return names
    return tuple(str(i) for i in range(k))


@dataclass(frozen=True)
class Search:
    """One search: ``search.json`` (``info``) and ``trials.csv`` (``trials``, with ``experiment``,
    ``objective`` (the trial's best) and ``final_objective`` columns added)."""

    name: str
    info: dict
    trials: pd.DataFrame

    @property
    def objective(self) -> str:
        """The searched metric's name (``f2_macro`` unless search.json says otherwise)."""
        return self.info.get("objective") or "f2_macro"

    @property
    def best_tag(self) -> str | None:
        """The model folder the search exported, by its name; None when it exported none."""
        return Path(self.info["best_model"]).name if self.info.get("best_model") else None

    @classmethod
    def read(cls, folder: Path) -> "Search":
        path = folder / "search.json"
        info = json.loads(path.read_text()) if path.exists() else {}
        trials = pd.read_csv(folder / "trials.csv", dtype={"trial_id": str, "error": str})
        obj = info.get("objective") or "f2_macro"
        trials.insert(0, "experiment", folder.name)
        trials["trial_id"] = trials["trial_id"].astype(str)
        for col, src in (("objective", f"best_{obj}"), ("final_objective", f"final_{obj}")):
            trials[col] = pd.to_numeric(trials[src], errors="coerce") if src in trials else np.nan
        trials["epochs"] = pd.to_numeric(trials.get("epochs", 0), errors="coerce").fillna(0).astype(int)
        return cls(folder.name, info, trials)


@dataclass(frozen=True)
class Model:
    """One model folder: its record (``metrics.json`` as :class:`ModelInfo`) and its ``config.gin`` text."""

    tag: str
    path: Path
    info: ModelInfo
    config: str

    @classmethod
    def read(cls, folder: Path) -> "Model":
        info = ModelInfo.read(folder)
        config = (folder / "config.gin").read_text() if (folder / "config.gin").exists() else ""
        return cls(info.tag or folder.name, folder, info, config)

    def as_dict(self) -> dict:
        """The record as the tables' rows take it: its fields, its extras, ``path`` and ``config``."""
        return {**self.info.to_dict(), "path": str(self.path), "config": self.config}


class Results:
    """A results folder and a models folder, read as the report asks, each file once.

    ``roots`` are folders a search file named in search.json is looked up under (the project root:
    search.json names ``gin/search/<family>.gin`` relative to it)."""

    def __init__(self, results: str | Path = "results", models: str | Path | None = "models", roots=()):
        self.root = Path(results)
        self.models_dir = Path(models) if models is not None else None
        self.roots = tuple(roots)
        self._csv: dict[str, pd.DataFrame] = {}
        self._scores: dict[str, pd.DataFrame] = {}
        self._memo: dict = {}

    @classmethod
    def load(cls, results: str | Path = "results", models: str | Path | None = "models", roots=()) -> "Results":
        return cls(results, models, roots)

    @classmethod
    def of(cls, results: "Results | str | Path", models: str | Path | None = None, roots=()) -> "Results":
        """``results`` itself when it is a Results already, else the folders loaded."""
        return results if isinstance(results, Results) else cls(results, models, roots)

    def memo(self, key, compute):
        """``compute()`` the first time ``key`` is asked for, then the kept value: what the tables derive
        at some cost (a search's importances) is derived once per Results too."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # ------------------------------------------------------------ searches
    @cached_property
    def searches(self) -> dict[str, Search]:
        """Every search under the results folder (a folder with a trials.csv), in :data:`FAMILY_ORDER`."""
        found = [p.parent for p in self.root.glob("*/trials.csv")] if self.root.is_dir() else []
        rank = {name: i for i, name in enumerate(FAMILY_ORDER)}
        found.sort(key=lambda p: (rank.get(p.name, len(rank)), p.name))
        return {p.name: Search.read(p) for p in found}

    @property
    def names(self) -> list[str]:
        return list(self.searches)

    @cached_property
    def trials(self) -> pd.DataFrame:
        """Every trial of every search (bindings of other families are NaN)."""
        frames = [s.trials for s in self.searches.values()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["experiment", "objective"])

    @cached_property
    def search_infos(self) -> dict[str, dict]:
        """search.json of every folder that has one, trials.csv or not, by folder name."""
        found = sorted(self.root.glob("*/search.json")) if self.root.is_dir() else []
        return {p.parent.name: (self.searches[p.parent.name].info if p.parent.name in self.searches
                                else json.loads(p.read_text())) for p in found}

    def search_info(self, name: str) -> dict:
        """search.json of one search ({} where there is none)."""
        if name in self.searches:
            return self.searches[name].info
        path = self.root / name / "search.json"
        return json.loads(path.read_text()) if path.exists() else {}

    # ------------------------------------------------------------ models and their scores
    @cached_property
    def models(self) -> dict[str, Model]:
        """Every model folder (a folder with a metrics.json) under the models folder, by tag."""
        root = self.models_dir
        folders = sorted(p for p in root.iterdir() if (p / "metrics.json").exists()) if root and root.is_dir() else []
        out = {}
        for folder in folders:
            model = Model.read(folder)
            out[model.tag] = model
        return out

    def scores(self, split: str = "valid") -> pd.DataFrame:
        """``output.csv`` (valid), ``output_test.csv`` or ``output_holdout.csv`` by model tag, in metric names."""
        if split not in self._scores:
            path = self.root / ("output.csv" if split == "valid" else f"output_{split}.csv")
            table = pd.DataFrame()
            if path.exists():
                table = pd.read_csv(path)
                tp = [c for c in table.columns if re.fullmatch(r"TP_\d+", c)]
                names = classes_for(len(tp))
                table = table.rename(columns={**OUTPUT_COLUMNS, **{f"TP_{i}": f"recall_{c}" for i, c in enumerate(names)}})
                table["modeltag"] = table["modeltag"].astype(str)
                table = table.set_index("modeltag")
            self._scores[split] = table
        return self._scores[split]

    def confusions(self, split: str = "valid") -> pd.DataFrame:
        """``confusions.csv`` (valid) or ``confusions_<split>.csv``: each model's confusion matrix in long
        form (model, true, predicted, beats), as ``heartbeat score`` wrote it beside output*.csv."""
        return self.csv("confusions.csv" if split == "valid" else f"confusions_{split}.csv")

    # ------------------------------------------------------------ the other result files
    def csv(self, relative: str) -> pd.DataFrame:
        """A CSV under the results folder (``ds1ds2/table.csv``, ``table3/cv_table.csv``...); empty if absent."""
        if relative not in self._csv:
            path = self.root / relative
            self._csv[relative] = pd.read_csv(path) if path.exists() else pd.DataFrame()
        return self._csv[relative]

    def text(self, relative: str) -> str:
        """A text file under the results folder ('' where absent)."""
        path = self.root / relative
        return path.read_text() if path.exists() else ""

    def jsons(self, folder: str) -> pd.DataFrame:
        """The ``*.json`` files of one folder under the results folder, a row each (empty if none)."""
        return pd.DataFrame([json.loads(p.read_text()) for p in sorted((self.root / folder).glob("*.json"))])

    @cached_property
    def shift(self) -> dict[str, pd.DataFrame]:
        """``shift/*.csv`` (inter-patient and corruption figures) by file stem; empty if absent."""
        folder = self.root / "shift"
        return {p.stem: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}
