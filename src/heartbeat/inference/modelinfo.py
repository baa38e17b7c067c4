"""A model folder's record, ``metrics.json``: the :class:`ModelInfo` dataclass, and nothing heavier.

It sits apart from :mod:`heartbeat.inference.modelio` (which imports torch to rebuild the weights) so that the
report and the service's command line read a folder's record without importing torch; modelio is
still the one place that writes it (``save_model``) and re-exports it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np


@dataclass
class ModelInfo:
    """A model folder's record (``metrics.json``): written by :func:`save_model`, read by :func:`load_model`.

    ``data`` describes the source with the data root written ``<data>``; ``data_path`` is what was
    read, relative to that root (the folder given as --data or $HEARTBEAT_DATA), so that a model is
    rebuilt from its record on any machine, never through a path of the machine that trained it.
    Keys a caller adds that are not fields here (a search's ``trial_config``, a retrain's
    ``retrained_from``) are kept in ``extra`` and written beside the fields.
    """

    task: str
    tag: str = ""
    family: str = ""
    classes: list[str] = field(default_factory=list)
    data: str = ""
    data_path: str | None = None
    synthetic: bool = False
    split: str = "intra"
    seed: int = 0
    valid_size: float = 0.2
    holdout: list[str] = field(default_factory=list)
    window: str = "kachuee"
    rhythm: list[str] = field(default_factory=list)
    best_epoch: int = 0
    objective: str = "f2_macro"
    seconds: float = 0.0
    valid: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelInfo":
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names}
        extra = {**d.get("extra", {}), **{k: v for k, v in d.items() if k not in names and k != "extra"}}
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {**{k: v for k, v in d.items() if k != "extra"}, **d["extra"]}

    def write(self, folder: Path) -> None:
        (folder / "metrics.json").write_text(json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n")

    @classmethod
    def of_data(cls, dataset, classes, seed: int, valid_size: float, **extra) -> "ModelInfo":
        """The part of the record a model's data fixes (source, split, seed, held-out patients), before any
        fit: a search builds it once for its winner; :meth:`of_fit` adds what a fit learnt."""
        return cls(task=dataset.task, classes=list(classes), data=dataset.source, data_path=dataset.data_path,
                   synthetic=dataset.synthetic, split=dataset.split, seed=int(seed), valid_size=float(valid_size),
                   holdout=list(dataset.holdout_records), extra=extra)

    @classmethod
    def of_fit(cls, result, dataset, classes, seed: int, valid_size: float, **extra) -> "ModelInfo":
        """The record of one fit (:class:`heartbeat.training.fit.FitResult`) on ``dataset``: the one place a model's
        record is built from a training run (``heartbeat train``, ``retrain``). ``extra`` keys are kept beside
        the fields (a retrain's ``retrained_from``, ...)."""
        return replace(cls.of_data(dataset, classes, seed, valid_size, **extra), window=result.inputs.window,
                       rhythm=list(result.inputs.names), best_epoch=result.best_epoch, objective=result.objective,
                       seconds=result.seconds, valid=result.metrics, history=result.history)

    @classmethod
    def read(cls, folder: Path) -> "ModelInfo":
        return cls.from_dict(json.loads((folder / "metrics.json").read_text()))


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")
