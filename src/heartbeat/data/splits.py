"""Splits: ``intra`` (stratified by beat, like Kaggle's), ``inter`` (by record), and ``ds1ds2``.

``ds1ds2`` is the inter-patient protocol of de Chazal, O'Dwyer and Reilly, "Automatic
classification of heartbeats using ECG morphology and heartbeat interval features", IEEE
Trans. Biomed. Eng. 51(7), 2004: the 44 non-paced MIT-BIH records split into two sets of 22
patients, DS1 to train (and select) on and DS2 to test on, with no patient on both sides.
The four paced records (102, 104, 107, 217) are left out of both sets, as there; their beats
are the Q class's bulk. The few Q beats of the other records are left out too (de Chazal
report N, S, V and F only), and the count of what was left out is in the data's source line.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from heartbeat.choices import SPLITS
from heartbeat.data.beatset import BeatSet
from heartbeat.errors import ConfigError, DataError

DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201", "203",
       "205", "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213", "214",
       "219", "221", "222", "228", "231", "232", "233", "234")
PACED = ("102", "104", "107", "217")
Q = 4  # the AAMI Q class's label


def split_indices(beats: BeatSet, how: str, test_size: float = 0.2, seed: int = 0,
                  nested: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) of a seeded split.

    ``intra``: stratified random split by beat (a patient's beats fall on both sides).
    ``ds1ds2``: DS1's records against DS2's (module docstring); beats of other records are on
    neither side, so call :func:`protocol_beats` first.
    ``inter``: by record, so that no patient is on both sides; classes are kept as
    balanced as records allow. Of the ``round(1 / test_size)`` folds of scikit-learn's
    StratifiedGroupKFold, the test side is the fold that best keeps every class on both
    sides: the fold maximising the worst class's coverage, where a class's coverage is
    the smaller of (its share on the test side / ``test_size``) and (its share on the
    train side / ``1 - test_size``), capped at 1. With ``nested`` (the test split), a fold
    is also judged by the best such split of its own train side, because a search carves
    its validation side from there the same way (``nested=False``, the last level): train,
    validation and test then all hold every class where records allow. Taking the first
    fold instead left a validation side with one F beat on the 43 MIT-BIH records, where a
    few records hold nearly all F (208, 213) and Q (102, 107, 217) beats, and a search
    validated there scores noise.
    """
    idx = np.arange(len(beats))
    if how == "intra":
        stratify = beats.y if np.bincount(beats.y).min(initial=2) >= 2 else None
        return tuple(train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify))
    if how in ("inter", "ds1ds2") and beats.record is None:
        raise DataError(f"an {how} split needs a record id per beat; this data has none "
                         "(build it from WFDB records or use a file with a 'record' column)")
    if how == "inter":
        return _inter_fold(beats, test_size, seed, lookahead=nested)
    if how == "ds1ds2":  # the protocol fixes both sides: test_size and seed play no part
        return np.flatnonzero(np.isin(beats.record, DS1)), np.flatnonzero(np.isin(beats.record, DS2))
    raise ConfigError(f"unknown split {how!r}; expected one of {SPLITS}")


def split(beats: BeatSet, how: str, test_size: float = 0.2, seed: int = 0,
          nested: bool = True) -> tuple[BeatSet, BeatSet]:
    train, test = split_indices(beats, how, test_size, seed, nested)
    return beats.subset(train), beats.subset(test)


def _coverage(y: np.ndarray, test: np.ndarray, test_size: float) -> float:
    """The worst class's coverage of a split (see :func:`split_indices`); classes absent from y are skipped."""
    counts = np.bincount(y)
    on_test = np.bincount(y[test], minlength=len(counts)) / np.maximum(counts, 1)  # (k,) share per class
    cover = np.minimum(np.minimum(on_test / test_size, (1 - on_test) / (1 - test_size)), 1.0)
    return float(cover[counts > 0].min())


def _inter_fold(beats: BeatSet, test_size: float, seed: int, lookahead: bool) -> tuple[np.ndarray, np.ndarray]:
    n_folds = max(2, round(1 / test_size))
    records = np.unique(beats.record)
    if len(records) < n_folds:
        raise DataError(f"an inter-patient split with test_size {test_size} needs at least {n_folds} "
                         f"records; this data has {len(records)}")
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    candidates = list(folds.split(np.arange(len(beats)), beats.y, groups=beats.record))

    def score(fold: tuple[np.ndarray, np.ndarray]) -> float:
        value = _coverage(beats.y, fold[1], test_size)
        if lookahead and len(np.unique(beats.record[fold[0]])) >= n_folds:
            rest = beats.subset(fold[0])  # copies the beats: only where the look-ahead needs them
            inner = _inter_fold(rest, test_size, seed, lookahead=False)
            value = min(value, _coverage(rest.y, inner[1], test_size))
        return value

    return max(candidates, key=score)


def grouped_folds(beats: BeatSet, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``k`` patient-grouped folds of ``beats``: (train, valid) index pairs, every record on one valid side.

    scikit-learn's StratifiedGroupKFold, shuffled with ``seed``: no patient is on both sides of a fold,
    and classes are spread over the folds as evenly as records allow. Selecting on all ``k`` folds
    pooled, rather than on the one fold :func:`split_indices` keeps, scores every training patient once
    (22 of DS1 rather than about 4), which is what selection for new patients needs: on one fold the
    ranking of Table 3's rows agreed poorly with DS2's.
    """
    if beats.record is None:
        raise DataError("patient-grouped folds need a record id per beat; this data has none "
                        "(build it from WFDB records or use a file with a 'record' column)")
    records = np.unique(beats.record)
    if k < 2 or len(records) < k:
        raise ConfigError(f"patient-grouped folds: k must be at least 2 and at most the {len(records)} records "
                          f"of the training side; got k={k}")
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(folds.split(np.arange(len(beats)), beats.y, groups=beats.record))


def left_out_classes(split: str) -> tuple[str, ...]:
    """The classes a split leaves out by design: Q under ``ds1ds2`` (:func:`protocol_beats`), else none."""
    return ("Q",) if split == "ds1ds2" else ()


def protocol_beats(beats: BeatSet) -> tuple[BeatSet, str]:
    """The beats the ``ds1ds2`` protocol uses (paced records and Q beats left out), and a note saying
    what was left out and which of DS1's and DS2's records are absent."""
    if beats.record is None:
        raise DataError("the ds1ds2 split needs a record id per beat; this data has none "
                         "(build it from WFDB records)")
    paced = np.isin(beats.record, PACED)
    q = (beats.y == Q) & ~paced
    kept = beats.subset(np.flatnonzero(~paced & ~q))
    present = set(kept.record)
    note = (f"ds1ds2 (de Chazal 2004): DS1 {len(present & set(DS1))}/22 records, DS2 "
            f"{len(present & set(DS2))}/22; left out: {int(paced.sum())} beats of paced records, {int(q.sum())} Q beats")
    absent = [r for r in DS1 + DS2 if r not in present]
    return kept, note + (f"; absent records {','.join(absent)}" if absent else "")
