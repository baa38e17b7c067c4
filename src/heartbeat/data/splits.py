"""Seeded splits: ``intra`` (stratified by beat, like Kaggle's) and ``inter`` (by record)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from heartbeat.data.beatset import BeatSet

SPLITS = ("intra", "inter")


def split_indices(beats: BeatSet, how: str, test_size: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) of a seeded split.

    ``intra``: stratified random split by beat (a patient's beats fall on both sides).
    ``inter``: by record, so that no patient is on both sides; classes are kept as
    balanced as records allow (scikit-learn's StratifiedGroupKFold, one fold of
    ``round(1 / test_size)`` as the test side).
    """
    idx = np.arange(len(beats))
    if how == "intra":
        stratify = beats.y if np.bincount(beats.y).min(initial=2) >= 2 else None
        return tuple(train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify))
    if how == "inter":
        if beats.record is None:
            raise ValueError("an inter-patient split needs a record id per beat; this data has none "
                             "(build it from WFDB records or use a file with a 'record' column)")
        n_folds = max(2, round(1 / test_size))
        if len(np.unique(beats.record)) < n_folds:
            raise ValueError(f"an inter-patient split with test_size {test_size} needs at least {n_folds} "
                             f"records; this data has {len(np.unique(beats.record))}")
        folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        train, test = next(folds.split(idx, beats.y, groups=beats.record))
        return train, test
    raise ValueError(f"unknown split {how!r}; expected one of {SPLITS}")


def split(beats: BeatSet, how: str, test_size: float = 0.2, seed: int = 0) -> tuple[BeatSet, BeatSet]:
    train, test = split_indices(beats, how, test_size, seed)
    return beats.subset(train), beats.subset(test)
