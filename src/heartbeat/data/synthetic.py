"""A built-in synthetic beat set, so a fresh machine can run every command at once.

It is NOT ECG data and no figure obtained on it means anything clinically: every command
that falls back to it says so loudly. Each class has its own morphology, made of gaussian
waves (P, QRS, T) after an R peak at t=0 as in the Kaggle beats, with random amplitude,
width, heart period and noise; classes are imbalanced like MIT-BIH (N 84.6%, S 2.2%,
V 6.3%, F 0.8%, Q 6.1%). Deterministic by seed.
"""

from __future__ import annotations

import numpy as np

from heartbeat.data.beatset import BEAT_LEN, CLASSES, BeatSet, LoadReport

#: class shares of the 43 shared MIT-BIH records (N S V F Q).
MITBIH_SHARES = np.array([82624, 2197, 6118, 787, 5979], dtype=np.float64)
PTB_SHARES = np.array([590, 1448], dtype=np.float64)

# (centre in periods, width in samples, amplitude) of the waves after the R peak, per class.
_WAVES = {
    "mitbih": [
        [(0.0, 3, 0.55), (0.35, 10, 0.18), (0.92, 6, 0.08)],    # N: narrow QRS, T, next P
        [(0.0, 3, 0.50), (0.30, 9, 0.15), (0.60, 5, 0.12)],     # S: early premature P
        [(0.0, 9, 0.65), (0.25, 14, -0.25), (0.55, 12, 0.10)],  # V: wide QRS, inverted T
        [(0.0, 6, 0.55), (0.28, 12, -0.10), (0.50, 10, 0.15)],  # F: fusion of N and V
        [(0.0, 2, 0.80), (0.10, 4, -0.35), (0.40, 10, 0.20)],   # Q: paced spike
    ],
    "ptb": [
        [(0.0, 3, 0.55), (0.35, 10, 0.18)],                     # normal
        [(0.0, 4, 0.50), (0.18, 12, 0.20), (0.40, 10, -0.12)],  # ST elevation, inverted T
    ],
}


def synthetic_beats(n: int = 20000, task: str = "mitbih", seed: int = 0) -> BeatSet:
    """``n`` synthetic beats of ``task`` with the task's class imbalance (each class at least 20)."""
    rng = np.random.default_rng(seed)
    shares = MITBIH_SHARES if task == "mitbih" else PTB_SHARES
    k = len(CLASSES[task])
    counts = np.maximum(np.round(shares / shares.sum() * n).astype(int), 20)
    y = np.repeat(np.arange(k), counts)
    rng.shuffle(y)
    t = np.arange(BEAT_LEN, dtype=np.float64)[None, :]
    period = rng.uniform(90, 150, size=(len(y), 1))       # samples between R peaks (0.7-1.2 s)
    X = np.full((len(y), BEAT_LEN), 0.25)
    for c, waves in enumerate(_WAVES[task]):
        rows = y == c
        for centre, width, amp in waves:
            a = amp * rng.uniform(0.8, 1.2, size=(rows.sum(), 1))
            w = width * rng.uniform(0.8, 1.25, size=(rows.sum(), 1))
            X[rows] += a * np.exp(-0.5 * ((t - centre * period[rows]) / w) ** 2)
    X += rng.normal(0, 0.015, size=X.shape)
    X = np.clip(X, 0, 1)
    X[t >= np.round(1.2 * period)] = 0.0                  # zero padding after 1.2 T, as in the real beats
    report = LoadReport(source=f"built-in synthetic beats (seed {seed})", rows_read=len(y),
                        notes=["SYNTHETIC DATA: not ECG; figures on it mean nothing clinically"])
    return BeatSet(X=X.astype(np.float32), y=y, task=task, record=None, report=report)
