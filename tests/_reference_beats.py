"""A frozen copy of the beat builder as it was before it was vectorised (commit 07220bd): the oracle that
tests/test_beats_speed.py holds the fast code to, output for output. Never edit it to follow the fast code."""

from __future__ import annotations

from collections import deque

import numpy as np

from heartbeat.data.beatset import BEAT_LEN, FS, WINDOWS
from heartbeat.data.context import (
    CONTEXT_NAMES,
    IRREGULAR_INTERVALS,
    LOOKS_DOMINANT,
    NO_PAUSE,
    ON_TIME,
    RESEED_BEATS,
    TEMPLATE_BEATS,
    TEMPLATE_SAMPLES,
    UNDERLYING_SECONDS,
)
from heartbeat.data.rhythm import LOCAL_BEATS, MIN_RR, RHYTHM_NAMES, RUNNING_SECONDS
from heartbeat.data.wfdb_beats import BEAT_PERIODS, PWAVE_SAMPLES, WINDOW_SECONDS, resample_to_fs


def rhythm_features(times: np.ndarray) -> np.ndarray:
    """Rhythm features (n, 8) float32, columns :data:`RHYTHM_NAMES`, of R peaks at ``times`` (seconds, sorted)."""
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if n == 0:
        return np.zeros((0, len(RHYTHM_NAMES)), dtype=np.float32)
    if n == 1:  # one beat has no rhythm: one second everywhere, ratios 1
        return np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    if np.any(np.diff(t) < 0):
        raise ValueError("rhythm_features: R-peak times must be sorted")
    rr = np.maximum(np.diff(t), MIN_RR)          # (n-1,) interval between beat j and j+1
    pre = np.concatenate([[rr[0]], rr])          # (n,)  beat 0 borrows its post_rr
    post = np.concatenate([rr, [rr[-1]]])        # (n,)  the last beat borrows its pre_rr
    # means over earlier beats' pre_rr: sums from a cumulative sum, index ranges [lo, i)
    csum = np.concatenate([[0.0], np.cumsum(pre)])
    idx = np.arange(n)
    local = _window_mean(csum, np.maximum(idx - LOCAL_BEATS, 0), idx, pre)
    first = np.searchsorted(t, t - RUNNING_SECONDS, side="left")  # earliest beat within 5 min before
    running = _window_mean(csum, first, idx, pre)
    out = np.stack([pre, post, local, running, pre / running, post / running, local / running, pre / local], axis=1)
    return out.astype(np.float32)


def _window_mean(csum: np.ndarray, lo: np.ndarray, hi: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Mean of values[lo:hi] per row from their cumulative sum; ``fallback`` where the range is empty."""
    count = hi - lo
    total = csum[hi] - csum[lo]
    return np.where(count > 0, total / np.maximum(count, 1), fallback)

def underlying_rr(times: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Median ``pre`` of the beats in the :data:`UNDERLYING_SECONDS` before each beat (its own ``pre`` for the
    first beat)."""
    first = np.searchsorted(times, times - UNDERLYING_SECONDS, side="left")
    out = np.empty(len(pre))
    for i in range(len(pre)):
        out[i] = np.median(pre[first[i]:i]) if i > first[i] else pre[i]
    return out


def irregularity(pre: np.ndarray, under: np.ndarray) -> np.ndarray:
    """Median |RR_k - RR_(k-1)| over the :data:`IRREGULAR_INTERVALS` intervals up to each beat, over ``under``."""
    d = np.abs(np.diff(pre, prepend=pre[0]))
    out = np.empty(len(pre))
    for i in range(len(pre)):
        lo = max(1, i + 1 - IRREGULAR_INTERVALS)
        out[i] = np.median(d[lo:i + 1]) if i >= 1 else 0.0
    return out / under


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def template_features(X: np.ndarray, pre_under: np.ndarray, post_under: np.ndarray) -> np.ndarray:
    """(n, 4): correlation, RMS difference and amplitude ratio of each beat against the template as it stood
    before it, and the next beat's correlation with that same template.

    A beat joins the template when it came on time (``pre_under`` in :data:`ON_TIME`, no compensatory
    pause after it) and looks like the template. When fewer than half of the last :data:`RESEED_BEATS`
    beats look like it, the template has locked on something else than the patient's dominant beat (or
    the dominant beat changed): it starts again from the next beat on time."""
    n = len(X)
    head = np.asarray(X[:, :TEMPLATE_SAMPLES], dtype=np.float64)
    out = np.zeros((n, 4))
    members: deque[np.ndarray] = deque(maxlen=TEMPLATE_BEATS)
    matched: deque[bool] = deque(maxlen=RESEED_BEATS)
    template = None
    for i in range(n):
        if template is None:  # nothing before the first beat: it is its own reference
            corr, rms, amp = 1.0, 0.0, 1.0
        else:
            corr = _corr(head[i], template)
            rms = float(np.sqrt(np.mean((head[i] - template) ** 2)))
            span = np.ptp(template)
            amp = float(np.ptp(head[i]) / span) if span > 0 else 1.0
            matched.append(corr >= LOOKS_DOMINANT)
        nxt = _corr(head[i + 1], template) if (template is not None and i + 1 < n) else corr
        out[i] = corr, rms, amp, nxt
        on_time = ON_TIME[0] <= pre_under[i] <= ON_TIME[1] and post_under[i] <= NO_PAUSE
        if not on_time:
            continue
        if template is None or corr >= LOOKS_DOMINANT:
            members.append(head[i])
        elif len(matched) == RESEED_BEATS and np.mean(matched) < 0.5:
            members.clear()
            matched.clear()
            members.append(head[i])
        else:
            continue
        template = np.median(np.stack(members), axis=0)
    return out


def context_features(X: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Context features (n, 11) float32, columns :data:`CONTEXT_NAMES`, of beats ``X`` (n, 187) at R-peak
    ``times`` (seconds, sorted): all from the past and the next beat only."""
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if n == 0:
        return np.zeros((0, len(CONTEXT_NAMES)), dtype=np.float32)
    if np.any(np.diff(t) < 0):
        raise ValueError("context_features: R-peak times must be sorted")
    if n == 1:
        pre = post = np.ones(1)
    else:
        rr = np.maximum(np.diff(t), 1e-3)
        pre = np.concatenate([[rr[0]], rr])
        post = np.concatenate([rr, [rr[-1]]])
    under = underlying_rr(t, pre)
    pre_under, post_under = pre / under, post / under
    prev = np.concatenate([[1.0], pre_under[:-1]])
    prev2 = np.concatenate([[1.0, 1.0], pre_under[:-2]])[:n]
    tmpl = template_features(X, pre_under, post_under)
    prev_corr = np.concatenate([[1.0], tmpl[:-1, 0]])
    out = np.column_stack([under, pre_under, post_under, prev, prev2, irregularity(pre, under),
                           1 - tmpl[:, 0], tmpl[:, 1], tmpl[:, 2], 1 - prev_corr, 1 - tmpl[:, 3]])
    return out.astype(np.float32)


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
        raise ValueError(f"unknown beat window {window!r}; expected one of {WINDOWS}")
    peaks = np.asarray(peaks, dtype=np.int64)
    sig = resample_to_fs(signal, fs)
    at = np.clip(np.round(peaks * FS / fs).astype(np.int64), 0, len(sig) - 1)
    lead = PWAVE_SAMPLES if window == "pwave" else 0

    win = WINDOW_SECONDS * FS
    window_of = at // win
    record_T = np.median(np.diff(at)) if len(at) > 1 else FS  # fallback: 1 s
    X = np.zeros((len(at), BEAT_LEN), dtype=np.float32)
    keep = np.ones(len(at), dtype=bool)
    for w in np.unique(window_of):
        members = np.flatnonzero(window_of == w)
        lo, hi = w * win, min((w + 1) * win, len(sig))
        seg = sig[lo:hi]
        smin, span = seg.min(), seg.max() - seg.min()
        span = span if span > 0 else 1.0
        T = np.median(np.diff(at[members])) if len(members) > 1 else record_T
        length = min(int(round(BEAT_PERIODS * T)) + lead, BEAT_LEN)
        for i in members:
            start = at[i] - lead
            piece = sig[max(start, 0): start + length]
            offset = max(-start, 0)  # a P-wave window before the record's start is zero-filled
            keep[i] = 2 * (len(piece) + offset) >= length
            X[i, offset: offset + len(piece)] = np.clip((piece - smin) / span, 0.0, 1.0)
    times = peaks / fs
    return X, np.hstack([rhythm_features(times), context_features(X, times)]), keep
