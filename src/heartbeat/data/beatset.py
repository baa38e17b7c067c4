"""The one in-memory type every reader produces, and the tasks it can describe.

A beat is ``BEAT_LEN`` (187) float32 samples at 125 Hz, scaled to [0, 1] and
zero-padded, as in Kachuee et al. 2018 and the Kaggle/course files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BEAT_LEN = 187
FS = 125

#: class names per task, in label order (label i is CLASSES[task][i]).
CLASSES: dict[str, tuple[str, ...]] = {
    "mitbih": ("N", "S", "V", "F", "Q"),
    "ptb": ("normal", "abnormal"),
}


class DataError(ValueError):
    """Bad input data: the message names the file, the row/column and what was expected."""


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


@dataclass
class BeatSet:
    """Beats of one task: ``X`` float32 (n, 187), ``y`` int64 (n,), optional record id per beat."""

    X: np.ndarray
    y: np.ndarray
    task: str
    record: np.ndarray | None = None
    report: LoadReport | None = None

    def __post_init__(self) -> None:
        if self.task not in CLASSES:
            raise ValueError(f"unknown task {self.task!r}; expected one of {sorted(CLASSES)}")
        self.X = np.ascontiguousarray(self.X, dtype=np.float32)
        self.y = np.asarray(self.y, dtype=np.int64)
        if self.X.ndim != 2 or self.X.shape[1] != BEAT_LEN:
            raise ValueError(f"X must have shape (n, {BEAT_LEN}), got {self.X.shape}")
        if len(self.y) != len(self.X):
            raise ValueError(f"X has {len(self.X)} rows but y has {len(self.y)}")
        if self.record is not None:
            self.record = np.asarray(self.record).astype(str)
            if len(self.record) != len(self.X):
                raise ValueError(f"X has {len(self.X)} rows but record has {len(self.record)}")

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES[self.task]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> "BeatSet":
        return BeatSet(
            X=self.X[idx],
            y=self.y[idx],
            task=self.task,
            record=None if self.record is None else self.record[idx],
            report=self.report,
        )

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=self.num_classes)
        return {c: int(n) for c, n in zip(self.classes, counts)}

    @staticmethod
    def concat(parts: list["BeatSet"]) -> "BeatSet":
        tasks = {p.task for p in parts}
        if len(tasks) != 1:
            raise ValueError(f"cannot concatenate beats of different tasks {sorted(tasks)}")
        has_rec = all(p.record is not None for p in parts)
        reports = [p.report for p in parts if p.report is not None]
        report = reports[0] if reports else None
        for r in reports[1:]:
            report = report.merge(r)
        return BeatSet(
            X=np.concatenate([p.X for p in parts]),
            y=np.concatenate([p.y for p in parts]),
            task=parts[0].task,
            record=np.concatenate([p.record for p in parts]) if has_rec else None,
            report=report,
        )


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

    @property
    def task(self) -> str:
        return self.train.task
