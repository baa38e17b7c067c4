"""Data shift: how the models fare on patients they never saw and on degraded signals.

A model scored on an intra-patient test split has seen other beats of every test patient
during training; that flatters it. Two checks show by how much:

- **Unseen patients.** A model fitted with ``--holdout`` (``ds2``: five records of de Chazal's
  DS2) never saw those patients; it is scored on them beside its intra-patient test figures.
- **Graded corruption.** The same test beats under Gaussian noise, baseline wander and
  amplitude change, each at :data:`LEVELS` strengths (level 0 is the clean beat). The
  distortions are those of :class:`heartbeat.data.augment.Augment` with one strength set and
  ``p = 1``, so training augmentation and this check share one implementation. Level 1 is
  at or near the strength the default training augmentation already uses
  (``gin/base.gin``); the higher levels go beyond anything seen in training.

``shift_report`` writes ``results/shift/patients.csv`` and ``results/shift/corruption.csv``;
the summary and the notebook read them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from heartbeat.data.augment import Augment
from heartbeat.data.beatset import BeatSet
from heartbeat.errors import ConfigError, DataError
from heartbeat.evaluation.evaluate import model_splits
from heartbeat.metrics import classification_metrics

#: kind -> (the Augment strength it sets, the strengths of levels 1..4). Beats are scaled to
#: [0, 1], so 0.1 is a tenth of a window's range.
LEVELS: dict[str, tuple[str, tuple[float, ...]]] = {
    "noise": ("noise_std", (0.01, 0.03, 0.06, 0.1)),     # white noise, standard deviation
    "wander": ("wander", (0.02, 0.1, 0.2, 0.4)),         # 0.1-0.5 Hz sinusoid, amplitude
    "amplitude": ("scale", (0.1, 0.3, 0.5, 0.7)),        # gain drawn from 1 ± strength
}


def strength(kind: str, level: int) -> float:
    """The strength of ``kind`` at ``level`` (0: none)."""
    if kind not in LEVELS:
        raise ConfigError(f"unknown corruption {kind!r}; expected one of {sorted(LEVELS)}")
    steps = LEVELS[kind][1]
    if not 0 <= level <= len(steps):
        raise ConfigError(f"corruption level must be 0..{len(steps)}, got {level}")
    return 0.0 if level == 0 else steps[level - 1]


def corrupt(X: np.ndarray, kind: str, level: int, seed: int = 0) -> np.ndarray:
    """A corrupted copy of beats ``X`` (n, 187). The same seed draws the same randomness at every
    level, so a higher level is the same distortion scaled up (strictly further from the clean beat)."""
    value = strength(kind, level)
    if value == 0:
        return np.array(X, dtype=np.float32, copy=True)
    # every strength explicit: Augment is gin-configurable, and after a model's config.gin is parsed
    # gin would fill the ones left out with that model's training augmentation
    strengths = {"noise_std": 0.0, "scale": 0.0, "wander": 0.0, "shift": 0, "warp": 0.0, LEVELS[kind][0]: value}
    augment = Augment(**strengths, p=1.0)
    generator = torch.Generator().manual_seed(seed)
    return augment(torch.as_tensor(np.asarray(X, dtype=np.float32)), generator).numpy()


def _scores(model, beats: BeatSet, X: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of ``model`` on ``beats`` (or on ``X`` in their place: corrupted beats keep their rhythm)."""
    clean, rhythm = model.inputs.arrays(beats, f"model {model.tag}")
    pred = model.predict(clean if X is None else X, rhythm=rhythm)
    return classification_metrics(beats.y, pred, model.classes)


def patient_rows(model, test: BeatSet, holdout: BeatSet, clean: dict[str, float] | None = None) -> dict:
    """One row: the model's intra test figures (``clean``, if already scored) beside those on the held-out patients."""
    t, h = clean or _scores(model, test), _scores(model, holdout)
    present = set(np.unique(holdout.y))
    row = {"model": model.tag, "trained_on": model.info.split,
           "test_recall_macro": t["recall_macro"], "holdout_recall_macro": h["recall_macro"],
           "test_f1_macro": t["f1_macro"], "holdout_f1_macro": h["f1_macro"],
           "test_f2_macro": t["f2_macro"], "holdout_f2_macro": h["f2_macro"]}
    for i, c in enumerate(model.classes):
        row[f"holdout_recall_{c}"] = h[f"recall_{c}"] if i in present else np.nan
    row.update({"holdout_abnormal_sensitivity": h["abnormal_sensitivity"], "test_n": len(test),
                "holdout_n": len(holdout), "holdout_records": ",".join(model.info.holdout or ())})
    return row


def corruption_rows(model, test: BeatSet, seed: int = 0, clean: dict[str, float] | None = None) -> list[dict]:
    """Rows (model, kind): macro recall at every level (L0: the clean beats, scored once), then the strengths."""
    clean = clean or _scores(model, test)
    rows = []
    for kind, (_, steps) in LEVELS.items():
        row = {"model": model.tag, "corruption": kind, "L0": clean["recall_macro"]}
        for level in range(1, len(steps) + 1):
            row[f"L{level}"] = _scores(model, test, corrupt(test.X, kind, level, seed))["recall_macro"]
        row.update({f"L{level}_strength": strength(kind, level) for level in range(1, len(steps) + 1)})
        rows.append(row)
    return rows


def shift_report(models_root: str | Path = "models", data: str | Path | None = None,
                 out: str | Path = "results/shift", seed: int = 0, log=print) -> dict[str, pd.DataFrame]:
    """Score every model folder on its held-out patients and its corrupted test beats; write the CSVs."""
    patients, corruption = [], []
    for model, test, ds in model_splits(models_root, "test", data):
        if ds.synthetic and not model.info.synthetic:
            raise DataError(f"{model.tag} was trained on real data but no data was found: give --data")
        clean = _scores(model, test)
        if ds.holdout is not None:
            patients.append(patient_rows(model, test, ds.holdout, clean))
            r = patients[-1]
            log(f"  {model.tag:<16} macro recall: test {r['test_recall_macro']:.4f}, "
                f"unseen patients {r['holdout_recall_macro']:.4f}")
        elif ds.split == "ds1ds2":
            log(f"  {model.tag:<16} ds1ds2: its test split is unseen patients (DS2), macro recall "
                f"{clean['recall_macro']:.4f}; per-class Se and +P: heartbeat protocol")
        else:
            log(f"  {model.tag:<16} trained without a patient holdout: no unseen-patient figures")
        corruption.extend(corruption_rows(model, test, seed, clean))
        top = {kind: f"L{len(steps)}" for kind, (_, steps) in LEVELS.items()}
        log(f"  {model.tag:<16} macro recall clean -> strongest: " + ", ".join(
            f"{r['corruption']} {r['L0']:.3f} -> {r[top[r['corruption']]]:.3f}"
            for r in corruption if r["model"] == model.tag))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"patients": pd.DataFrame(patients), "corruption": pd.DataFrame(corruption)}
    for name, table in tables.items():
        if len(table):
            table.to_csv(out / f"{name}.csv", index=False, float_format="%.6f")
            log(f"wrote {out / f'{name}.csv'}")
    return tables
