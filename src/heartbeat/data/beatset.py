"""The one in-memory type every reader produces, and the tasks it can describe.

A beat is ``BEAT_LEN`` (187) float32 samples at 125 Hz, scaled to [0, 1] and
zero-padded, as in Kachuee et al. 2018 and the Kaggle/course files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from heartbeat.choices import WINDOWS  # noqa: F401  (re-exported: heartbeat.data.beatset.WINDOWS)
from heartbeat.errors import (
    ConfigError,
    DataError,  # noqa: F401  (re-exported: heartbeat.data.DataError)
)

BEAT_LEN = 187
FS = 125

#: class names per task, in label order (label i is CLASSES[task][i]).
CLASSES: dict[str, tuple[str, ...]] = {
    "mitbih": ("N", "S", "V", "F", "Q"),
    "ptb": ("normal", "abnormal"),
}


@dataclass
class LoadReport:
    """What a reader did to the data on its way in: nothing is changed silently."""

    source: str
    rows_read: int = 0
    values_imputed: int = 0
    rows_imputed: int = 0
    rows_dropped: list[int] = field(default_factory=list)  # 0-based data-row indices in the source
    notes: list[str] = field(default_factory=list)

    def merge(self, other: "LoadReport") -> "LoadReport":
        return LoadReport(
            source=f"{self.source} + {other.source}",
            rows_read=self.rows_read + other.rows_read,
            values_imputed=self.values_imputed + other.values_imputed,
            rows_imputed=self.rows_imputed + other.rows_imputed,
            rows_dropped=self.rows_dropped + other.rows_dropped,
            notes=self.notes + other.notes,
        )

    def lines(self) -> list[str]:
        out = [
            f"source: {self.source}",
            f"rows read: {self.rows_read}",
            f"non-finite values imputed (linear interpolation along time): "
            f"{self.values_imputed} in {self.rows_imputed} rows",
            f"rows dropped (no finite value): {len(self.rows_dropped)}"
            + (f" at rows {self.rows_dropped[:20]}{' ...' if len(self.rows_dropped) > 20 else ''}"
               if self.rows_dropped else ""),
        ]
        return out + [f"note: {n}" for n in self.notes]


#: beat windows: ``kachuee`` starts at the R peak (the course's and Kaggle's format); ``pwave`` starts
#: ``PWAVE_LEAD`` seconds before it, so that the beat holds its own P wave (see heartbeat.data.wfdb_beats).
#: (the names are heartbeat.choices.Window's)
#: per-beat arrays of a BeatSet, subset and concatenated together
PER_BEAT = ("X", "y", "record", "rhythm", "sample", "time")


@dataclass
class BeatSet:
    """Beats of one task: ``X`` float32 (n, 187), ``y`` int64 (n,), and what the source knows besides.

    ``record`` (n,) names each beat's patient. Beats built from records also carry their
    ``rhythm`` float32 (n, k) with its column names ``rhythm_names`` (heartbeat.data.rhythm),
    the R peak's ``sample`` index in its record (at the record's own rate) and ``time`` in
    seconds. ``window`` says how the beat was cut (:data:`WINDOWS`); course and Kaggle files
    are ``kachuee`` beats and have no rhythm.
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    record: np.ndarray | None = None
    report: LoadReport | None = None
    rhythm: np.ndarray | None = None
    rhythm_names: tuple[str, ...] = ()
    sample: np.ndarray | None = None
    time: np.ndarray | None = None
    window: str = "kachuee"

    def __post_init__(self) -> None:
        if self.task not in CLASSES:
            raise ConfigError(f"unknown task {self.task!r}; expected one of {sorted(CLASSES)}")
        if self.window not in WINDOWS:
            raise ConfigError(f"unknown beat window {self.window!r}; expected one of {WINDOWS}")
        self.X = np.ascontiguousarray(self.X, dtype=np.float32)
        self.y = np.asarray(self.y, dtype=np.int64)
        if self.X.ndim != 2 or self.X.shape[1] != BEAT_LEN:
            raise DataError(f"X must have shape (n, {BEAT_LEN}), got {self.X.shape}")
        for name, dtype in (("y", None), ("record", str), ("sample", np.int64), ("time", np.float64),
                            ("rhythm", np.float32)):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value).astype(dtype) if dtype is not None else value
            setattr(self, name, value)
            if len(value) != len(self.X):
                raise DataError(f"X has {len(self.X)} rows but {name} has {len(value)}")
        self.rhythm_names = tuple(self.rhythm_names)
        if self.rhythm is not None and (self.rhythm.ndim != 2 or self.rhythm.shape[1] != len(self.rhythm_names)):
            raise DataError(f"rhythm must have shape (n, {len(self.rhythm_names)}) to match its names "
                             f"{self.rhythm_names}, got {self.rhythm.shape}")

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES[self.task]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.y)

    def _with(self, **arrays) -> "BeatSet":
        return BeatSet(task=self.task, report=self.report, rhythm_names=self.rhythm_names, window=self.window,
                       **arrays)

    def subset(self, idx: np.ndarray) -> "BeatSet":
        return self._with(**{k: None if getattr(self, k) is None else getattr(self, k)[idx] for k in PER_BEAT})

    def without_rhythm(self) -> "BeatSet":
        """The same beats, beat-only (as a model without rhythm input sees them)."""
        out = self._with(**{k: getattr(self, k) for k in PER_BEAT if k != "rhythm"})
        out.rhythm_names = ()
        return out

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=self.num_classes)
        return {c: int(n) for c, n in zip(self.classes, counts)}

    @staticmethod
    def concat(parts: list["BeatSet"]) -> "BeatSet":
        first = parts[0]
        with_rhythm = [p for p in parts if p.rhythm is not None]
        for attr, among in (("task", parts), ("window", parts), ("rhythm_names", with_rhythm)):
            values = {getattr(p, attr) for p in among}
            if len(values) > 1:
                raise DataError(f"cannot concatenate beats of different {attr}: {sorted(map(str, values))}")
        reports = [p.report for p in parts if p.report is not None]
        report = reports[0] if reports else None
        for r in reports[1:]:
            report = report.merge(r)
        # a per-beat array survives only where every part has it
        arrays = {k: (np.concatenate([getattr(p, k) for p in parts])
                      if all(getattr(p, k) is not None for p in parts) else None) for k in PER_BEAT}
        return BeatSet(task=first.task, report=report, window=first.window,
                       rhythm_names=first.rhythm_names if arrays["rhythm"] is not None else (), **arrays)


@dataclass
class Dataset:
    """A task's train and test beats and where they came from."""

    train: BeatSet
    test: BeatSet
    source: str
    synthetic: bool = False
    split: str = "intra"  # how validation is carved from train: by beat, or by record for 'inter'
    holdout: "BeatSet | None" = None  # beats of patients kept out of train and test (data-shift checks)
    holdout_records: tuple[str, ...] = ()
    #: what was read, relative to the data root (the folder given, or holding the file given): "" is the root
    #: itself, None synthetic beats. ``source`` names the root "<data>", never a path of this machine.
    data_path: str | None = None
    #: the embedded sample of 4 records (heartbeat.data.sample), the data of last resort
    sample: bool = False

    @property
    def task(self) -> str:
        return self.train.task
