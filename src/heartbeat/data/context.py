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

from bisect import bisect_left, insort
from collections import deque
from math import sqrt

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from heartbeat.data.rhythm import RHYTHM_NAMES
from heartbeat.errors import DataError

CONTEXT_NAMES: tuple[str, ...] = (
    "under_rr", "pre_under", "post_under", "prev_pre_under", "prev2_pre_under", "irregularity",
    "tmpl_dist", "tmpl_rms", "tmpl_amp", "prev_tmpl_dist", "next_tmpl_dist",
)
#: the context's three parts, each of which a model may take alone (``BeatInput.context = 'template'``)
#: so that Table 3 can weigh each: RR against the underlying rhythm and its irregularity; the
#: neighbouring beats (runs, bigeminy, couplets); the beat's shape against the running template
CONTEXT_GROUPS: dict[str, tuple[str, ...]] = {
    "underlying": ("under_rr", "pre_under", "post_under", "irregularity"),
    "neighbours": ("prev_pre_under", "prev2_pre_under", "prev_tmpl_dist", "next_tmpl_dist"),
    "template": ("tmpl_dist", "tmpl_rms", "tmpl_amp"),
}
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
    first beat).

    One pass over the beats with the window's values kept sorted (each beat enters once and leaves once),
    instead of a median per beat: the same order statistics, so the same values as ``np.median``."""
    n = len(pre)
    first = np.searchsorted(times, times - UNDERLYING_SECONDS, side="left").tolist()
    vals = np.asarray(pre, dtype=np.float64).tolist()
    out = list(vals)  # the fallback where the window is empty
    window: list[float] = []
    lo = 0
    for i in range(1, n):
        insort(window, vals[i - 1])  # window: pre[lo:i], sorted
        f = first[i]
        while lo < f:
            del window[bisect_left(window, vals[lo])]
            lo += 1
        k = len(window)
        if k:
            h = k // 2
            out[i] = window[h] if k % 2 else (window[h - 1] + window[h]) / 2
    return np.asarray(out, dtype=np.float64)


def irregularity(pre: np.ndarray, under: np.ndarray) -> np.ndarray:
    """Median |RR_k - RR_(k-1)| over the :data:`IRREGULAR_INTERVALS` intervals up to each beat, over ``under``."""
    d = np.abs(np.diff(pre, prepend=pre[0]))
    n, w = len(pre), IRREGULAR_INTERVALS
    out = np.zeros(n)
    for i in range(1, min(n, w + 1)):  # the first beats: fewer intervals behind them
        out[i] = np.median(d[1:i + 1])
    if n > w + 1:  # then always the last w: d[i - w + 1: i + 1], the middle two of each sorted row
        rows = np.sort(sliding_window_view(d, w)[2:], axis=1)
        out[w + 1:] = (rows[:, w // 2 - 1] + rows[:, w // 2]) / 2 if w % 2 == 0 else rows[:, w // 2]
    return out / under


def _centred(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``a`` less their mean, and their sums of squares (row reductions: the same sums as one row at a
    time)."""
    c = a - a.mean(axis=-1, keepdims=True)
    return c, (c * c).sum(axis=-1)


def _corr_rows(ac: np.ndarray, ass: np.ndarray, bc: np.ndarray, bss: np.ndarray) -> np.ndarray:
    """Correlation of centred rows ``ac`` with centred rows ``bc`` (sums of squares ``ass``, ``bss``); 0 where
    either is flat."""
    den = np.sqrt(ass * bss)
    num = (ac * bc).sum(axis=-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _median_rows(rows: np.ndarray) -> np.ndarray:
    """``np.median(..., axis=-1)`` of ``rows`` (any leading shape): the middle one or the mean of the middle two
    of each sorted row, the very values ``np.median`` gives."""
    s = np.sort(rows, axis=-1)
    k = rows.shape[-1]
    h = k // 2
    return s[..., h] if k % 2 else (s[..., h - 1] + s[..., h]) / 2


def template_features(X: np.ndarray, pre_under: np.ndarray, post_under: np.ndarray) -> np.ndarray:
    """(n, 4): correlation, RMS difference and amplitude ratio of each beat against the template as it stood
    before it, and the next beat's correlation with that same template.

    A beat joins the template when it came on time (``pre_under`` in :data:`ON_TIME`, no compensatory
    pause after it) and looks like the template. When fewer than half of the last :data:`RESEED_BEATS`
    beats look like it, the template has locked on something else than the patient's dominant beat (or
    the dominant beat changed): it starts again from the next beat on time.

    The rule is sequential: whether a beat joins depends on the template the beats before it made. It is
    run speculatively, a chunk of beats at a time, once the template holds its :data:`TEMPLATE_BEATS`
    members: guess that every beat on time joins (it does, unless it looks unlike the template), compute
    the templates those joins make and every beat's correlation with the template before it at once (a
    sliding median over the members), then walk the chunk in plain Python to the first beat on time that
    does not look like its template. The beats before it are exactly as the sequential rule has them; that
    beat takes the rule's own step (reseed or stay out) and the next chunk starts after it. Every sum is
    the same row reduction as one beat at a time, so the values are the same to the bit. The RMS, the
    amplitude and the next beat's correlation come afterwards, for all beats at once, from the template
    each beat saw."""
    n = len(X)
    out = np.zeros((n, 4))
    if n == 0:
        return out
    S, M = TEMPLATE_SAMPLES, TEMPLATE_BEATS
    head = np.asarray(X[:, :S], dtype=np.float64)
    hc, hss = _centred(head)
    on_time = (ON_TIME[0] <= pre_under) & (pre_under <= ON_TIME[1]) & (post_under <= NO_PAUSE)
    on_l, hss_l = on_time.tolist(), hss.tolist()
    templates = np.empty((n, S))  # the k-th template made; beat i saw templates[seen[i]]
    tcs = np.empty((n, S))        # ... centred
    tsss = np.empty(n)            # ... its sum of squares
    seen = np.full(n, -1, dtype=np.int64)
    corrs = np.ones(n)
    members: list[int] = []  # beat indices, oldest first
    matched: deque[bool] = deque(maxlen=RESEED_BEATS)
    hits = 0  # the True values in ``matched``
    made = -1
    chunk = 64

    def make(template: np.ndarray) -> None:
        nonlocal made
        made += 1
        templates[made] = template
        tc = template - template.mean()
        tcs[made], tsss[made] = tc, (tc * tc).sum()

    def look(corr: float) -> bool:
        nonlocal hits
        looks = corr >= LOOKS_DOMINANT
        if len(matched) == RESEED_BEATS:
            hits -= matched[0]
        matched.append(looks)
        hits += looks
        return looks

    def reseeds() -> bool:
        return len(matched) == RESEED_BEATS and hits < RESEED_BEATS / 2

    i = 0
    while i < n:
        if made >= 0 and len(members) == M:  # speculate over beats i..e-1
            e = min(n, i + chunk)
            joins = np.flatnonzero(on_time[i:e]) + i
            before = np.cumsum(on_time[i:e]) - on_time[i:e]  # guessed joins before each beat of the chunk
            if len(joins):
                seq = np.concatenate([np.asarray(members, dtype=np.int64), joins])
                new = _median_rows(sliding_window_view(head[seq], M, axis=0)[1:])  # the template after each join
                ntc, ntss = _centred(new)
                ctc, ctss = np.vstack([tcs[made][None], ntc]), np.concatenate([[tsss[made]], ntss])
            else:
                ctc, ctss = tcs[made][None], tsss[made:made + 1]
            cl = _corr_rows(hc[i:e], hss[i:e], ctc[before], ctss[before]).tolist()
            stop = e - i
            for j in range(e - i):
                if not look(cl[j]) and on_l[i + j]:
                    stop = j
                    break
            k = int(before[stop]) if stop < e - i else len(joins)  # the joins that did happen
            corrs[i:i + stop + (stop < e - i)] = cl[:stop + 1]
            seen[i:i + stop + (stop < e - i)] = made + before[:stop + 1]
            if k:
                templates[made + 1:made + 1 + k] = new[:k]
                tcs[made + 1:made + 1 + k], tsss[made + 1:made + 1 + k] = ntc[:k], ntss[:k]
                made += k
                members = seq[k:k + M].tolist()
            if stop == e - i:
                chunk = min(2 * chunk, 1024)
                i = e
                continue
            chunk = max(32, chunk // 2)
            i += stop  # beat i: on time, unlike its template; its correlation is counted in ``matched``
            if reseeds():
                matched.clear()
                hits = 0
                members = [i]
                make(head[i])
            i += 1
            continue
        # one beat at a time: before the first template, and while the template has fewer than M members
        if made >= 0:
            den = sqrt(hss_l[i] * tsss[made])
            corr = float((hc[i] * tcs[made]).sum()) / den if den > 0 else 0.0
            corrs[i], seen[i] = corr, made
            looks = look(corr)
        else:
            looks = True  # nothing before the first beat: it is its own reference
        if on_l[i] and (looks or reseeds()):
            if not looks:
                matched.clear()
                hits = 0
                members = []
            members = (members + [i])[-M:]
            make(head[i] if len(members) == 1 else _median_rows(head[members].T))
        i += 1
    have = seen >= 0
    T = templates[seen[have]]
    rest = head[have]
    out[:, 0] = corrs
    out[have, 1] = np.sqrt(np.mean((rest - T) ** 2, axis=1))
    span = np.ptp(T, axis=1)
    out[have, 2] = np.where(span > 0, np.ptp(rest, axis=1) / np.where(span > 0, span, 1.0), 1.0)
    out[~have, 2] = 1.0
    nxt = corrs.copy()  # the last beat, and beats before any template: their own correlation
    inner = np.flatnonzero(have[:-1])
    nxt[inner] = _corr_rows(hc[inner + 1], hss[inner + 1], tcs[seen[inner]], tsss[seen[inner]])
    out[:, 3] = nxt
    return out


def context_features(X: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Context features (n, 11) float32, columns :data:`CONTEXT_NAMES`, of beats ``X`` (n, 187) at R-peak
    ``times`` (seconds, sorted): all from the past and the next beat only."""
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if n == 0:
        return np.zeros((0, len(CONTEXT_NAMES)), dtype=np.float32)
    if np.any(np.diff(t) < 0):
        raise DataError("context_features: R-peak times must be sorted")
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
