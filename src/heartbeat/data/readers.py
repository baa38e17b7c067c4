"""Readers for the heartbeat files in circulation, all returning a validated :class:`BeatSet`.

* the course's parquet files (``heart_big_train.parq`` / ``heart_big_test.parq`` for
  MIT-BIH, ``heart_train.parq`` / ``heart_test.parq`` for PTB): 187 signal columns
  named ``"0"``..``"186"``, a ``target`` column, optionally a ``record`` column;
* Kaggle's CSV files (``mitbih_train.csv``, ``mitbih_test.csv``, ``ptbdb_normal.csv``,
  ``ptbdb_abnormal.csv``): no header, 187 signal values, the label in the last column
  (for the PTB files the label is also implied by the file name and must agree).

Every error names the file, the row (1-based data row; for the header-less CSV files
that is also the line number) and the column, and says what was expected. Non-finite
signal values are imputed by linear interpolation along time and counted in the load
report; a row with no finite signal value is dropped and reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from heartbeat.data.beatset import BEAT_LEN, CLASSES, WINDOWS, BeatSet, DataError, LoadReport
from heartbeat.data.context import CONTEXT_NAMES
from heartbeat.data.rhythm import RHYTHM_NAMES

SIGNAL_COLUMNS = [str(i) for i in range(BEAT_LEN)]
#: where beats were built from records: the R peak's sample index and time (s), and the rhythm
POSITION_COLUMNS = ["sample", "time"]
OPTIONAL_COLUMNS = ["record", *POSITION_COLUMNS, *RHYTHM_NAMES, *CONTEXT_NAMES]
WINDOW_KEY = b"heartbeat.window"  # parquet schema metadata: how the beats were cut

#: file name -> task, for the names in circulation.
KNOWN_FILES = {
    "heart_big_train.parq": "mitbih",
    "heart_big_test.parq": "mitbih",
    "heart_train.parq": "ptb",
    "heart_test.parq": "ptb",
    "mitbih_train.csv": "mitbih",
    "mitbih_test.csv": "mitbih",
    "ptbdb_normal.csv": "ptb",
    "ptbdb_abnormal.csv": "ptb",
}
#: PTB CSV files whose label is implied by the name.
IMPLIED_LABEL = {"ptbdb_normal.csv": 0, "ptbdb_abnormal.csv": 1}


def read_beats(path: str | Path, task: str | None = None) -> BeatSet:
    """Read any supported beat file (``.parq``/``.parquet`` or ``.csv``) into a BeatSet."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a .parq/.parquet or .csv beat file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes); expected beats with {BEAT_LEN} signal values and a label")
    suffix = path.suffix.lower()
    extra: dict = {}
    window = "kachuee"
    if suffix in (".parq", ".parquet"):
        signals, labels, extra, window = _parquet_table(path)
    elif suffix == ".csv":
        signals, labels = _csv_table(path)
    else:
        raise DataError(f"{path}: unsupported file type {suffix!r}; expected .parq, .parquet or .csv")
    task = task or _infer_task(path, labels)
    y = _check_labels(path, labels, task)
    X, report = impute(signals, source=str(path))
    keep = np.setdiff1d(np.arange(len(y)), report.rows_dropped)
    return BeatSet(X=X, y=y, task=task, report=report, window=window, **extra).subset(keep)


def _parquet_table(path: Path) -> tuple[pd.DataFrame, pd.Series, dict, str]:
    """(signals, labels, BeatSet keywords for the optional columns, beat window) of a parquet file."""
    try:
        df = pd.read_parquet(path)
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc
    if len(df) == 0:
        raise DataError(f"{path}: empty file (no rows); expected beats with {BEAT_LEN} signal values and a label")
    df.columns = [str(c) for c in df.columns]
    missing = [c for c in SIGNAL_COLUMNS + ["target"] if c not in df.columns]
    extra = [c for c in df.columns if c not in SIGNAL_COLUMNS + ["target"] + OPTIONAL_COLUMNS]
    if missing or extra:
        raise DataError(
            f"{path}: wrong columns ({len(df.columns)} found): expected signal columns "
            f"'0'..'{BEAT_LEN - 1}', 'target' and optionally 'record', 'sample', 'time', the rhythm "
            f"columns {', '.join(RHYTHM_NAMES)} and the context columns {', '.join(CONTEXT_NAMES)}"
            + (f"; missing {_short(missing)}" if missing else "")
            + (f"; unexpected {_short(extra)}" if extra else "")
        )
    rhythm = [c for c in RHYTHM_NAMES if c in df.columns]
    if rhythm and len(rhythm) != len(RHYTHM_NAMES):
        raise DataError(f"{path}: rhythm columns {rhythm} without "
                        f"{_short([c for c in RHYTHM_NAMES if c not in rhythm])}; expected all of them or none")
    context = [c for c in CONTEXT_NAMES if c in df.columns]
    if context and (len(context) != len(CONTEXT_NAMES) or not rhythm):
        raise DataError(f"{path}: context columns {_short(context)} without "
                        f"{_short([c for c in (*RHYTHM_NAMES, *CONTEXT_NAMES) if c not in df.columns])}; "
                        "expected all of the context columns, with the rhythm columns, or none")
    window = meta.get(WINDOW_KEY, b"kachuee").decode()
    if window not in WINDOWS:
        raise DataError(f"{path}: unknown beat window {window!r} in its metadata; expected one of {WINDOWS}")
    signals = _numeric(path, df[SIGNAL_COLUMNS])
    labels = _numeric(path, df[["target"]])["target"]
    keywords: dict = {}
    if "record" in df.columns:
        keywords["record"] = df["record"].astype(str).to_numpy()
    for col in POSITION_COLUMNS:
        if col in df.columns:
            keywords[col] = _finite(path, df, [col])[:, 0]
    if rhythm:
        names = RHYTHM_NAMES + (CONTEXT_NAMES if context else ())
        keywords["rhythm"] = _finite(path, df, list(names))
        keywords["rhythm_names"] = names
    return signals, labels, keywords, window


def _finite(path: Path, df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Numeric columns that must all be finite (no imputation: a rhythm value is not a sample)."""
    values = _numeric(path, df[columns]).to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{path}: row {row + 1}, column {columns[col]!r}: {values[row, col]}; expected a finite "
                        "number")
    return values


def _csv_table(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    try:
        df = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: empty file (no rows); expected {BEAT_LEN + 1} comma-separated values per line") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: wrong column count: {exc}; expected {BEAT_LEN + 1} values per line "
                        f"({BEAT_LEN} signal values and the label)") from exc
    if df.shape[1] != BEAT_LEN + 1:
        raise DataError(f"{path}: wrong column count: {df.shape[1]} columns; expected {BEAT_LEN + 1} "
                        f"({BEAT_LEN} signal values and the label in the last column)")
    blank = df.apply(lambda col: col.str.strip() == "")
    if blank.to_numpy().any():  # a short line is padded by pandas with empty cells
        row, col = np.argwhere(blank.to_numpy())[0]
        raise DataError(f"{path}: row {row + 1}, column {col + 1}: empty cell; expected {BEAT_LEN + 1} "
                        "values per line")
    df.columns = SIGNAL_COLUMNS + ["target"]
    df = _numeric(path, df, one_based_columns=True)
    labels = df.pop("target")
    implied = IMPLIED_LABEL.get(path.name)
    if implied is not None:
        wrong = np.flatnonzero(labels.to_numpy() != implied)
        if len(wrong):
            raise DataError(f"{path}: row {wrong[0] + 1}, column {BEAT_LEN + 1} (label): "
                            f"{labels.iloc[wrong[0]]} but the file name implies label {implied}")
    return df, labels


def _numeric(path: Path, df: pd.DataFrame, one_based_columns: bool = False) -> pd.DataFrame:
    """Convert every column to float; the first non-numeric cell is a DataError naming row and column."""
    out = df.apply(pd.to_numeric, errors="coerce")
    bad = out.isna().to_numpy() & ~_is_missing(df)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        name = f"{col + 1}" if one_based_columns else repr(df.columns[col])
        raise DataError(f"{path}: row {row + 1}, column {name}: non-numeric value "
                        f"{df.iat[row, col]!r}; expected a number")
    return out.astype(np.float64)


def _is_missing(df: pd.DataFrame) -> np.ndarray:
    """Cells that are legitimately missing (NaN / 'nan' / 'inf' spellings become non-finite floats)."""
    if all(pd.api.types.is_numeric_dtype(t) for t in df.dtypes):
        return df.isna().to_numpy()
    low = df.astype(str).apply(lambda c: c.str.strip().str.lower())
    return df.isna().to_numpy() | low.isin(["nan", "na", "null", "none", ""]).to_numpy()


def _infer_task(path: Path, labels: pd.Series) -> str:
    if path.name in KNOWN_FILES:
        return KNOWN_FILES[path.name]
    finite = labels[np.isfinite(labels)]
    return "mitbih" if len(finite) and finite.max() > 1 else "ptb"


def _check_labels(path: Path, labels: pd.Series, task: str) -> np.ndarray:
    values = labels.to_numpy(dtype=np.float64)
    classes = CLASSES[task]
    ok = np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < len(classes))
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise DataError(
            f"{path}: row {row + 1}, column 'target': label {float(values[row])!r} is not a class of task "
            f"{task!r}; expected an integer 0..{len(classes) - 1} ({' '.join(classes)})"
        )
    return values.astype(np.int64)


def impute(signals: pd.DataFrame | np.ndarray, source: str) -> tuple[np.ndarray, LoadReport]:
    """Fill non-finite samples by linear interpolation along time (edges take the nearest value).

    Returns the float32 array (rows with no finite value left as zeros) and a report whose
    ``rows_dropped`` lists those rows so that the caller removes them.
    """
    X = np.asarray(signals, dtype=np.float64).copy()
    bad = ~np.isfinite(X)
    report = LoadReport(source=source, rows_read=len(X))
    rows = np.flatnonzero(bad.any(axis=1))
    t = np.arange(X.shape[1])
    for r in rows:  # only the few damaged rows are visited
        good = ~bad[r]
        if not good.any():
            report.rows_dropped.append(int(r))
            X[r] = 0.0
            continue
        X[r, bad[r]] = np.interp(t[bad[r]], t[good], X[r, good])
        report.values_imputed += int(bad[r].sum())
        report.rows_imputed += 1
    return X.astype(np.float32), report


def write_beats(beats: BeatSet, path: str | Path) -> Path:
    """Write beats in the course parquet format (``"0"``..``"186"``, ``target``), plus what the beats
    carry: ``record``, ``sample``, ``time`` and the rhythm columns, and the window in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(beats.X, columns=SIGNAL_COLUMNS)
    df["target"] = beats.y.astype(np.float64)  # the course files store the label as a float
    for col in ("record", *POSITION_COLUMNS):
        if getattr(beats, col) is not None:
            df[col] = getattr(beats, col)
    if beats.rhythm is not None:
        df[list(beats.rhythm_names)] = beats.rhythm
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), WINDOW_KEY: beats.window.encode()})
    pq.write_table(table, path)
    return path


def _short(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
