"""R-peak detection: QRS candidates from one lead's energy, kept or dropped by a small learned rule.

Pan and Tompkins' front end finds the candidates; what decides between a QRS, a tall T wave and
noise is a logistic model of how each candidate stands among its neighbours, learnt on DS1 only.

1. **Energy.** The lead is band-passed 5-25 Hz (Butterworth, forward and backward, so no delay),
   differentiated, squared and integrated over 120 ms then 60 ms (centred, so the energy peaks at
   the middle of the QRS). It is divided by the beats' local level: the median of the maxima of
   1.5 s blocks over the 9 blocks around (about 13 s), but no less than a quarter of the minute's
   (a pause does not raise noise to beats), so amplitude and gain do not matter.
2. **Candidates.** The local maxima of that normalised energy above 0.03, at least 120 ms apart.
3. **Features** (:data:`FEATURES`), all in log ratios or per local RR so that the rate, the gain and
   the heart rate do not enter: the candidate's height; the largest neighbour within 0.2, 0.36 and 1 s
   relative to it (an R wave is the largest thing around, a T wave is not); the previous and next
   candidates' heights; the intervals to them over the local RR (the median interval of the last 15
   strong beats, a strong beat being above 0.4 and the largest within 0.36 s); the local RR; the
   energy left 40 ms either side of the peak (its width); its share of high frequencies.
4. **Decision.** ``p = logistic(w . features + b)`` (:data:`WEIGHTS`, learnt by :func:`learn` on the
   DS1 records' candidates labelled by their annotations, VF episodes left out); the candidates with
   ``p >= 0.5`` are kept, the most probable first, none within 200 ms of one kept before.

It reads the future (the level, the local RR and the neighbours are centred), so it is no live
monitor's detector, but it is deterministic: the same samples give the same peaks. A peak is placed
at the energy's maximum, the middle of the QRS. ``python bench/detectors.py`` compares it with XQRS,
sleepecg and neurokit2 on every shared record (``results/bench/detectors.csv``).
"""

from __future__ import annotations

import numpy as np
from scipy import signal as ss
from scipy.ndimage import median_filter

BAND_HZ = (5.0, 25.0)
INTEGRATE_S = 0.12          # the energy's first moving sum; a second over half of it smooths the plateau
BLOCK_S, LEVEL_BLOCKS = 1.5, 9
FLOOR_BLOCKS, FLOOR = 41, 0.25  # about a minute: the level's floor
MIN_HEIGHT = 0.03           # a candidate's normalised energy
MIN_GAP_S = 0.12            # between candidates
STRONG = 0.4                # a strong beat, for the local RR
RR_BEATS = 15
WIDTH_S = 0.04
REFRACTORY_S = 0.2          # between kept peaks
THRESHOLD = 0.5
#: how far a peak's features reach, in seconds: a chunk needs this much of its neighbours
CONTEXT_S = BLOCK_S * (FLOOR_BLOCKS // 2 + 1) + RR_BEATS * 2.0 / 2

FEATURES = ("log_height", "near_max_36", "near_max_100", "near_max_20", "prev_height", "next_height",
            "high_freq", "log_prev_rr", "log_next_rr", "log_local_rr", "log_width", "height")
#: logistic weights over :data:`FEATURES` and the bias: ``python bench/detectors.py --learn`` (:func:`learn`
#: on the candidates of the 22 DS1 records at 360 Hz, lead MLII, VF episodes left out)
WEIGHTS = (2.21549, -1.0547, 0.0365007, -0.278355, -0.0921569, -1.19497, -2.19535, 0.629263, 2.18862, -1.01886,
           -2.11954, -2.51838)
BIAS = 3.95889


def bandpass(x: np.ndarray, fs: float) -> np.ndarray:
    hi = min(BAND_HZ[1], 0.45 * fs)
    sos = ss.butter(2, (BAND_HZ[0], hi), btype="bandpass", output="sos", fs=fs)
    padlen = min(len(x) - 1, 3 * (2 * len(sos) + 1))
    return ss.sosfiltfilt(sos, x, padlen=max(padlen, 0))


def moving_mean(v: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean over ``width`` samples (a sum over fewer at the ends, still divided by ``width``)."""
    a = width // 2  # sample i averages v[i - a : i - a + width]
    c = np.concatenate([np.zeros(a + 1), np.cumsum(v), np.full(width - a, 0.0)])
    c[len(v) + a + 1:] = c[len(v) + a]
    return (c[width:width + len(v)] - c[:len(v)]) / width


def energy(f: np.ndarray, fs: float) -> np.ndarray:
    d = np.empty_like(f)
    d[1:-1] = f[2:] - f[:-2]  # central difference: no delay
    d[0] = d[-1] = 0.0
    np.square(d, out=d)
    w = max(1, int(round(INTEGRATE_S * fs)))
    return moving_mean(moving_mean(d, w), max(1, w // 2))


def level(e: np.ndarray, fs: float, start: int = 0) -> np.ndarray:
    """The beats' typical energy around each sample: the median of the block maxima around it.

    Blocks are aligned to the recording's sample ``start + i = 0 (mod block)``, so a chunk starting at
    ``start`` sees the blocks the whole recording sees."""
    b = max(1, int(BLOCK_S * fs))
    edges = np.arange((-start) % b, len(e), b)
    edges = edges if len(edges) and edges[0] == 0 else np.concatenate([[0], edges]).astype(np.int64)
    m = np.maximum.reduceat(e, edges)
    n = len(m)
    # the median of the 9 blocks around, but no less than a quarter of the minute's: a pause or
    # asystole longer than a few blocks keeps the level its beats set, so noise does not rise to beats
    near = median_filter(m, size=min(LEVEL_BLOCKS, n) | 1, mode="reflect")
    far = median_filter(m, size=min(FLOOR_BLOCKS, n) | 1, mode="reflect")
    m = np.maximum(np.maximum(near, FLOOR * far), 1e-3 * float(np.median(m)) + 1e-300)
    return np.repeat(m, np.diff(np.concatenate([edges, [len(e)]])))


def log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.clip(np.log((a + 1e-3) / (b + 1e-3)), -5.0, 5.0)


def near_max(pos: np.ndarray, h: np.ndarray, within: int) -> np.ndarray:
    """The largest height among the other candidates within ``within`` samples (0 if none)."""
    out = np.zeros(len(h))
    k = 1
    while k < len(h):
        close_after = pos[k:] - pos[:-k] <= within  # pairs (i, i + k)
        if not close_after.any():
            break
        out[:-k] = np.where(close_after, np.maximum(out[:-k], h[k:]), out[:-k])
        out[k:] = np.where(close_after, np.maximum(out[k:], h[:-k]), out[k:])
        k += 1
    return out


def candidates(x: np.ndarray, fs: float, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Candidate samples (m,) and their features (m, len(FEATURES)) of one lead ``x`` (n,) at ``fs``,
    ``x[0]`` being the recording's sample ``start``."""
    f = bandpass(np.asarray(x, dtype=np.float64), fs)
    e = energy(f, fs)
    en = e / level(e, fs, start)
    pos, _ = ss.find_peaks(en, height=MIN_HEIGHT, distance=max(1, int(MIN_GAP_S * fs)))
    h = en[pos]
    n = len(pos)
    if n == 0:
        return pos.astype(np.int64), np.zeros((0, len(FEATURES)))
    m36 = log_ratio(near_max(pos, h, int(0.36 * fs)), h)
    gaps = np.diff(pos) / fs
    prev_gap = np.concatenate([[2.0], gaps])
    next_gap = np.concatenate([gaps, [2.0]])
    strong = pos[(h > STRONG) & (m36 < 0)]
    if len(strong) > 3:
        rr = median_filter(np.diff(strong) / fs, size=min(RR_BEATS, len(strong) - 1) | 1, mode="nearest")
        local = rr[np.clip(np.searchsorted(strong, pos) - 1, 0, len(rr) - 1)]
    else:
        local = np.full(n, 0.8)
    k = max(1, int(round(WIDTH_S * fs)))  # how much energy is left 40 ms either side: a wide peak keeps more
    width = (e[np.clip(pos - k, 0, len(e) - 1)] + e[np.clip(pos + k, 0, len(e) - 1)]) / (2 * e[pos])
    hf_share = high_freq(f, pos, fs)
    logc = lambda v: np.log(np.clip(v, 1e-3, None))  # noqa: E731
    F = np.column_stack([
        logc(h), m36, log_ratio(near_max(pos, h, int(1.0 * fs)), h), log_ratio(near_max(pos, h, int(0.2 * fs)), h),
        log_ratio(np.concatenate([[1.0], h[:-1]]), h), log_ratio(np.concatenate([h[1:], [1.0]]), h),
        hf_share, logc(prev_gap / local), logc(next_gap / local), logc(local), logc(width), h,
    ])
    return pos.astype(np.int64), F


def high_freq(f: np.ndarray, pos: np.ndarray, fs: float) -> np.ndarray:
    """How fast the band-passed QRS moves: the energy of its second difference over that of its first,
    within 60 ms of each candidate, in units of a 20 Hz sine's (so the rate does not enter)."""
    half = max(2, int(0.06 * fs))
    at = np.clip(pos[:, None] + np.arange(-half, half + 1), 0, len(f) - 1)  # (m, window)
    w = f[at]
    d1, d2 = np.diff(w, axis=1), np.diff(w, n=2, axis=1)
    sine = (2 * np.sin(np.pi * 20.0 / fs)) ** 2  # a sine's second difference over its first, in energy
    ratio = (np.sum(d2 * d2, axis=1) + 1e-30) / (np.sum(d1[:, 1:] ** 2, axis=1) + 1e-30) / sine
    return np.clip(np.log(ratio), -5.0, 5.0)


def probability(F: np.ndarray) -> np.ndarray:
    from scipy.special import expit  # the logistic without overflow for far-off candidates

    return expit(F @ np.asarray(WEIGHTS) + BIAS)


def select(pos: np.ndarray, p: np.ndarray, fs: float) -> np.ndarray:
    """The candidates with ``p >= THRESHOLD``, the most probable first, none within the refractory
    period of one kept before (greedy by probability, done in rounds: a candidate more probable than
    every close rival is kept and its rivals dropped)."""
    keep = np.flatnonzero(p >= THRESHOLD)
    pos, p = pos[keep], p[keep]
    gap = int(REFRACTORY_S * fs)
    alive = np.ones(len(pos), dtype=bool)
    kept = np.zeros(len(pos), dtype=bool)
    rank = np.argsort(np.argsort(-p, kind="stable"), kind="stable")  # 0 = most probable; ties by place
    span = 1
    while span < len(pos) and (pos[span:] - pos[:-span] < gap).any():
        span += 1
    while alive.any():
        beaten = np.zeros(len(pos), dtype=bool)
        for k in range(1, span):
            close = (pos[k:] - pos[:-k] < gap) & alive[k:] & alive[:-k]
            beaten[:-k] |= close & (rank[k:] < rank[:-k])
            beaten[k:] |= close & (rank[:-k] < rank[k:])
        win = alive & ~beaten
        kept |= win
        alive &= ~win
        for k in range(1, span):  # a winner's rivals are out
            alive[k:] &= ~((pos[k:] - pos[:-k] < gap) & win[:-k])
            alive[:-k] &= ~((pos[k:] - pos[:-k] < gap) & win[k:])
    return pos[kept]


def detect(x: np.ndarray, fs: float, start: int = 0) -> np.ndarray:
    """R-peak sample indices (sorted) into one lead ``x`` (n,) at ``fs`` Hz, in one piece; ``start``:
    where ``x`` begins in its recording (a chunk's offset, which aligns the level's blocks)."""
    pos, F = candidates(x, fs, start)
    return select(pos, probability(F), fs) if len(pos) else pos


def learn(leads: list[np.ndarray], fs: list[float], references: list[np.ndarray],
          masks: list[np.ndarray] | None = None) -> tuple[np.ndarray, float]:
    """Logistic weights (over :data:`FEATURES`) and bias from recordings and their reference beats.

    A candidate is a beat when it is the candidate nearest a reference beat, within 150 ms; ``masks``
    (per recording, a function of candidate samples -> bool) leave out candidates (VF episodes)."""
    from sklearn.linear_model import LogisticRegression  # scikit-learn: only where this function runs
    from sklearn.preprocessing import StandardScaler  # scikit-learn: only where this function runs

    Xs, ys = [], []
    for i, (x, rate, ref) in enumerate(zip(leads, fs, references)):
        pos, F = candidates(x, rate)
        y = np.zeros(len(pos), dtype=np.int64)
        j = np.clip(np.searchsorted(pos, ref), 1, max(len(pos) - 1, 1))
        for r, k in zip(ref, j):
            best = min((c for c in (k - 1, k) if 0 <= c < len(pos)), key=lambda c: abs(pos[c] - r), default=None)
            if best is not None and abs(pos[best] - r) <= 0.15 * rate:
                y[best] = 1
        keep = np.ones(len(pos), dtype=bool) if masks is None else masks[i](pos)
        Xs.append(F[keep])
        ys.append(y[keep])
    X, y = np.concatenate(Xs), np.concatenate(ys)
    scaler = StandardScaler().fit(X)
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(X), y)
    w = lr.coef_[0] / scaler.scale_
    return w, float(lr.intercept_[0] - np.sum(lr.coef_[0] * scaler.mean_ / scaler.scale_))


#: the fiducial rule: a beat's peak is the sample of largest deflection from the local baseline within this
#: many seconds of where the detector put it. The detector's peak sits in the middle of the QRS energy, the
#: annotators' on the R (or QS) apex; the classifier learnt at the latter.
FIDUCIAL_S = 0.05
BASELINE_S = 0.2   # the local baseline: the median of the signal within this many seconds of the peak


def fiducial(x: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
    """Each peak moved to the largest |x - local median| within :data:`FIDUCIAL_S` (sorted, one per beat:
    two peaks that land on one sample are kept once)."""
    x = np.asarray(x, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    if len(peaks) == 0 or len(x) == 0:
        return peaks
    h, m = max(1, int(round(FIDUCIAL_S * fs))), max(1, int(round(BASELINE_S * fs)))
    padded = np.pad(x, (m, m), mode="edge")
    base = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * m + 1)[peaks], axis=1)
    near = np.lib.stride_tricks.sliding_window_view(padded, 2 * h + 1)[peaks + m - h]
    moved = peaks - h + np.argmax(np.abs(near - base[:, None]), axis=1)
    return np.unique(np.clip(moved, 0, len(x) - 1))
