"""Where data comes from: ``--data``, else ``$HEARTBEAT_DATA``, else ``data/``, else the embedded sample.

One resolution for every command, the API and the Makefile. The embedded sample is four real
MIT-BIH records shipped with the project (:mod:`heartbeat.data.sample`, ODC-By 1.0), so a fresh
clone runs on real ECG. The built-in **synthetic** beats are used only when asked for by name
(``--data synthetic``, ``data="synthetic"``): never as a silent fall-back.

A folder is searched (itself and its immediate subfolders) for, in this order:

1. the course parquet pair of the task (``heart_big_train.parq`` + ``heart_big_test.parq``
   for MIT-BIH, ``heart_train.parq`` + ``heart_test.parq`` for PTB);
2. Kaggle's CSV files (``mitbih_train.csv`` + ``mitbih_test.csv``; ``ptbdb_normal.csv`` +
   ``ptbdb_abnormal.csv``, split here);
3. for MIT-BIH, a folder of raw WFDB records (beats built by :mod:`heartbeat.data.wfdb_beats`
   and cached, then split here); for PTB, a single parquet file with "ptb" in its name
   (split here).

A single file is read and split here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from heartbeat.data.beatset import WINDOWS, BeatSet, DataError, Dataset
from heartbeat.data.readers import read_beats, write_beats
from heartbeat.data.sample import SAMPLE_NAME, sample_dir
from heartbeat.data.splits import grouped_folds, protocol_beats, split
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.data.wfdb_beats import build_beats, list_records
from heartbeat.errors import ConfigError

PAIRS = {
    "mitbih": [("heart_big_train.parq", "heart_big_test.parq"), ("mitbih_train.csv", "mitbih_test.csv")],
    "ptb": [("heart_train.parq", "heart_test.parq")],
}
#: ``--holdout ds2``: five records of de Chazal et al.'s (2004) DS2 test patients, chosen among the
#: 43 records here so that S (222), V (228, 233) and F (210, 233) beats are among the unseen patients
#: while the two records that hold most F beats (208, 213) and most S beats (232) stay for training.
#: About 13% of the beats; a model trained with this holdout has never seen these patients.
DS2_HOLDOUT = ("105", "210", "222", "228", "233")
BUILDER_VERSION = "annot-rhythm-context-v3"  # bump when wfdb_beats changes what it builds

#: the data argument that asks for the built-in synthetic beats (a smoke test of the code, not of a model)
SYNTHETIC = "synthetic"
SYNTHETIC_WARNING = (
    "!!! SYNTHETIC beats (asked for with --data synthetic): they are not ECG and every figure on them "
    "is meaningless. Without --data, the real records of $HEARTBEAT_DATA, data/ or the embedded "
    "sample are used. !!!"
)


def warn_if_synthetic(dataset) -> None:
    """Say loudly, on stderr, that the data are the built-in synthetic beats."""
    if dataset.synthetic:
        print("\n" + SYNTHETIC_WARNING + "\n", file=sys.stderr)


def project_root() -> Path:
    """The project folder (gin/, models/, results/): ``$HEARTBEAT_ROOT`` if set; else the source checkout
    this package is installed from (editable, as ``make install`` does); else the working directory, for
    an installed wheel run from a copy of the project."""
    env = os.environ.get("HEARTBEAT_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / "pyproject.toml").exists() and (checkout / "gin").is_dir() else Path.cwd()


def default_source() -> Path:
    """Where data comes from when none is given: ``$HEARTBEAT_DATA`` if set, else the project's ``data/``
    folder if it holds data, else the embedded sample of real records (:func:`heartbeat.data.sample.sample_dir`)."""
    env = os.environ.get("HEARTBEAT_DATA")
    if env:
        path = Path(env).expanduser()
        if not path.exists():
            raise DataError(f"HEARTBEAT_DATA={env}: no such file or folder (unset it to use data/ or the "
                            "embedded sample)")
        return path
    local = project_root() / "data"
    if local.is_dir() and any(p.name != "README.md" and not p.name.startswith(".") for p in local.iterdir()):
        return local
    return sample_dir()


def is_synthetic_request(path) -> bool:
    return isinstance(path, str) and path.strip().lower() == SYNTHETIC


def resolve_source(path: str | Path | None) -> Path | str:
    """The one data resolution: ``path``, else :func:`default_source`; ``'synthetic'`` stays as it is."""
    if path is None or (isinstance(path, str) and not path.strip()):
        return default_source()
    if is_synthetic_request(path):
        return SYNTHETIC
    return Path(path).expanduser()


def load_dataset(
    path: str | Path | None = None,
    task: str = "mitbih",
    split_how: str = "intra",
    seed: int = 0,
    test_size: float = 0.2,
    synthetic_size: int = 20000,
    progress=None,
    holdout: str | tuple[str, ...] | None = None,
    window: str = "kachuee",
) -> Dataset:
    """Resolve a data source and return its train/test beats (the test side is for final evaluation only).

    ``holdout`` (record ids, or ``'ds2'`` for :data:`DS2_HOLDOUT`) takes those patients' beats out
    of the source before it is split: they are in neither train nor test but in ``Dataset.holdout``,
    a set of patients no model trained on this dataset has seen.

    ``window`` is how beats are cut (:data:`heartbeat.data.beatset.WINDOWS`): WFDB records are
    built with it; a beat file must hold beats of that window (course and Kaggle files are
    ``kachuee``), else a DataError says so. ``split_how='ds1ds2'`` is de Chazal's protocol
    (:mod:`heartbeat.data.splits`): train on DS1, test on DS2, validation by record inside DS1.
    """
    if window not in WINDOWS:
        raise DataError(f"unknown beat window {window!r}; expected one of {WINDOWS}")
    records = parse_holdout(holdout)
    where = resolve_source(path)
    ds = _load(where, task, split_how, seed, test_size, synthetic_size, progress, records, window)
    if where == sample_dir():  # the embedded sample says so in every source line, and the dataset knows it
        ds = dataclasses.replace(ds, source=ds.source.replace(DATA_ROOT, SAMPLE_NAME, 1) + " (embedded sample: "
                                 "4 real MIT-BIH records; give --data for the full database)", sample=True)
    for part in (ds.train, ds.test):
        if part.window != window:
            raise DataError(f"{ds.source}: holds {part.window!r} beats, but {window!r} beats were asked for "
                            "(beats of another window can only be built from WFDB records: give a folder of them)")
    if records and ds.holdout is None and not ds.synthetic:  # a source that came with its own train/test pair
        ds = _hold_out_pair(ds, records)
    return ds


def parse_holdout(holdout: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """``None``/``'none'`` -> (); ``'ds2'`` -> :data:`DS2_HOLDOUT`; ``'105,210'`` -> ('105', '210')."""
    if holdout is None or holdout in ("", "none"):
        return ()
    if isinstance(holdout, str):
        if holdout == "ds2":
            return DS2_HOLDOUT
        holdout = holdout.split(",")
    return tuple(sorted({str(r).strip() for r in holdout if str(r).strip()}))


def _take_out(beats: BeatSet, records: tuple[str, ...], source: str) -> tuple[BeatSet, BeatSet]:
    """(beats of other records, beats of ``records``); every named record must be present."""
    if beats.record is None:
        raise DataError(f"{source}: a patient holdout needs a record id per beat; this data has none "
                        "(build it from WFDB records or use a file with a 'record' column)")
    missing = sorted(set(records) - set(beats.record))
    if missing:
        raise DataError(f"{source}: holdout records {missing} are not in the data "
                        f"(it has {len(set(beats.record))} records)")
    held = np.isin(beats.record, records)
    return beats.subset(np.flatnonzero(~held)), beats.subset(np.flatnonzero(held))


def _hold_out_pair(ds: Dataset, records: tuple[str, ...]) -> Dataset:
    train, held_train = _take_out(ds.train, records, ds.source)
    in_test = set(ds.test.record) if ds.test.record is not None else set()
    present = [r for r in records if r in in_test]
    test, held_test = _take_out(ds.test, tuple(present), ds.source) if present else (ds.test, None)
    held = held_train if held_test is None else BeatSet.concat([held_train, held_test])
    return Dataset(train, test, source=f"{ds.source}, records {','.join(records)} held out", synthetic=ds.synthetic,
                   split=ds.split, holdout=held, holdout_records=records, data_path=ds.data_path)


DATA_ROOT = "<data>"  # how a source string names the data root: no path of the machine that read it


def _shown(p: Path, root: Path) -> str:
    """``p`` as ``<data>/relative/path`` (``<data>`` for the root itself)."""
    rel = p.relative_to(root).as_posix()
    return DATA_ROOT if rel == "." else f"{DATA_ROOT}/{rel}"


def shown_path(p: str | Path) -> str:
    """A data path as a result file may record it, naming no folder of this machine: ``<data>/...`` under
    ``$HEARTBEAT_DATA``, else relative to the working folder where it lies below it, else as given."""
    resolved = Path(p).resolve()
    root = Path(os.environ["HEARTBEAT_DATA"]).resolve() if os.environ.get("HEARTBEAT_DATA") else None
    if root is not None and resolved.is_relative_to(root):
        return _shown(resolved, root)
    cwd = Path.cwd().resolve()
    if resolved.is_relative_to(cwd):
        return _relative(resolved, cwd) or "."
    return str(p)


def _relative(p: Path, root: Path) -> str:
    rel = p.relative_to(root).as_posix()
    return "" if rel == "." else rel


def _load(path, task, split_how, seed, test_size, synthetic_size, progress, records, window) -> Dataset:
    path = resolve_source(path)
    if path == SYNTHETIC:  # synthetic beats have no patients: a holdout names none of them and is left out
        beats = synthetic_beats(synthetic_size, task=task, seed=seed)
        beats.window = window  # synthetic shapes stand in for either window
        train, test = split(beats, "intra", test_size, seed)
        return Dataset(train, test, source=beats.report.source, synthetic=True)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path == sample_dir() and task != "mitbih":
        raise DataError(f"no {task} data given: the embedded sample holds MIT-BIH records only. Give --data PATH "
                        "(e.g. a ptbdb_*.csv pair or a *ptb*.parq file) or set HEARTBEAT_DATA")
    if path.is_file():
        beats = read_beats(path, task=None)
        return _split_one(beats, _shown(path, path.parent), split_how, seed, test_size, records, path.name)
    for folder in [path, *sorted(p for p in path.iterdir() if p.is_dir())]:
        where = _relative(folder, path)
        for train_name, test_name in PAIRS.get(task, []):
            if (folder / train_name).exists() and (folder / test_name).exists():
                train = read_beats(folder / train_name, task)
                test = read_beats(folder / test_name, task)
                return Dataset(train, test, source=f"{_shown(folder / train_name, path)} + {test_name}",
                               data_path=where)
        if task == "ptb" and (folder / "ptbdb_normal.csv").exists() and (folder / "ptbdb_abnormal.csv").exists():
            beats = BeatSet.concat([read_beats(folder / "ptbdb_normal.csv", "ptb"),
                                    read_beats(folder / "ptbdb_abnormal.csv", "ptb")])
            return _split_one(beats, f"{_shown(folder, path)}/ptbdb_*.csv", split_how, seed, test_size, records, where)
        if task == "mitbih" and any(folder.glob("*.hea")):
            beats = cached_wfdb_beats(folder, progress=progress, window=window)
            return _split_one(beats, f"{_shown(folder, path)} (WFDB records)", split_how, seed, test_size, records,
                              where)
        if task == "ptb":
            ptb_files = sorted(folder.glob("*ptb*.parq"))
            if ptb_files:
                return _split_one(read_beats(ptb_files[0], "ptb"), _shown(ptb_files[0], path), split_how, seed,
                                  test_size, records, _relative(ptb_files[0], path))
    raise DataError(
        f"{path}: no {task} data found. Expected one of: "
        + "; ".join(f"{a} + {b}" for a, b in PAIRS.get(task, []))
        + ("; ptbdb_normal.csv + ptbdb_abnormal.csv; a *ptb*.parq file" if task == "ptb"
           else "; a folder of WFDB records (*.hea, *.dat, *.atr)")
        + " (in the folder or one level below)"
    )


def _split_one(beats: BeatSet, source: str, how: str, seed: int, test_size: float,
               records: tuple[str, ...] = (), data_path: str | None = None) -> Dataset:
    held = None
    if records:
        beats, held = _take_out(beats, records, source)
        source += f", records {','.join(records)} held out"
    if how == "ds1ds2":
        beats, note = protocol_beats(beats)
        train, test = split(beats, how)
        return Dataset(train, test, source=f"{source}, {note}", split=how, holdout=held, holdout_records=records,
                       data_path=data_path)
    train, test = split(beats, how, test_size, seed)
    return Dataset(train, test, source=f"{source}, {how} split {1 - test_size:.0%}/{test_size:.0%} seed {seed}",
                   split=how, holdout=held, holdout_records=records, data_path=data_path)


def cache_dir() -> Path:
    return Path(os.environ.get("HEARTBEAT_CACHE", Path.home() / ".cache" / "heartbeat"))


def cached_wfdb_beats(folder: Path, progress=None, window: str = "kachuee") -> BeatSet:
    """Beats (with rhythm) built from a WFDB folder by ``window``, cached by the records' names, sizes and times."""
    folder = Path(folder)
    names = list_records(folder)
    h = hashlib.sha1(f"{BUILDER_VERSION}:{window}".encode())
    for name in names:
        for ext in ("hea", "dat", "atr"):
            st = (folder / f"{name}.{ext}").stat()
            h.update(f"{name}.{ext}:{st.st_size}:{int(st.st_mtime)}".encode())
    cached = cache_dir() / f"wfdb-beats-{h.hexdigest()[:16]}.parq"
    if cached.exists():
        beats = read_beats(cached, "mitbih")
        beats.report.source = f"{folder} (WFDB records, beats cached in {cached})"
        return beats
    print(f"building {window} beats from {len(names)} WFDB records in {folder} (once; cached afterwards) ...",
          file=sys.stderr)
    beats, _ = build_beats(folder, names, progress=progress, window=window)
    # One temporary file per process: two workers that build the same cache at once (heartbeat ablate
    # --jobs 2 on a cold cache) each rename their own whole file, and the second rename simply wins.
    tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp")
    write_beats(beats, tmp)
    tmp.replace(cached)  # atomic: parallel trials never read a half-written cache
    return beats


def valid_split(dataset: Dataset, valid_size: float = 0.2, seed: int = 0,
                fold: tuple[int, int] | None = None) -> tuple[BeatSet, BeatSet]:
    """Carve (train, valid) from the training side: stratified by beat, or by record for an inter split.

    The test side is left alone: it is for the final evaluation only, never for a search. Under
    ``ds1ds2`` the validation records are carved from DS1 by record, as an ``inter`` split.
    ``fold=(i, k)`` takes instead the i-th of the k patient-grouped folds of the training side
    (:func:`heartbeat.data.splits.grouped_folds`, shuffled with ``seed``); an ``inter`` or
    ``ds1ds2`` split only, as a beat-stratified split has no patients to group.
    """
    how = "inter" if dataset.split == "ds1ds2" else dataset.split
    if fold is None:
        return split(dataset.train, how, valid_size, seed, nested=False)
    i, k = fold
    if how != "inter":
        raise ConfigError(f"patient-grouped folds need an inter or ds1ds2 split; this dataset's is {dataset.split!r}")
    if not 0 <= i < k:
        raise ConfigError(f"fold {i} of {k} does not exist: folds are numbered 0 to {k - 1}")
    train, valid = grouped_folds(dataset.train, k, seed)[i]
    return dataset.train.subset(train), dataset.train.subset(valid)


def describe(beats: BeatSet) -> str:
    counts = beats.class_counts()
    total = max(len(beats), 1)
    return ", ".join(f"{c} {n} ({n / total:.1%})" for c, n in counts.items())
