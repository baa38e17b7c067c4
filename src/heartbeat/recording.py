"""From a raw ECG recording to labelled beats: read a lead, check it, find its R peaks, classify.

A clinic has a recording, not beats already cut out. This module reads one lead of a WFDB
record, a CSV or an NPY file, checks it (sampling rate, NaN runs, length, flat or saturated
signal), finds the R peaks with wfdb's XQRS detector, and hands signal and peaks to
:func:`heartbeat.data.wfdb_beats.beats_from_signal`, the same function that builds the
training beats from annotated peaks, so the model sees exactly what it saw in training.

Why XQRS: on the 43 shared MIT-BIH records (``python bench/detectors.py``,
``results/bench/detectors.csv``) it missed and added the fewest beats of the three detectors
compared (wfdb's XQRS, sleepecg, neurokit2), and its peaks sit on the annotated R peaks
(median offset 0 ms). sleepecg is ~100 times faster, but XQRS still runs over 1,000 times
faster than real time on one core (a 24-hour Holter in about 75 s), and a missed beat costs
more than a second of waiting. Moving peaks to the largest nearby deflection made all three
worse, so the detector's peaks are used as they are.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.data.beatset import BeatSet, DataError
from heartbeat.data.rhythm import RHYTHM_NAMES

MIN_FS, MAX_FS = 50.0, 10_000.0
MIN_SECONDS = 5.0           # a few beats: the rhythm and the 10 s scaling windows need them
MIN_BEATS = 3
FLAT_FRACTION = 0.5         # more than half the samples on one value: a flat signal
CLIPPED_FRACTION = 0.1      # more than a tenth at the signal's minimum or maximum: saturated
TOLERANCE_S = 0.15          # detected and annotated beats match within 150 ms
REFINE_S = 0.05             # a detected peak moves to the largest deflection within 50 ms
CHUNK_S = 1800.0            # longer recordings are detected 30 min at a time, with progress
OVERLAP_S = 5.0


@dataclass
class Recording:
    """One lead of a recording: ``signal`` (n,) float64 at ``fs`` Hz, and what was done to it."""

    signal: np.ndarray
    fs: float
    lead: str
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.signal) / self.fs


def read_recording(path: str | Path, fs: float | None = None, lead: str | None = None) -> Recording:
    """Read one lead: a WFDB record (``NAME`` or ``NAME.hea``), a CSV (a column per lead, a header
    optional) or an NPY file ((n,) or (n, leads)). ``fs`` is required for CSV and NPY files, and
    must agree with a WFDB header. ``lead`` defaults to MLII, else the first lead (with a note)."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".hea", ".dat", ".atr") else path
    if base.with_suffix(".hea").exists():
        signals, names, file_fs = _read_wfdb(base)
        if fs is not None and abs(fs - file_fs) > 1e-6:
            raise DataError(f"{path}: --fs {fs} disagrees with the record's header ({file_fs} Hz); leave --fs out")
        fs = file_fs
        where = str(base)
    elif not path.exists():
        raise DataError(f"{path}: no such file, and no WFDB record {base.with_suffix('.hea').name}")
    elif path.suffix.lower() in (".csv", ".npy"):
        signals, names = _read_csv(path) if path.suffix.lower() == ".csv" else _read_npy(path)
        where = str(path)
    else:
        raise DataError(f"{path}: unsupported recording {path.suffix!r}; expected a WFDB record (.hea), "
                        ".csv or .npy")
    if fs is None:
        raise DataError(f"{where}: no sampling rate: give --fs HZ (a CSV or NPY file does not say it)")
    if not MIN_FS <= fs <= MAX_FS:
        raise DataError(f"{where}: sampling rate {fs} Hz is out of range; expected {MIN_FS:g}..{MAX_FS:g} Hz")
    notes = []
    if lead is None:
        lead = "MLII" if "MLII" in names else names[0]
        if lead != "MLII":
            notes.append(f"no MLII lead (leads {names}): used {lead}")
    elif lead not in names:
        raise DataError(f"{where}: no lead {lead!r}; the recording has {names}")
    signal = np.asarray(signals[:, names.index(lead)], dtype=np.float64)
    return check_signal(Recording(signal, float(fs), lead, where, notes))


def check_signal(rec: Recording) -> Recording:
    """Impute NaN runs (linear, counted in the notes); refuse a record too short, flat or saturated."""
    x = rec.signal
    bad = ~np.isfinite(x)
    if bad.all():
        raise DataError(f"{rec.source}: lead {rec.lead} has no finite sample")
    if bad.any():
        t = np.arange(len(x))
        x = x.copy()
        x[bad] = np.interp(t[bad], t[~bad], x[~bad])
        runs = int(np.sum(np.diff(np.concatenate([[0], bad.astype(np.int8), [0]])) == 1))
        rec.notes.append(f"{int(bad.sum())} non-finite samples in {runs} runs imputed by linear interpolation")
        rec.signal = x
    if rec.seconds < MIN_SECONDS:
        raise DataError(f"{rec.source}: {rec.seconds:.1f} s of signal is shorter than a few beats; "
                        f"expected at least {MIN_SECONDS:g} s")
    values, counts = np.unique(np.round(x, 6), return_counts=True)
    top = counts.max() / len(x)
    if np.ptp(x) == 0 or top > FLAT_FRACTION:
        raise DataError(f"{rec.source}: lead {rec.lead} is flat: {top:.0%} of its samples have the value "
                        f"{values[counts.argmax()]:g}; expected an ECG")
    clipped = float(np.mean((x <= x.min()) | (x >= x.max())))
    if clipped > CLIPPED_FRACTION:
        raise DataError(f"{rec.source}: lead {rec.lead} is saturated: {clipped:.0%} of its samples sit at its "
                        f"minimum {x.min():g} or maximum {x.max():g}; expected an ECG within the recorder's range")
    return rec


def _read_wfdb(base: Path) -> tuple[np.ndarray, list[str], float]:
    import wfdb

    try:
        rec = wfdb.rdrecord(str(base))
    except Exception as exc:  # wfdb raises several types for broken headers or missing .dat files
        raise DataError(f"{base}: not a readable WFDB record ({exc})") from exc
    return rec.p_signal, list(rec.sig_name), float(rec.fs)


def _read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    df = pd.read_csv(path, header=None)
    if df.shape[0] and not all(pd.api.types.is_number(v) or _is_float(v) for v in df.iloc[0]):
        df = pd.read_csv(path)  # a header row names the leads
        names = [str(c) for c in df.columns]
    else:
        names = [f"lead{i}" for i in range(df.shape[1])]
    values = df.apply(pd.to_numeric, errors="coerce")
    bad = values.isna().to_numpy() & ~df.isna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{path}: row {row + 1}, column {names[col]!r}: non-numeric value {df.iat[row, col]!r}; "
                        "expected a number")
    return values.to_numpy(dtype=np.float64), names


def _read_npy(path: Path) -> tuple[np.ndarray, list[str]]:
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{path}: not a numeric .npy array ({exc})") from exc
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{path}: array of shape {x.shape} and dtype {x.dtype}; expected numbers (samples,) or "
                        "(samples, leads)")
    return x.astype(np.float64), [f"lead{i}" for i in range(x.shape[1])]


def _is_float(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def detect_peaks(signal: np.ndarray, fs: float, progress: bool = False) -> np.ndarray:
    """R-peak sample indices (sorted, unique) found by wfdb's XQRS detector.

    A recording longer than :data:`CHUNK_S` is detected in chunks of that length (each seeing
    :data:`OVERLAP_S` of its neighbours, a peak kept by the chunk it falls in), with progress
    shown; a peak found twice across a boundary (within 0.2 s) is kept once."""
    from wfdb.processing import xqrs_detect

    x = np.asarray(signal, dtype=np.float64)
    step, pad = int(CHUNK_S * fs), int(OVERLAP_S * fs)
    if len(x) <= step + pad:
        return np.unique(np.asarray(xqrs_detect(x, fs, verbose=False), dtype=np.int64))
    parts = []
    for start in range(0, len(x), step):
        lo, hi = max(0, start - pad), min(len(x), start + step + pad)
        found = np.asarray(xqrs_detect(x[lo:hi], fs, verbose=False), dtype=np.int64) + lo
        parts.append(found[(found >= start) & (found < start + step)])
        if progress:
            print(f"\r  R peaks: {min(start + step, len(x)) / fs / 60:.0f}/{len(x) / fs / 60:.0f} min", end="",
                  file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    peaks = np.unique(np.concatenate(parts))
    keep = np.concatenate([[True], np.diff(peaks) >= 0.2 * fs])
    return peaks[keep]


def refine_peaks(signal: np.ndarray, fs: float, peaks: np.ndarray) -> np.ndarray:
    """Each peak moved to the largest deflection from the local median within 50 ms (compared in
    bench/detectors.py; not used, since it moved peaks off the annotated R peaks)."""
    half = max(1, int(round(REFINE_S * fs)))
    out = np.empty_like(peaks)
    for i, p in enumerate(peaks):
        lo, hi = max(p - half, 0), min(p + half + 1, len(signal))
        seg = signal[lo:hi]
        out[i] = lo + int(np.argmax(np.abs(seg - np.median(seg))))
    return np.unique(out)


def recording_beats(rec: Recording, window: str, peaks: np.ndarray | None = None, progress: bool = False) -> BeatSet:
    """The beats of a recording, cut by ``window`` with their rhythm, at detected (or given) R peaks.

    Labels are unknown (-1 is not a class, so ``y`` is all 0 here and ignored downstream)."""
    from heartbeat.data.wfdb_beats import beats_from_signal

    peaks = detect_peaks(rec.signal, rec.fs, progress) if peaks is None else np.asarray(peaks, dtype=np.int64)
    if len(peaks) < MIN_BEATS:
        raise DataError(f"{rec.source}: {len(peaks)} beats found in {rec.seconds:.1f} s of lead {rec.lead}; "
                        f"expected at least {MIN_BEATS} (is it an ECG, at {rec.fs:g} Hz?)")
    X, rhythm, keep = beats_from_signal(rec.signal, rec.fs, peaks, window)
    return BeatSet(X=X[keep], y=np.zeros(int(keep.sum()), dtype=np.int64), task="mitbih",
                   record=np.full(int(keep.sum()), Path(rec.source).name), rhythm=rhythm[keep],
                   rhythm_names=RHYTHM_NAMES, sample=peaks[keep], time=peaks[keep] / rec.fs, window=window)


def longest_runs(abnormal: np.ndarray, times: np.ndarray, top: int = 5) -> list[dict]:
    """The ``top`` longest runs of consecutive abnormal beats: start and end time (s) and length."""
    edges = np.diff(np.concatenate([[0], abnormal.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # run = beats [start, end)
    order = np.argsort(-(ends - starts), kind="stable")[:top]
    return [{"beats": int(ends[i] - starts[i]), "start_s": float(times[starts[i]]),
             "end_s": float(times[ends[i] - 1])} for i in order]


def summarise(table: pd.DataFrame, classes: tuple[str, ...], rec: Recording) -> dict:
    """Beats per class, the abnormal burden (% of beats not N) and the longest abnormal runs."""
    counts = table["class"].value_counts()
    return {
        "source": rec.source, "lead": rec.lead, "fs": rec.fs, "seconds": rec.seconds, "beats": len(table),
        "per_class": {c: int(counts.get(c, 0)) for c in classes},
        "abnormal_burden_percent": float(100 * table["abnormal"].mean()) if len(table) else 0.0,
        "longest_abnormal_runs": longest_runs(table["abnormal"].to_numpy(), table["time_s"].to_numpy()),
        "notes": rec.notes,
    }


def classify(model, rec: Recording, peaks: np.ndarray | None = None, batch_size: int = 4096,
             progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """Per-beat table (time_s, sample, class, p_<class>..., abnormal) and the record's summary."""
    beats = recording_beats(rec, model.inputs.window, peaks, progress)
    X, rhythm = model.inputs.arrays(beats, f"model {model.tag}")
    parts = []
    for i in range(0, len(X), batch_size):
        parts.append(model.predict_proba(X[i:i + batch_size], rhythm=None if rhythm is None else rhythm[i:i + batch_size]))
        if progress:
            print(f"\r  {rec.source}: classified {min(i + batch_size, len(X))}/{len(X)} beats", end="",
                  file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    P = np.concatenate(parts)
    pred = P.argmax(1)
    table = pd.DataFrame({"time_s": beats.time, "sample": beats.sample,
                          "class": np.asarray(model.classes)[pred]})
    for j, c in enumerate(model.classes):
        table[f"p_{c}"] = P[:, j]
    table["abnormal"] = pred != 0
    return table, summarise(table, model.classes, rec)


def match_beats(reference: np.ndarray, detected: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i_ref, i_det) of reference and detected beats within 150 ms (wfdb's comparitor)."""
    from wfdb.processing import compare_annotations

    cmp = compare_annotations(np.asarray(reference), np.asarray(detected), int(round(TOLERANCE_S * fs)))
    ref_idx = np.flatnonzero(cmp.matching_sample_nums >= 0)
    return ref_idx, cmp.matching_sample_nums[ref_idx].astype(np.int64)


CLASS_COLOURS = {"N": "#4d4d4d", "S": "#1f77b4", "V": "#d62728", "F": "#ff7f0e", "Q": "#9467bd"}


def draw_strip(rec: Recording, table: pd.DataFrame, path: str | Path, seconds: float = 10.0) -> Path:
    """The ECG as a person reads it: 10 s strips, each beat marked and shaded in its class's colour.

    Strips: the first 20 s, then the 10 s around each of the two longest abnormal runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    starts = [0.0, seconds]
    runs = longest_runs(table["abnormal"].to_numpy(), table["time_s"].to_numpy(), top=2)
    starts += [max(0.0, r["start_s"] - 2.0) for r in runs if r["beats"] > 0]
    starts = [s for s in dict.fromkeys(round(s, 1) for s in starts) if s < rec.seconds]
    fig, axes = plt.subplots(len(starts), 1, figsize=(12, 2.2 * len(starts)), squeeze=False)
    t = np.arange(len(rec.signal)) / rec.fs
    for ax, start in zip(axes[:, 0], starts):
        at = (t >= start) & (t < start + seconds)
        ax.plot(t[at], rec.signal[at], color="black", linewidth=0.7)
        beats = table[(table.time_s >= start) & (table.time_s < start + seconds)]
        top = rec.signal[at].max() if at.any() else 1.0
        for row in beats.itertuples():
            colour = CLASS_COLOURS.get(row[3], "black")
            if row.abnormal:
                ax.axvspan(row.time_s - 0.25, row.time_s + 0.4, color=colour, alpha=0.18, linewidth=0)
            ax.text(row.time_s, top, row[3], color=colour, ha="center", va="bottom", fontsize=9, fontweight="bold")
        ax.set_xlim(start, start + seconds)
        ax.set_ylabel(rec.lead)
        ax.margins(y=0.25)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    counts = table["class"].value_counts()
    fig.suptitle(f"{Path(rec.source).name}: {len(table)} beats, "
                 + ", ".join(f"{c} {int(counts.get(c, 0))}" for c in CLASS_COLOURS)
                 + f"; abnormal burden {100 * table['abnormal'].mean():.1f}%", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def write_prediction(out: str | Path, rec: Recording, table: pd.DataFrame, summary: dict, plot: bool = True) -> Path:
    """``out/beats.csv``, ``out/summary.json`` and ``out/strip.png``, all or nothing (written aside, then moved)."""
    import json
    import shutil
    import tempfile

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        table.to_csv(tmp / "beats.csv", index=False, float_format="%.5f")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if plot:
            draw_strip(rec, table, tmp / "strip.png")
        if out.exists():
            shutil.rmtree(out)
        tmp.replace(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
