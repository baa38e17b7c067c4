"""From a raw ECG recording to labelled beats: read a lead, check it, find its R peaks, classify.

A clinic has a recording, not beats already cut out. This module reads one lead of a WFDB
record, a CSV or an NPY file, checks it (sampling rate, NaN runs, length, flat or saturated
signal), finds the R peaks with the project's detector (:mod:`heartbeat.inference.detect`), and hands signal and peaks to
:func:`heartbeat.data.wfdb_beats.beats_from_signal`, the same function that builds the
training beats from annotated peaks, so the model sees exactly what it saw in training.

Why :mod:`heartbeat.inference.detect`: on the 47 shared MIT-BIH records (``python bench/detectors.py``,
``results/bench/detectors.csv``, matched as ``heartbeat ec57`` matches) it misses and adds fewer beats
than wfdb's XQRS, sleepecg and neurokit2 (gross Se 0.9989 and +P 0.9988), DS2 included, whose
patients its weights never saw; and it runs about 30 times faster than XQRS (a 24-hour Holter's
peaks in a few seconds on one core). A long recording is detected 10 minutes at a time, so memory
stays bounded however long it is.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from heartbeat.data.beatset import BeatSet, DataError
from heartbeat.data.context import ALL_RHYTHM_NAMES
from heartbeat.data.wfdb_beats import beats_from_signal
from heartbeat.inference.detect import REFRACTORY_S, detect, fiducial
from heartbeat.inference.operating import abnormal

MIN_FS, MAX_FS = 50.0, 10_000.0
MIN_SECONDS = 5.0           # a few beats: the rhythm and the 10 s scaling windows need them
MIN_BEATS = 3
FLAT_FRACTION = 0.5         # more than half the samples on one value: a flat signal
CLIPPED_FRACTION = 0.1      # more than a tenth at the signal's minimum or maximum: saturated
TOLERANCE_S = 0.15          # detected and annotated beats match within 150 ms
CHUNK_S = 600.0             # longer recordings are detected 10 min at a time (bounded memory)
OVERLAP_S = 60.0            # each chunk sees this much of its neighbours: heartbeat.inference.detect.CONTEXT_S
#: the rates recorders use: a refused rate names the one of these the beats fit best
COMMON_FS = (125, 128, 250, 256, 360, 500, 1000)
#: a heart rate (median RR of the detected beats) outside this is no heart, so the rate is wrong
HEART_RATE_BPM = (20.0, 300.0)
#: the R wave's width at a quarter of its height (about half the QRS duration): 22..75 ms on the 47
#: MIT-BIH records at 360 Hz (first minute, MLII), paced and ventricular beats included; no beat is
#: narrower than 18 ms (a QRS under ~40 ms) or wider than 200 ms, so outside this the rate is wrong
R_WIDTH_MS = (18.0, 200.0)
#: where the beats of an ECG sit (log scale, the 47 MIT-BIH records): heart rate 77 bpm (sd 0.21),
#: R width 40 ms (sd 0.30); the likely rate is the common rate that puts the beats nearest to it
TYPICAL_LOG_BPM, SD_LOG_BPM = 4.34, 0.21
TYPICAL_LOG_WIDTH_MS, SD_LOG_WIDTH = 3.68, 0.30
LIKELY_S = 60.0             # the likely rate is judged on the first minute
#: the leads an unnamed column (NPY, CSV without a header, a served segment) may be named as
STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "MLI", "MLII", "MLIII")


@dataclass
class Recording:
    """One lead of a recording: ``signal`` (n,) float64 at ``fs`` Hz, and what was done to it."""

    signal: np.ndarray
    fs: float
    lead: str
    source: str
    notes: list[str] = field(default_factory=list)
    units: str = "mV"  # the signal is always in mV once read (a WFDB header's units and CSV/NPY units converted)

    @property
    def seconds(self) -> float:
        return len(self.signal) / self.fs

    @property
    def name(self) -> str:
        """The record's name: a WFDB record's, or a file's stem (``rec100.csv`` -> ``rec100``)."""
        return Path(self.source).stem if Path(self.source).suffix.lower() in (".csv", ".npy") else Path(self.source).name


#: physical units to mV: a WFDB header's (after its gains, as wfdb's p_signal gives them) or a file's --units
TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}
FILE_UNITS = ("mV", "uV", "V", "adc")


def read_recording(path: str | Path, fs: float | None = None, lead: str | None = None, units: str | None = None,
                   gain: float | None = None, baseline: float = 0.0) -> Recording:
    """Read one lead, in mV: a WFDB record (``NAME`` or ``NAME.hea``), a CSV (a column per lead, a header
    optional) or an NPY file ((n,) or (n, leads)). ``fs`` is required for CSV and NPY files, and
    must agree with a WFDB header. ``lead`` defaults to MLII, else the first lead (with a note).

    A WFDB header's gains and baselines give physical values (wfdb's ``p_signal``), and its units
    (mV, uV, V) are converted to mV. A CSV or NPY file is in mV unless ``units`` says ``uV``, ``V``
    or ``adc``: raw ADC counts, converted as ``(count - baseline) / gain`` with ``gain`` in counts per
    mV (a WFDB header's ``gain`` and ``baseline`` mean the same)."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".hea", ".dat", ".atr") else path
    if units is not None and units not in FILE_UNITS:
        raise DataError(f"units {units!r}: expected one of {', '.join(FILE_UNITS)}")
    if base.with_suffix(".hea").exists():
        if units is not None or gain is not None:
            raise DataError(f"{base}: a WFDB header gives the units and gains itself; leave --units and --gain out")
        signals, names, file_fs, units_of = _read_wfdb(base)
        if fs is not None and abs(fs - file_fs) > 1e-6:
            raise DataError(f"{path}: --fs {fs} disagrees with the record's header ({file_fs} Hz); leave --fs out")
        fs = file_fs
        where = str(base)
    elif not path.exists():
        raise DataError(f"{path}: no such file, and no WFDB record {base.with_suffix('.hea').name}")
    elif path.suffix.lower() in (".csv", ".npy"):
        signals, names = _read_csv(path) if path.suffix.lower() == ".csv" else _read_npy(path)
        where = str(path)
        if units == "adc":
            if gain is None or not gain > 0:
                raise DataError(f"{where}: ADC counts need --gain (counts per mV, > 0; a WFDB header's gain, e.g. "
                                "200 for MIT-BIH) and, where zero is not 0 counts, --baseline")
            signals = (np.asarray(signals, dtype=np.float64) - baseline) / gain
            units = "mV"
        elif gain is not None:
            raise DataError(f"{where}: --gain is for --units adc; this file is in {units or 'mV'}")
        units_of = [units or "mV"] * len(names)
    else:
        raise DataError(f"{path}: unsupported recording {path.suffix!r}; expected a WFDB record (.hea), "
                        ".csv or .npy")
    if fs is None:
        raise DataError(f"{where}: no sampling rate: give --fs HZ (a CSV or NPY file does not say it)")
    if not MIN_FS <= fs <= MAX_FS:
        raise DataError(f"{where}: sampling rate {fs} Hz is out of range; expected {MIN_FS:g}..{MAX_FS:g} Hz")
    column, lead, notes = pick_lead(names, lead, where, named=names != [f"lead{i}" for i in range(len(names))])
    signal = np.asarray(signals[:, column], dtype=np.float64)
    unit = units_of[column] or "mV"
    if unit.lower() not in TO_MV:
        raise DataError(f"{where}: lead {lead} is in {unit!r}; expected mV, uV or V (a header's units)")
    if TO_MV[unit.lower()] != 1.0:
        signal = signal * TO_MV[unit.lower()]
        notes.append(f"converted from {unit} to mV")
    return check_signal(Recording(signal, float(fs), lead, where, notes, units="mV"))


def pick_lead(names: list[str], lead: str | None, where: str, named: bool = True) -> tuple[int, str, list[str]]:
    """The column to read, the lead's name and a note: the one lead check of ``heartbeat predict`` and
    ``/predict/record``.

    ``names`` are the recording's leads (a WFDB header's, a CSV header's), or ``lead0``, ``lead1``, ...
    where the columns are unnamed (``named=False``: NPY, CSV without a header, a served segment).
    No ``lead``: MLII, else the first lead, with a note. A named recording's lead must be one of its
    names; a single unnamed column may also be named as one of :data:`STANDARD_LEADS` (say what it is);
    anything else is refused with the leads it could be."""
    if lead is None:
        if "MLII" in names:
            return names.index("MLII"), "MLII", []
        return 0, names[0], [f"no MLII lead (leads {names}): used {names[0]}"]
    if lead in names:
        return names.index(lead), lead, []
    standard = {s.lower(): s for s in STANDARD_LEADS}
    if not named and len(names) == 1 and lead.lower() in standard:
        return 0, standard[lead.lower()], []
    also = f", or for its single unnamed lead one of {', '.join(STANDARD_LEADS)}" if not named and len(names) == 1 else ""
    raise DataError(f"{where}: no lead {lead!r}; the recording has {names}{also}")


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


def _read_wfdb(base: Path) -> tuple[np.ndarray, list[str], float, list[str]]:
    import wfdb  # wfdb: only where records are read or fetched

    try:
        rec = wfdb.rdrecord(str(base))
    except Exception as exc:  # wfdb raises several types for broken headers or missing .dat files
        raise DataError(f"{base}: not a readable WFDB record ({exc})") from exc
    return rec.p_signal, list(rec.sig_name), float(rec.fs), list(rec.units)


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
    """R-peak sample indices (sorted, unique) found by :func:`heartbeat.inference.detect.detect`, each moved to the R
    (or QS) apex by :func:`heartbeat.inference.detect.fiducial`, where the annotated peaks the models learnt at lie.

    A recording longer than :data:`CHUNK_S` is detected in chunks of that length, each seeing
    :data:`OVERLAP_S` of its neighbours (more than the detector's reach, :data:`heartbeat.inference.detect.CONTEXT_S`,
    so a peak near an edge is decided as in one piece), a peak kept by the chunk it falls in, with
    progress shown past 30 minutes; a peak found twice across a boundary (within the refractory
    period) is kept once."""
    x = np.asarray(signal, dtype=np.float64)
    step, pad = int(CHUNK_S * fs), int(OVERLAP_S * fs)
    if len(x) <= step + pad:
        return fiducial(x, np.unique(detect(x, fs)), fs)
    progress = progress and len(x) > 1800 * fs
    parts = []
    for start in range(0, len(x), step):
        lo, hi = max(0, start - pad), min(len(x), start + step + pad)
        found = detect(x[lo:hi], fs, start=lo) + lo
        parts.append(found[(found >= start) & (found < start + step)])
        if progress:
            print(f"\r  R peaks: {min(start + step, len(x)) / fs / 60:.0f}/{len(x) / fs / 60:.0f} min", end="",
                  file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    peaks = np.unique(np.concatenate(parts))
    keep = np.concatenate([[True], np.diff(peaks) >= REFRACTORY_S * fs])
    return fiducial(x, peaks[keep], fs)


def recording_beats(rec: Recording, window: str, peaks: np.ndarray | None = None, progress: bool = False) -> BeatSet:
    """The beats of a recording, cut by ``window`` with their rhythm, at detected (or given) R peaks.

    Labels are unknown (-1 is not a class, so ``y`` is all 0 here and ignored downstream)."""
    peaks = detect_peaks(rec.signal, rec.fs, progress) if peaks is None else np.asarray(peaks, dtype=np.int64)
    check_rate(rec, peaks)
    X, rhythm, keep = beats_from_signal(rec.signal, rec.fs, peaks, window)
    return BeatSet(X=X[keep], y=np.zeros(int(keep.sum()), dtype=np.int64), task="mitbih",
                   record=np.full(int(keep.sum()), rec.name), rhythm=rhythm[keep],
                   rhythm_names=ALL_RHYTHM_NAMES, sample=peaks[keep], time=peaks[keep] / rec.fs, window=window)


def r_width_samples(signal: np.ndarray, peaks: np.ndarray, rr: float, most: int = 500) -> float:
    """The median width, in samples, of the R wave at a quarter of its height over the local median.

    Measured in samples only (the window is a quarter of the median RR either side, the height the
    largest deflection within 5% of RR of the peak), so it holds whatever rate the caller believes;
    at most ``most`` beats, evenly spread, are measured."""
    half, near = int(rr // 4), max(1, int(rr * 0.05))
    inner = peaks[(peaks >= half) & (peaks < len(signal) - half)]
    inner = inner[np.linspace(0, len(inner) - 1, min(most, len(inner))).astype(int)] if len(inner) else inner
    widths = []
    for p in inner:
        a = np.abs(signal[p - half:p + half] - np.median(signal[p - half:p + half]))
        k = half - near + int(np.argmax(a[half - near:half + near + 1]))  # the R (or QS) apex
        above = a > 0.25 * a[k]
        left = np.flatnonzero(~above[:k])
        right = np.flatnonzero(~above[k:])
        widths.append((right[0] if len(right) else len(a) - k) + k - (left[-1] + 1 if len(left) else 0))
    return float(np.median(widths)) if widths else float("nan")


class RateError(DataError):
    """A sampling rate at which the beats would be impossible (:func:`check_rate`)."""


@dataclass(frozen=True)
class Rhythm:
    """What the detected beats imply at a rate: beats, median heart rate and R width."""

    fs: float
    beats: int
    bpm: float
    r_width_ms: float

    @classmethod
    def measure(cls, signal: np.ndarray, fs: float, peaks: np.ndarray) -> "Rhythm":
        if len(peaks) < MIN_BEATS:
            return cls(fs, len(peaks), float("nan"), float("nan"))
        rr = float(np.median(np.diff(peaks)))
        return cls(fs, len(peaks), 60.0 * fs / rr, 1000.0 * r_width_samples(signal, peaks, rr) / fs)

    @property
    def plausible(self) -> bool:
        return (HEART_RATE_BPM[0] <= self.bpm <= HEART_RATE_BPM[1]
                and R_WIDTH_MS[0] <= self.r_width_ms <= R_WIDTH_MS[1])

    @property
    def distance(self) -> float:
        """How far from an ordinary ECG's beats (squared z-scores, log scale); inf if no beats."""
        if not self.plausible:
            return float("inf")
        return (((np.log(self.bpm) - TYPICAL_LOG_BPM) / SD_LOG_BPM) ** 2
                + ((np.log(self.r_width_ms) - TYPICAL_LOG_WIDTH_MS) / SD_LOG_WIDTH) ** 2)


def likely_fs(signal: np.ndarray) -> Rhythm | None:
    """The common rate (:data:`COMMON_FS`) at which the first minute's beats look most like an ECG's:
    each rate's own detection, heart rate and R width; None when no rate gives a plausible ECG."""
    best = None
    for fs in COMMON_FS:
        x = np.asarray(signal[:int(LIKELY_S * fs)], dtype=np.float64)
        peaks = detect(x, fs)
        r = Rhythm.measure(x, fs, peaks)
        if r.plausible and (best is None or r.distance < best.distance):
            best = r
    return best


def check_rate(rec: Recording, peaks: np.ndarray) -> Rhythm:
    """Refuse a sampling rate that makes the beats impossible: the one rate check of ``heartbeat predict``
    and ``/predict/record`` (a :class:`RateError`).

    At ``rec.fs`` the beats must give 20..300 bpm (median RR) and R waves 18..200 ms wide. Two views of
    the beats are judged: the detected ``peaks``, and the first minute's beats as the detector finds them
    at the common rate where they look most like an ECG's (:func:`likely_fs`), converted to ``rec.fs``
    sample for sample. The second catches a wrong rate at which the detector, confused, finds noise at
    an ordinary-looking pace (a 360 Hz record sent as 50 Hz); it overrules only where it fits an ECG
    better than the detected peaks do. The error names the likely rate."""
    at = Rhythm.measure(rec.signal, rec.fs, peaks)
    best = likely_fs(rec.signal)
    implied = None
    if best is not None and best.fs != rec.fs and best.distance < at.distance:
        scale = rec.fs / best.fs  # the same beats, counted in samples, read at rec.fs
        implied = Rhythm(rec.fs, best.beats, best.bpm * scale, best.r_width_ms / scale)
    if at.plausible and (implied is None or implied.plausible):
        return at
    seen = at if not at.plausible and at.beats >= MIN_BEATS else implied if implied is not None else at
    if seen.beats < MIN_BEATS:
        what = f"{at.beats} beats found in {rec.seconds:.1f} s of lead {rec.lead}; expected at least {MIN_BEATS}"
    else:
        whose = "its" if seen is at else "the first minute's"
        what = (f"at {rec.fs:g} Hz {whose} {seen.beats} beats imply a heart rate of {seen.bpm:.0f} bpm (expected "
                f"{HEART_RATE_BPM[0]:g}..{HEART_RATE_BPM[1]:g}) and R waves {seen.r_width_ms:.0f} ms wide (expected "
                f"{R_WIDTH_MS[0]:g}..{R_WIDTH_MS[1]:g})")
    if best is None:
        hint = "no common rate gives ECG-like beats either (is it an ECG?)"
    elif best.fs == rec.fs:
        hint = "is it an ECG?"
    else:
        hint = (f"the beats look like {best.fs:g} Hz ({best.bpm:.0f} bpm, R waves {best.r_width_ms:.0f} ms wide "
                f"there): is the sampling rate {best.fs:g} Hz?")
    raise RateError(f"{rec.source}: sampling rate {rec.fs:g} Hz is implausible: {what}; {hint}")


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
             progress: bool = False, threshold: float | None = None) -> tuple[pd.DataFrame, dict]:
    """Per-beat table (time_s, sample, class, p_<class>..., abnormal) and the record's summary.

    ``abnormal`` follows :func:`heartbeat.inference.operating.abnormal`: the class is not N, or with ``threshold``
    P(not N) >= threshold, as the service flags it."""
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
    pred = model.decide(P)  # at the folder's operating point (heartbeat.inference.operating), where it has one
    table = pd.DataFrame({"time_s": beats.time, "sample": beats.sample,
                          "class": np.asarray(model.classes)[pred]})
    for j, c in enumerate(model.classes):
        table[f"p_{c}"] = P[:, j]

    table["abnormal"] = abnormal(P, pred, threshold)
    return table, summarise(table, model.classes, rec)


def match_beats(reference: np.ndarray, detected: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i_ref, i_det) of reference and detected beats within 150 ms (wfdb's comparitor)."""
    from wfdb.processing import compare_annotations  # wfdb: only where records are read or fetched

    cmp = compare_annotations(np.asarray(reference), np.asarray(detected), int(round(TOLERANCE_S * fs)))
    ref_idx = np.flatnonzero(cmp.matching_sample_nums >= 0)
    return ref_idx, cmp.matching_sample_nums[ref_idx].astype(np.int64)


CLASS_COLOURS = {"N": "#4d4d4d", "S": "#1f77b4", "V": "#d62728", "F": "#ff7f0e", "Q": "#9467bd"}
CLASS_NAMES = {"N": "normal", "S": "supraventricular ectopic", "V": "ventricular ectopic", "F": "fusion",
               "Q": "unknown / paced"}
GAP_S = 2.0          # an RR longer than this is a span with no detected beat: a pause or missed beats
GAP_COLOUR = "#e8b800"


def no_beat_spans(times: np.ndarray, seconds: float, gap: float = GAP_S) -> list[tuple[float, float]]:
    """(start, end) in seconds of every span longer than ``gap`` with no detected beat, the recording's
    start and end included: a pause, asystole, noise, or beats the detector missed."""
    edges = np.concatenate([[0.0], np.sort(np.asarray(times, dtype=float)), [seconds]])
    at = np.flatnonzero(np.diff(edges) > gap)
    return [(float(edges[k]), float(edges[k + 1])) for k in at]


def clock(t: float) -> str:
    """Seconds as a clock: ``12:04`` (min:s), or ``1:02:03`` past an hour."""
    t = int(round(t))
    h, m, sec = t // 3600, t % 3600 // 60, t % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def strip_panels(rec: Recording, table: pd.DataFrame, seconds: float) -> list[tuple[float, str]]:
    """(start, why) of each panel: the first 20 s, the longest span with no beat, the two longest abnormal runs."""
    panels = [(0.0, "start"), (seconds, "start")]
    gaps = no_beat_spans(table["time_s"].to_numpy(), rec.seconds)
    if gaps:
        lo, hi = max(gaps, key=lambda g: g[1] - g[0])
        panels.append((max(0.0, lo - 2.0), f"no beat detected for {hi - lo:.1f} s"))
    for r in longest_runs(table["abnormal"].to_numpy(), table["time_s"].to_numpy(), top=2):
        if r["beats"] > 0:
            panels.append((max(0.0, r["start_s"] - 2.0), f"abnormal run of {r['beats']} beats"))
    kept: dict[float, str] = {}
    for start, why in panels:
        start = round(start, 1)
        if start < rec.seconds and not any(abs(start - s) < seconds / 2 for s in kept):
            kept[start] = why
    return sorted(kept.items())


def strip_figure(rec: Recording, table: pd.DataFrame, seconds: float = 10.0):
    """The ECG as a person reads it: 10 s panels, each beat marked and shaded in its class's colour,
    spans with no detected beat shaded and labelled, the signal in mV; returns the matplotlib figure.

    Panels: the first 20 s, then the 10 s around the longest span with no beat and around each of the
    two longest abnormal runs; each is titled with where it is in the recording (``12:04–12:14``)."""
    import matplotlib  # matplotlib: only where a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # matplotlib: only where a figure is drawn
    from matplotlib.patches import Patch  # matplotlib: only where a figure is drawn

    panels = strip_panels(rec, table, seconds)
    gaps = no_beat_spans(table["time_s"].to_numpy(), rec.seconds)
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 2.4 * len(panels) + 0.8), squeeze=False)
    t = np.arange(len(rec.signal)) / rec.fs
    for ax, (start, why) in zip(axes[:, 0], panels):
        end = min(start + seconds, rec.seconds)
        at = (t >= start) & (t < start + seconds)
        ax.plot(t[at], rec.signal[at], color="black", linewidth=0.7)
        top = rec.signal[at].max() if at.any() else 1.0
        for lo, hi in gaps:
            if hi > start and lo < start + seconds:
                ax.axvspan(max(lo, start), min(hi, start + seconds), color=GAP_COLOUR, alpha=0.25, linewidth=0)
                ax.text((max(lo, start) + min(hi, start + seconds)) / 2, top, "no beat detected", color="#8a6d00",
                        ha="center", va="bottom", fontsize=8, style="italic")
        beats = table[(table.time_s >= start) & (table.time_s < start + seconds)]
        for time_s, cls, flagged in zip(beats["time_s"], beats["class"], beats["abnormal"]):
            colour = CLASS_COLOURS.get(cls, "black")
            if flagged:
                ax.axvspan(time_s - 0.25, time_s + 0.4, color=colour, alpha=0.18, linewidth=0)
            ax.text(time_s, top, cls, color=colour, ha="center", va="bottom", fontsize=9, fontweight="bold")
        ax.set_xlim(start, start + seconds)
        ax.set_title(f"{clock(start)}\u2013{clock(end)}" + ("" if why == "start" else f"  ({why})"),
                     fontsize=9, loc="left")
        ax.set_ylabel(f"{rec.lead} ({rec.units})")
        ax.margins(y=0.25)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time in the recording (s)")
    counts = table["class"].value_counts()
    handles = [Patch(color=c, alpha=0.6, label=f"{k} {CLASS_NAMES[k]} ({int(counts.get(k, 0))})")
               for k, c in CLASS_COLOURS.items()]
    handles.append(Patch(color=GAP_COLOUR, alpha=0.4, label=f"no beat detected > {GAP_S:g} s ({len(gaps)})"))
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()))
    burden = 100 * table["abnormal"].mean() if len(table) else 0.0
    fig.suptitle(f"{rec.name}: {len(table)} beats in {clock(rec.seconds)}, lead {rec.lead} at {rec.fs:g} Hz; "
                 f"abnormal burden {burden:.1f}%", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    return fig


def draw_strip(rec: Recording, table: pd.DataFrame, path: str | Path, seconds: float = 10.0) -> Path:
    """:func:`strip_figure` saved as a PNG at ``path``."""
    import matplotlib.pyplot as plt  # matplotlib: only where a figure is drawn

    fig = strip_figure(rec, table, seconds)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def write_prediction(out: str | Path, rec: Recording, table: pd.DataFrame, summary: dict, plot: bool = True) -> Path:
    """``out/beats.csv``, ``out/summary.json`` and ``out/strip.png``, all or nothing (written aside, then moved)."""
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
