"""Hand-made features of a beat, for the classical (gradient-boosting) baseline.

A beat here starts at its R peak and runs for about 1.2 RR intervals before
zero padding (Kachuee et al. 2018), so its unpadded length is a proxy of the
heart rate and its first sample is the R amplitude. ``beat_features`` turns
beats ``(n, 187)`` into ``(n, f)`` features, all vectorised over beats:

- statistical, over the unpadded part: mean, std, skew, kurtosis, min, max,
  5/25/50/75/95th percentiles. Amplitude distribution separates e.g. wide
  ventricular beats (much time far from baseline) from narrow normal ones.
- morphological: R amplitude (first sample); value and position of the main
  minimum (S wave / deep trough of a ventricular beat) in the first 0.2 s;
  value and position of the main maximum from 0.08 s after R up to 0.8 of the
  beat (T wave, or a premature next beat); unpadded length (RR proxy, short
  for premature S/V beats); number of slope sign changes (notches,
  fragmentation, noise); line length (total variation); energy in eight
  equal time segments (where in the cycle the activity is).
- spectral: fraction of energy in FFT bands 0-2, 2-5, 5-10, 10-20, 20-40 and
  40-62.5 Hz, and log total energy. QRS energy sits around 5-20 Hz, so wide
  QRS complexes (V, F) shift it to lower bands.
- multiresolution: the beat averaged down to ``downsample`` points (24 by
  default, ~16 Hz), which keeps the coarse shape for the trees to split on.

Positions are in samples at 125 Hz. Beats that are all zeros get length 1 and
finite features.
"""

from __future__ import annotations

import numpy as np

from heartbeat.errors import DataError

FS = 125.0
PERCENTILES = (5, 25, 50, 75, 95)
SPECTRAL_BANDS = ((0.0, 2.0), (2.0, 5.0), (5.0, 10.0), (10.0, 20.0), (20.0, 40.0), (40.0, FS / 2 + 1e-9))
N_SEGMENTS = 8
S_WINDOW = 25  # 0.2 s after R: where the S wave / main trough of the QRS lies
T_START = 10  # 0.08 s after R: past the QRS, where T-wave search begins
T_END_FRACTION = 0.8  # stop before the next R peak at ~1/1.2 of the beat


def signal_length(X: np.ndarray) -> np.ndarray:
    """Unpadded length of each beat: index of its last non-zero sample + 1, at least 1. (n,) int."""
    nonzero = X != 0
    last = X.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last + 1, 1)


def _masked_percentiles(X: np.ndarray, length: np.ndarray, qs: tuple[int, ...]) -> np.ndarray:
    """Linear-interpolated percentiles of X[i, :length[i]] for every row: (n, len(qs))."""
    padded = np.where(np.arange(X.shape[1])[None, :] < length[:, None], X, np.inf)
    s = np.sort(padded, axis=1)  # the padding's +inf sorts to the end
    out = []
    for q in qs:
        pos = (length - 1) * (q / 100.0)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, length - 1)
        frac = pos - lo
        v_lo = np.take_along_axis(s, lo[:, None], axis=1)[:, 0]
        v_hi = np.take_along_axis(s, hi[:, None], axis=1)[:, 0]
        out.append(v_lo + frac * (v_hi - v_lo))
    return np.stack(out, axis=1)


def _window_argext(X: np.ndarray, start: np.ndarray, stop: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Value and index of the max/min of X[i, start[i]:stop[i]] (stop > start enforced)."""
    t = np.arange(X.shape[1])[None, :]
    stop = np.maximum(stop, start + 1)
    inside = (t >= start[:, None]) & (t < stop[:, None])
    if kind == "max":
        idx = np.argmax(np.where(inside, X, -np.inf), axis=1)
    else:
        idx = np.argmin(np.where(inside, X, np.inf), axis=1)
    return X[np.arange(len(X)), idx], idx


def beat_features(X: np.ndarray, downsample: int = 24) -> tuple[np.ndarray, list[str]]:
    """Features of beats ``X`` (n, 187) → (``(n, f)`` float32, ``f`` names). See the module docstring."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 3 and X.shape[1] == 1:
        X = X[:, 0]  # (n, 1, time) as the models take it
    if X.ndim != 2:
        raise DataError(f"beat_features: expected beats of shape (n, time), got {X.shape}")
    n, T = X.shape
    t = np.arange(T)[None, :]
    length = signal_length(X)  # (n,)
    mask = t < length[:, None]  # (n, T) unpadded part
    cols: list[np.ndarray] = []
    names: list[str] = []

    def add(name: str, value: np.ndarray) -> None:
        cols.append(np.asarray(value, dtype=np.float64).reshape(n, 1))
        names.append(name)

    # statistical, over the unpadded part
    L = length.astype(np.float64)
    mean = (X * mask).sum(1) / L
    centred = (X - mean[:, None]) * mask
    var = (centred**2).sum(1) / L
    std = np.sqrt(var)
    safe = np.where(std > 1e-8, std, 1.0)
    skew = np.where(std > 1e-8, (centred**3).sum(1) / L / safe**3, 0.0)
    kurt = np.where(std > 1e-8, (centred**4).sum(1) / L / safe**4 - 3.0, 0.0)
    add("mean", mean)
    add("std", std)
    add("skew", skew)
    add("kurtosis", kurt)
    add("min", np.where(mask, X, np.inf).min(1))
    add("max", np.where(mask, X, -np.inf).max(1))
    cols.append(_masked_percentiles(X, length, PERCENTILES))
    names += [f"p{q}" for q in PERCENTILES]

    # morphological
    zeros = np.zeros(n, dtype=int)
    add("r_amplitude", X[:, 0])
    s_val, s_pos = _window_argext(X, zeros, np.minimum(length, S_WINDOW), "min")
    add("s_min", s_val)
    add("s_min_pos", s_pos)
    t_stop = np.floor(T_END_FRACTION * length).astype(int)
    t_val, t_pos = _window_argext(X, np.full(n, T_START), t_stop, "max")
    add("t_max", t_val)
    add("t_max_pos", t_pos)
    add("t_max_pos_rel", t_pos / L)
    add("length", length)
    d = np.diff(X, axis=1)  # (n, T-1)
    dmask = t[:, 1:] < length[:, None]  # derivative inside the unpadded part
    sign = np.sign(d)
    changes = (sign[:, 1:] * sign[:, :-1] < 0) & dmask[:, 1:]
    add("slope_changes", changes.sum(1))
    add("line_length", (np.abs(d) * dmask).sum(1))
    edges = np.linspace(0, T, N_SEGMENTS + 1).round().astype(int)
    sq = X**2
    for k in range(N_SEGMENTS):
        add(f"energy_seg{k}", sq[:, edges[k] : edges[k + 1]].sum(1))

    # spectral, on the mean-removed unpadded part (the padding stays zero)
    spec = np.abs(np.fft.rfft(centred, axis=1)) ** 2  # (n, T//2 + 1)
    freqs = np.fft.rfftfreq(T, d=1.0 / FS)
    total = spec.sum(1)
    safe_total = np.where(total > 0, total, 1.0)
    for lo, hi in SPECTRAL_BANDS:
        band = (freqs >= lo) & (freqs < hi)
        add(f"band_{lo:g}_{min(hi, FS / 2):g}hz", spec[:, band].sum(1) / safe_total)
    add("log_energy", np.log1p(total))

    # multiresolution: block means of the zero-padded beat
    if downsample > 0:
        width = int(np.ceil(T / downsample))
        padded = np.pad(X, ((0, 0), (0, width * downsample - T)))
        cols.append(padded.reshape(n, downsample, width).mean(2))
        names += [f"ds{i}" for i in range(downsample)]

    return np.concatenate(cols, axis=1).astype(np.float32), names
