"""A model folder: everything needed to rebuild, evaluate and retrain one model.

```
models/<tag>/
  config.gin     the operative gin config of the fit (family, its bindings, fit.*)
  model.pt       the weights (state_dict) of a deep model, or
  model.joblib   a fitted classical baseline
  metrics.json   task, classes, validation metrics of the best epoch, history, data source
```

Rebuilding parses ``config.gin`` and asks gin for ``fit.model``: no code change and no
pickled classes, so a folder stays loadable as long as the family's bindings exist.
Loading leaves the caller's gin config as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gin
import numpy as np
import torch

from heartbeat.data.beatset import CLASSES, BeatSet, DataError
from heartbeat.data.rhythm import RHYTHM_NAMES
from heartbeat.errors import ConfigError, NotFoundError
from heartbeat.inputs import BeatInput


@dataclass
class LoadedModel:
    """A model folder, ready to predict beats (n, 187) -> class probabilities (n, classes)."""

    path: Path
    tag: str
    family: str
    task: str
    classes: tuple[str, ...]
    config: str
    info: dict
    net: object
    inputs: BeatInput = BeatInput()
    session: object = None  # an onnxruntime session when loaded with runtime='onnx'

    @property
    def runtime(self) -> str:
        return "torch" if self.session is None else "onnx"

    def predict_proba(self, X: np.ndarray | BeatSet, batch_size: int = 4096,
                      rhythm: np.ndarray | None = None) -> np.ndarray:
        """Probabilities (n, classes) of beats ``X`` (n, 187), with their ``rhythm`` (n, k) where the model
        takes it (``inputs.rhythm``); a BeatSet is checked and gives both (:meth:`proba_beats`)."""
        if isinstance(X, BeatSet):
            return self.proba_beats(X)
        X = np.asarray(X, dtype=np.float32)
        if self.inputs.rhythm and rhythm is None:
            raise DataError(f"model {self.tag} was trained with rhythm input (BeatInput.rhythm = True): "
                            "give each beat's rhythm too")
        rhythm = rhythm if self.inputs.rhythm else None
        if self.session is not None:
            from heartbeat.runtime import onnx_proba

            return onnx_proba(self.session, X, rhythm, batch_size)
        if isinstance(self.net, torch.nn.Module):
            from heartbeat.fit import predict_proba

            return predict_proba(self.net, X, batch_size, rhythm=rhythm)
        return self.net.predict_proba(X, rhythm=rhythm)

    def predict(self, X: np.ndarray | BeatSet, rhythm: np.ndarray | None = None) -> np.ndarray:
        """Class labels (n,) of beats (an array with its rhythm, or a BeatSet)."""
        return self.predict_proba(X, rhythm=rhythm).argmax(1)

    def evaluate(self, beats: BeatSet) -> dict:
        """Every metric (heartbeat.metrics) of this model on ``beats``, per class too, and the confusion matrix."""
        from heartbeat.evaluate import evaluate

        return evaluate(self, beats)

    def proba_beats(self, beats: BeatSet) -> np.ndarray:
        """Probabilities of a BeatSet's beats, refusing beats of another window or without the rhythm it needs."""
        X, rhythm = self.inputs.arrays(beats, f"model {self.tag}")
        return self.predict_proba(X, rhythm=rhythm)

    def predict_beats(self, beats: BeatSet) -> np.ndarray:
        return self.proba_beats(beats).argmax(1)


def family_of(config: str) -> str:
    """The family named by ``fit.model = @Family`` in a gin config text."""
    for line in config.splitlines():
        if line.replace(" ", "").startswith("fit.model=@"):
            return line.split("@", 1)[1].strip()
    raise ConfigError("the config has no 'fit.model = @Family' binding")


def save_model(out: str | Path, model, config: str, info: dict, inputs: BeatInput = BeatInput()) -> Path:
    """Write a model folder (weights or estimator, ``config.gin``, ``metrics.json``).

    ``metrics.json`` also records what the model takes (``inputs``): its beat window, and the names
    of its rhythm features (empty for a beat-only model).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("model.pt", "model.joblib"):
        (out / stale).unlink(missing_ok=True)
    if isinstance(model, torch.nn.Module):
        torch.save(model.state_dict(), out / "model.pt")
    else:
        model.save(out)
    (out / "config.gin").write_text(config)
    info = {"tag": out.name, "family": family_of(config), **info, "window": inputs.window,
            "rhythm": list(RHYTHM_NAMES) if inputs.rhythm else []}
    (out / "metrics.json").write_text(json.dumps(info, indent=2, default=_json_default) + "\n")
    return out


def load_model(path: str | Path, runtime: str = "torch", device: str = "cpu") -> LoadedModel:
    """Rebuild a model folder written by :func:`save_model`.

    ``runtime='onnx'`` predicts with onnxruntime from the folder's ``model.onnx``
    (``heartbeat export``) instead of torch. ``device`` ('cpu', 'cuda', 'auto') is where a deep
    model runs under torch. The caller's gin config is left as it was.
    """
    from heartbeat.runtime import FILENAME, RUNTIMES, onnx_session

    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")
    from heartbeat.config import parse_text, preserved_gin
    from heartbeat.models import BASELINES
    from heartbeat.models.fusion import build_model

    path = Path(path)
    for name in ("config.gin", "metrics.json"):
        if not (path / name).exists():
            raise NotFoundError(f"{path}: not a model folder ({name} missing)")
    config = (path / "config.gin").read_text()
    info = json.loads((path / "metrics.json").read_text())
    task = info["task"]
    family = family_of(config)
    with preserved_gin():
        parse_text(config)
        model_cls = gin.get_bindings("fit")["model"]
        inputs = BeatInput()  # the window and rhythm the model was trained with (defaults for older folders)
        if family in BASELINES:
            net = BASELINES[family].load(path)
        else:
            net = build_model(model_cls, len(CLASSES[task]), inputs.num_rhythm)
            net.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
            from heartbeat.fit import resolve_device

            net.to(resolve_device(device)).eval()
    session = onnx_session(path / FILENAME) if runtime == "onnx" else None
    return LoadedModel(path, info.get("tag", path.name), family, task, CLASSES[task], config, info, net, inputs,
                       session)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")
