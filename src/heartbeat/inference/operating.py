"""A recall-first operating point: per-class weights on the probabilities, chosen to reach target sensitivities.

The client wants as many sick beats found as possible, even at the cost of false alarms. A model's
argmax is one operating point among many; this module makes the choice explicit and adjustable.
A beat is labelled ``argmax(p * w)``: with ``w`` all ones that is the plain argmax, and raising
``w_S`` calls more beats S, trading +P of S for its Se.

The weights are chosen on the model's **validation** split (for a ``ds1ds2`` model: records inside
DS1, never DS2), by :func:`choose_weights`, and stored beside the model as
:data:`OPERATING_FILE`. :class:`heartbeat.inference.modelio.LoadedModel` reads them, so ``predict``,
``evaluate``, ``ec57`` and the service all decide with them, under torch and ONNX alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from heartbeat.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

OPERATING_FILE = "operating_point.json"
#: the weights tried for a class, from the plain argmax (1) up
GRID = tuple(float(w) for w in np.geomspace(1.0, 200.0, 61))
#: how much sensitivity any other class may lose, from its plain-argmax value, to find more of a target class
MAX_LOSS = 0.05


def decide(P: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Labels (n,) of probabilities ``P`` (n, k): ``argmax(P * weights)`` (plain argmax without weights)."""
    P = np.asarray(P)
    return P.argmax(1) if weights is None else (P * np.asarray(weights)[None, :]).argmax(1)


def abnormal(P: np.ndarray, labels: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """The project's one rule for "abnormal" (n,) bools, for ``heartbeat predict``, ``ec57`` and the service.

    By default a beat is abnormal when its label (:func:`decide`, at the folder's operating point) is not
    class 0 (N): the flag and the class never disagree. With ``threshold``, a screening setting, it is
    abnormal when ``P(not class 0) = 1 - P[:, 0] >= threshold`` instead, which can flag a beat whose most
    likely class is still N: a lower threshold trades false alarms for fewer missed sick beats."""
    if threshold is None:
        return np.asarray(labels) != 0
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold {threshold}: expected a probability in [0, 1]")
    return (1.0 - np.asarray(P)[:, 0]) >= threshold


def recall_precision(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    se, ppv = np.full(k, np.nan), np.full(k, np.nan)
    for c in range(k):
        pos, called = y == c, pred == c
        if pos.any():
            se[c] = (pos & called).sum() / pos.sum()
        if called.any():
            ppv[c] = (pos & called).sum() / called.sum()
    return se, ppv


def parse_targets(items: list[str] | dict[str, float], classes: tuple[str, ...]) -> dict[str, float]:
    """``['S=0.9', 'V=0.95']`` (or a dict) -> {'S': 0.9, 'V': 0.95}, checked against ``classes``."""
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            name, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"target {item!r}: expected CLASS=SENSITIVITY, e.g. S=0.9")
            try:
                pairs.append((name.strip(), float(value)))
            except ValueError:
                raise ConfigError(f"target {item!r}: {value!r} is not a number") from None
    out = {}
    for name, value in pairs:
        if name not in classes:
            raise ConfigError(f"target class {name!r} is not one of the model's classes {classes}")
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"target {name}={value}: a sensitivity is in (0, 1]")
        out[name] = float(value)
    return out


def choose_weights(y: np.ndarray, P: np.ndarray, classes: tuple[str, ...], targets: dict[str, float],
                   max_loss: float = MAX_LOSS, rounds: int = 3) -> tuple[np.ndarray, dict]:
    """Weights that bring each target class to its target sensitivity on (y, P), the smallest that do, while
    no other class loses more than ``max_loss`` of the sensitivity it has at the plain argmax.

    Coordinate by coordinate over :data:`GRID`, ``rounds`` passes. A class that cannot reach its target
    within that bound gets the weight of its best sensitivity inside it. Returns the weights and what they
    achieve ({'reached': {...}, 'se': {...}, 'ppv': {...}})."""
    y, P = np.asarray(y), np.asarray(P)
    k = len(classes)
    if P.shape != (len(y), k):
        raise DataError(f"probabilities of shape {P.shape} for {len(y)} beats and {k} classes")
    floor = np.nan_to_num(recall_precision(y, P.argmax(1), k)[0], nan=0.0) - max_loss
    w = np.ones(k)
    order = [classes.index(c) for c in targets]
    for _ in range(rounds):
        for c in order:
            goal = targets[classes[c]]
            if not (y == c).any():
                continue
            best, best_se = 1.0, -1.0
            for g in GRID:
                w[c] = g
                se = np.nan_to_num(recall_precision(y, decide(P, w), k)[0], nan=1.0)
                others = np.delete(np.arange(k), c)
                if (se[others] < floor[others] - 1e-12).any():
                    break  # heavier weights only take more from the other classes
                if se[c] > best_se + 1e-12:
                    best, best_se = g, se[c]
                if se[c] >= goal:
                    break
            w[c] = best
    se, ppv = recall_precision(y, decide(P, w), k)
    reached = {classes[c]: bool(se[c] >= targets[classes[c]]) for c in order if not np.isnan(se[c])}
    return w, {"reached": reached, "se": dict(zip(classes, map(float, se))), "ppv": dict(zip(classes, map(float, ppv))),
               "max_loss": max_loss}


def tradeoff(y: np.ndarray, P: np.ndarray, classes: tuple[str, ...], weights: np.ndarray | None = None,
             of: tuple[str, ...] = ("S", "V"), grid=GRID) -> "pd.DataFrame":
    """The Se / +P trade-off of each class in ``of``: its weight swept over ``grid`` (below 1 too, down to
    1/``grid[-1]``), the other weights held at ``weights`` (the folder's operating point, else ones).
    One row per (class, weight): that class's Se and +P, the macro Se over the classes present, and
    whether the row is the held operating point (``at_point``)."""
    y, P = np.asarray(y), np.asarray(P)
    k = len(classes)
    held = np.ones(k) if weights is None else np.asarray(weights, dtype=float)
    present = np.array([(y == c).any() for c in range(k)])
    sweep = sorted({*(1.0 / g for g in grid), *grid})
    rows = []
    for name in of:
        c = classes.index(name)
        for g in sorted({*sweep, float(held[c])}):
            w = held.copy()
            w[c] = g
            se, ppv = recall_precision(y, decide(P, w), k)
            rows.append({"class": name, "weight": g, "Se": float(se[c]), "P": float(ppv[c]),
                         "macro_Se": float(np.nanmean(se[present])), "at_point": bool(np.isclose(g, held[c]))})
    return pd.DataFrame(rows)


def write(folder: str | Path, classes: tuple[str, ...], weights: np.ndarray, targets: dict[str, float],
          chosen_on: str, before: dict, after: dict) -> Path:
    path = Path(folder) / OPERATING_FILE
    path.write_text(json.dumps({"weights": dict(zip(classes, map(float, weights))), "targets": targets,
                                "chosen_on": chosen_on, "before": before, "after": after}, indent=2) + "\n")
    return path


def read(folder: str | Path, classes: tuple[str, ...]) -> np.ndarray | None:
    """The weights stored in a model folder (None where it has none), in ``classes`` order."""
    path = Path(folder) / OPERATING_FILE
    if not path.exists():
        return None
    try:
        weights = json.loads(path.read_text())["weights"]
        out = np.array([float(weights[c]) for c in classes])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not an operating point ({exc}); expected {{'weights': {{class: weight}}}} "
                        f"for classes {classes}") from None
    if not (np.isfinite(out).all() and (out > 0).all()):
        raise DataError(f"{path}: weights must be finite and > 0, got {out.tolist()}")
    return out
