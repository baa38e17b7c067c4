"""Patient context of each beat: its rhythm against the patient's underlying rhythm, the neighbouring
beats, and its shape against a running template of the patient's own dominant beats.

What makes a beat ectopic in a patient never seen is how it differs from *this* patient's normal.
:mod:`heartbeat.data.rhythm` compares RR intervals with a local mean of the last 10 beats, which
follows a run of supraventricular tachycardia: inside the run, beats stop looking premature. Here
the reference is the **underlying** rhythm: the median RR of the last 5 minutes, which a run of
ectopic beats shorter than half of those beats does not move. An **irregularity** measure (median
absolute successive RR difference) tells atrial fibrillation, irregular everywhere, from an
isolated premature beat, one spike in an otherwise steady series. The **template** is the median
of the last :data:`TEMPLATE_BEATS` beats that came on time and looked like the template before
them; a beat is compared with the template as it stood *before* that beat.

Causal as the rhythm is: every value of beat ``i`` comes from beats up to ``i + 1`` (the past and
the next beat), never from a whole-record statistic. Intervals are in seconds, ratios unitless;
every value is finite and >= 0, since the rhythm's fusion (:mod:`heartbeat.models.fusion`) takes logs.

=====================  =======================================================================
``under_rr``           median ``pre_rr`` of the beats in the 5 minutes before this one
``pre_under``          ``pre_rr / under_rr``: < 1 for a premature beat, inside a run too
``post_under``         ``post_rr / under_rr``: > 1 after a compensatory pause
``prev_pre_under``     the previous beat's ``pre_under`` (couplets, bigeminy)
``prev2_pre_under``    the one before that
``irregularity``       median abs. difference of the last 16 RR intervals / ``under_rr`` (AF: high)
``tmpl_dist``          1 - correlation of the beat with the patient's running template (0: the same shape)
``tmpl_rms``           RMS difference from the template (beats scaled to [0, 1])
``tmpl_amp``           peak-to-peak amplitude of the beat / that of the template
``prev_tmpl_dist``     the previous beat's ``tmpl_dist``
``next_tmpl_dist``     the next beat's distance from this beat's template
=====================  =======================================================================
"""

from __future__ import annotations

from collections import deque

import numpy as np

from heartbeat.data.rhythm import RHYTHM_NAMES

CONTEXT_NAMES: tuple[str, ...] = (
    "under_rr", "pre_under", "post_under", "prev_pre_under", "prev2_pre_under", "irregularity",
    "tmpl_dist", "tmpl_rms", "tmpl_amp", "prev_tmpl_dist", "next_tmpl_dist",
)
#: every per-beat feature a beat built from a record carries: its rhythm, then its patient context
ALL_RHYTHM_NAMES: tuple[str, ...] = RHYTHM_NAMES + CONTEXT_NAMES
UNDERLYING_SECONDS = 300.0
IRREGULAR_INTERVALS = 16
TEMPLATE_BEATS = 16
TEMPLATE_SAMPLES = 50  # the first 0.4 s of a beat at 125 Hz: the QRS and ST segment, never the zero padding
ON_TIME = (0.85, 1.25)  # pre_under of a beat that may join the template
NO_PAUSE = 1.2          # ... and post_under: no compensatory pause after it
LOOKS_DOMINANT = 0.8    # its correlation with the template before it
RESEED_BEATS = 32       # the template starts again when fewer than half of these beats look like it


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
