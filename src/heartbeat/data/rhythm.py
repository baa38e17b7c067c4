"""Rhythm of each beat from its R-peak times: RR intervals and their ratios to the patient's own rhythm.

A beat alone cannot tell a premature supraventricular beat from a normal one in a patient never
seen: how early it came is what defines it. Published inter-patient systems (de Chazal et al.
2004; Mondéjar-Guerra et al. 2019; Wang et al. 2021) therefore add RR intervals, and normalise
them by the patient's own rhythm so that a fast heart is not mistaken for a premature beat.

Every value of beat ``i`` comes from the R peaks up to ``i + 1`` (the past and the next beat),
as a live monitor that waits one beat could compute it; never from a whole-record statistic,
which would leak the future. All intervals are in seconds.

====================  ========================================================================
``pre_rr``            time since the previous beat (the first beat: its ``post_rr``)
``post_rr``           time to the next beat (the last beat: its ``pre_rr``)
``local_rr``          mean ``pre_rr`` of the 10 beats before this one (fewer at the start)
``mean_rr``           mean ``pre_rr`` of the beats in the 5 minutes before this one (running)
``pre_ratio``         ``pre_rr / mean_rr``: < 1 for a premature beat
``post_ratio``        ``post_rr / mean_rr``: > 1 after a compensatory pause
``local_ratio``       ``local_rr / mean_rr``: a run of fast beats
``pre_local_ratio``   ``pre_rr / local_rr``: premature against the last few beats
====================  ========================================================================

Where a beat has no earlier beat to average (the first of a record), the means fall back to
its own ``pre_rr``, so every value is finite and positive.
"""

from __future__ import annotations

import numpy as np

from heartbeat.errors import DataError

RHYTHM_NAMES: tuple[str, ...] = (
    "pre_rr", "post_rr", "local_rr", "mean_rr", "pre_ratio", "post_ratio", "local_ratio", "pre_local_ratio",
)
LOCAL_BEATS = 10
RUNNING_SECONDS = 300.0
MIN_RR = 1e-3  # seconds: two annotations on one sample must not divide by zero


def rhythm_features(times: np.ndarray) -> np.ndarray:
    """Rhythm features (n, 8) float32, columns :data:`RHYTHM_NAMES`, of R peaks at ``times`` (seconds, sorted)."""
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if n == 0:
        return np.zeros((0, len(RHYTHM_NAMES)), dtype=np.float32)
    if n == 1:  # one beat has no rhythm: one second everywhere, ratios 1
        return np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    if np.any(np.diff(t) < 0):
        raise DataError("rhythm_features: R-peak times must be sorted")
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
