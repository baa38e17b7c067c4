"""Build beats from raw MIT-BIH Arrhythmia records the way Kachuee et al. (2018) did.

Kachuee, Fazeli and Sarrafzadeh, "ECG Heartbeat Classification: A Deep Transferable
Representation" (IEEE ICHI 2018, arXiv 1805.00794) made the Kaggle/course beats so:

1. lead MLII, resampled from 360 Hz to 125 Hz;
2. the record cut into 10 s windows, each scaled to [0, 1];
3. R peaks found in each window, and the median R-R interval ``T`` of the window;
4. for each R peak, the signal from the peak over ``1.2 T``, zero-padded to 187 samples.

Here the R peaks are the database's own beat annotations (their fiducial points sit on
the R wave), which also give each beat its AAMI class, so no beat is lost to a missed
detection. Two details the paper leaves open are decided as follows, so that every
annotated beat of the five AAMI classes yields one beat (only a beat cut off by the end
of its record is dropped, and counted in the build report):

* a beat whose ``1.2 T`` runs past the end of its window continues into the following
  samples of the record, scaled with its own window's minimum and maximum and clipped to
  [0, 1] (instead of being cut short at the window edge);
* a window with fewer than two beats takes the record's median R-R interval as ``T``.

Records 102 and 104 have no MLII lead (their upper lead is V5); their first lead is used
and the build report says so.

The ``pwave`` window (``BeatInput.window = 'pwave'``) starts :data:`PWAVE_LEAD` (0.28 s) before
the R peak and runs to the same end, ``1.2 T`` after it, so that the beat holds its P wave;
everything else (windows, scaling, padding) is as above. Every beat also carries its rhythm
(:mod:`heartbeat.data.rhythm`), from the annotated R-peak times at 360 Hz.
:func:`beats_from_signal` is the one function that cuts beats: from annotated peaks here, and
from detected peaks on a raw recording.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from heartbeat.data.beatset import BEAT_LEN, FS, WINDOWS, BeatSet, DataError, LoadReport
from heartbeat.data.context import ALL_RHYTHM_NAMES, context_features
from heartbeat.data.rhythm import rhythm_features
from heartbeat.errors import ConfigError

SOURCE_FS = 360
WINDOW_SECONDS = 10
BEAT_PERIODS = 1.2
#: the ``pwave`` window starts this long before the R peak: the P wave begins 0.12-0.2 s before
#: the QRS onset, itself ~0.05 s before R, so 0.28 s holds it at the heart rates of MIT-BIH.
PWAVE_LEAD = 0.28
PWAVE_SAMPLES = int(round(PWAVE_LEAD * FS))  # 35 samples at 125 Hz

#: MIT-BIH annotation symbol -> AAMI class index (N S V F Q), per ANSI/AAMI EC57.
AAMI = {
    **dict.fromkeys("NLRej", 0),
    **dict.fromkeys("aJAS", 1),
    **dict.fromkeys("VE", 2),
    "F": 3,
    **dict.fromkeys("/fQ", 4),
}


@dataclass
class BuildReport:
    """Per-record and per-class counts of a build, against the annotation counts."""

    annotated: dict[str, int] = field(default_factory=dict)  # AAMI class -> beats annotated
    built: dict[str, int] = field(default_factory=dict)       # AAMI class -> beats built
    non_beat_annotations: int = 0                             # rhythm, noise, '!' flutter, ...
    lead_notes: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    seconds: float = 0.0


def list_records(folder: str | Path) -> list[str]:
    """Record names in a WFDB folder: its RECORDS file if present, else every ``*.hea``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; expected a folder of WFDB records (NNN.hea, NNN.dat, NNN.atr)")
    listing = folder / "RECORDS"
    names = listing.read_text().split() if listing.exists() else sorted(p.stem for p in folder.glob("*.hea"))
    if not names:
        raise DataError(f"{folder}: no WFDB records found (no RECORDS file and no *.hea files)")
    for name in names:
        for ext in ("hea", "dat", "atr"):
            if not (folder / f"{name}.{ext}").exists():
                raise DataError(f"{folder}: record {name} is listed but {name}.{ext} is missing")
    return names


def resample_to_fs(signal: np.ndarray, fs: float) -> np.ndarray:
    """A lead at ``fs`` Hz resampled to the beats' 125 Hz by polyphase filtering (anti-aliased)."""
    ratio = Fraction(FS, 1) / Fraction(fs).limit_denominator(1000)  # 360 Hz -> 25/72
    if ratio == 1:
        return np.asarray(signal, dtype=np.float64)
    return resample_poly(signal, ratio.numerator, ratio.denominator)


_CHUNK = 4096  # beats cut at once


def _run_medians(group: np.ndarray, at: np.ndarray, fallback: float) -> np.ndarray:
    """For each beat, the median interval between the beats of its group (``group`` sorted, runs of equal
    values; ``at`` sorted), or ``fallback`` where its group has one beat: ``np.median`` of each run's
    ``np.diff``, all runs at once."""
    n = len(group)
    bounds = np.flatnonzero(np.diff(group)) + 1
    run_start = np.concatenate([[0], bounds])
    run_len = np.diff(np.concatenate([run_start, [n]]))
    # the intervals inside runs, sorted within each run: the run's k-th interval sits at run_start - run + k
    gaps = np.diff(at)
    inside = group[1:] == group[:-1]
    d, g = gaps[inside], group[1:][inside]
    d = d[np.lexsort((d, g))]
    m = run_len - 1                                  # intervals per run
    base = np.concatenate([[0], np.cumsum(m)[:-1]])  # where each run's intervals begin in ``d``
    h = m // 2
    hi = d[np.minimum(base + h, max(len(d) - 1, 0))] if len(d) else np.zeros(len(m), dtype=at.dtype)
    lo = d[np.clip(base + h - 1, 0, max(len(d) - 1, 0))] if len(d) else hi
    med = np.where(m % 2 == 1, hi.astype(np.float64), (lo.astype(np.float64) + hi.astype(np.float64)) / 2)
    med = np.where(m > 0, med, fallback)
    return np.repeat(med, run_len)


def beats_from_signal(signal: np.ndarray, fs: float, peaks: np.ndarray,
                      window: str = "kachuee") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beats and their rhythm from one lead and its R peaks: the one function that cuts beats.

    ``signal`` is the lead at ``fs`` Hz (finite), ``peaks`` the R-peak sample indices at ``fs``
    (sorted): annotated ones for training, detected ones for a raw recording. Returns ``X``
    (n, 187) float32 cut by ``window`` (:data:`heartbeat.data.beatset.WINDOWS`), ``rhythm``
    (n, 19) float32, columns :data:`heartbeat.data.context.ALL_RHYTHM_NAMES`: the rhythm
    (:func:`heartbeat.data.rhythm.rhythm_features`, from the peak times at full resolution) and the
    patient context (:func:`heartbeat.data.context.context_features`), and ``keep`` (n,) bool: False for a beat cut off by the end of the signal
    before half of its span. The rhythm of a kept beat still counts the dropped ones as beats.
    """
    if window not in WINDOWS:
        raise ConfigError(f"unknown beat window {window!r}; expected one of {WINDOWS}")
    peaks = np.asarray(peaks, dtype=np.int64)
    sig = resample_to_fs(signal, fs)
    at = np.clip(np.round(peaks * FS / fs).astype(np.int64), 0, len(sig) - 1)
    lead = PWAVE_SAMPLES if window == "pwave" else 0

    win = WINDOW_SECONDS * FS
    n = len(at)
    X = np.zeros((n, BEAT_LEN), dtype=np.float32)
    keep = np.ones(n, dtype=bool)
    if n:
        # each 10 s window's minimum, span and median RR: the peaks are sorted, so a window's beats are one run
        window_of = at // win
        starts = np.arange(0, len(sig), win)
        smin = np.minimum.reduceat(sig, starts)[window_of]
        span = np.maximum.reduceat(sig, starts)[window_of] - smin
        span = np.where(span > 0, span, 1.0)
        record_T = np.median(np.diff(at)) if n > 1 else FS  # fallback: 1 s
        T = _run_medians(window_of, at, record_T)
        length = np.minimum(np.rint(BEAT_PERIODS * T).astype(np.int64) + lead, BEAT_LEN)
        start = at - lead
        # the part of each beat's span inside the signal; a P-wave window before its start is zero-filled
        first = np.maximum(start, 0)
        got = np.maximum(np.minimum(start + length, len(sig)) - first, 0)
        offset = np.maximum(-start, 0)
        keep = 2 * (got + offset) >= length
        cols = np.arange(BEAT_LEN)
        for lo in range(0, n, _CHUNK):  # in chunks: a day of beats at once would be a few hundred MB
            sl = slice(lo, lo + _CHUNK)
            idx = start[sl, None] + cols
            inside = (cols >= offset[sl, None]) & (cols < (offset + got)[sl, None])
            vals = (sig[np.clip(idx, 0, len(sig) - 1)] - smin[sl, None]) / span[sl, None]
            X[sl] = np.where(inside, np.clip(vals, 0.0, 1.0), 0.0)
    times = peaks / fs
    return X, np.hstack([rhythm_features(times), context_features(X, times)]), keep


def record_beats(folder: Path, name: str, window: str = "kachuee") -> tuple[BeatSet, np.ndarray, str | None, int]:
    """Beats of one record, cut by ``window``, with their rhythm.

    Returns (beats, annotated beats per AAMI class (5,), lead note or None, number of non-beat
    annotations). A beat is dropped only when the record ends before half of its span (the
    last beat of a record, if ever).
    """
    import wfdb  # imported here: only this builder needs it

    rec = wfdb.rdrecord(str(folder / name))
    ann = wfdb.rdann(str(folder / name), "atr")
    names = list(rec.sig_name)
    note = None
    if "MLII" in names:
        lead = names.index("MLII")
    else:
        lead = 0
        note = f"record {name}: no MLII lead (leads {names}); used {names[0]}"
    signal = rec.p_signal[:, lead].astype(np.float64)
    if not np.isfinite(signal).all():  # never seen in MIT-BIH, but never silently propagate NaN
        t = np.arange(len(signal))
        ok = np.isfinite(signal)
        signal = np.interp(t, t[ok], signal[ok])
    symbols = np.asarray(ann.symbol)
    labels = np.array([AAMI.get(s, -1) for s in symbols])
    is_beat = labels >= 0
    samples = np.asarray(ann.sample)[is_beat]
    labels = labels[is_beat]
    annotated = np.bincount(labels, minlength=5)
    X, rhythm, keep = beats_from_signal(signal, rec.fs, samples, window)
    beats = BeatSet(X=X[keep], y=labels[keep], task="mitbih", record=np.full(int(keep.sum()), name),
                    rhythm=rhythm[keep], rhythm_names=ALL_RHYTHM_NAMES, sample=samples[keep],
                    time=samples[keep] / rec.fs, window=window)
    return beats, annotated, note, int((~is_beat).sum())


def build_beats(folder: str | Path, records: list[str] | None = None, progress=None,
                window: str = "kachuee") -> tuple[BeatSet, BuildReport]:
    """Build the 5-class AAMI beats, with their rhythm, of every record in ``folder`` (or of ``records``).

    ``progress``, if given, is called as ``progress(i, n, record_name)`` after each record.
    """
    folder = Path(folder)
    names = records or list_records(folder)
    start = time.perf_counter()
    report = BuildReport(records=list(names))
    parts = []
    annotated = np.zeros(5, dtype=np.int64)
    for i, name in enumerate(names):
        beats, ann_counts, note, non_beats = record_beats(folder, name, window)
        annotated += ann_counts
        parts.append(beats)
        report.non_beat_annotations += non_beats
        if note:
            report.lead_notes.append(note)
        if progress:
            progress(i + 1, len(names), name)
    beats = BeatSet.concat(parts)
    y = beats.y
    classes = ("N", "S", "V", "F", "Q")
    counts = np.bincount(y, minlength=5)
    report.built = {c: int(n) for c, n in zip(classes, counts)}
    report.annotated = {c: int(n) for c, n in zip(classes, annotated)}
    report.seconds = time.perf_counter() - start
    beats.report = LoadReport(source=str(folder), rows_read=len(y), notes=list(report.lead_notes))
    return beats, report
