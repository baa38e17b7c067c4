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

import hashlib
from dataclasses import dataclass
from pathlib import Path

import gin
import numpy as np
import torch

from heartbeat.config import parse_text, preserved_gin
from heartbeat.data.beatset import CLASSES, BeatSet, DataError
from heartbeat.data.inputs import BeatInput
from heartbeat.errors import ConfigError, NotFoundError
from heartbeat.inference.modelinfo import ModelInfo
from heartbeat.inference.operating import decide
from heartbeat.inference.operating import read as read_operating_point
from heartbeat.inference.runtime import FILENAME, RUNTIMES, onnx_proba, onnx_session
from heartbeat.metrics import classification_metrics, confusion
from heartbeat.models import BASELINES
from heartbeat.models.fusion import build_model
from heartbeat.training.fit import predict_proba, resolve_device

__all__ = ["LoadedModel", "ModelInfo", "folder_version", "load_model", "parameter_count", "save_model"]


@dataclass
class LoadedModel:
    """A model folder, ready to predict beats (n, 187) -> class probabilities (n, classes)."""

    path: Path
    tag: str
    family: str
    task: str
    classes: tuple[str, ...]
    config: str
    info: "ModelInfo"  # the folder's metrics.json, typed
    net: object
    inputs: BeatInput = BeatInput()
    session: object = None  # an onnxruntime session when loaded with runtime='onnx'
    #: per-class weights of the recall-first operating point (heartbeat.inference.operating), None: the plain argmax
    weights: np.ndarray | None = None

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
            return onnx_proba(self.session, X, rhythm, batch_size)
        if isinstance(self.net, torch.nn.Module):
            return predict_proba(self.net, X, batch_size, rhythm=rhythm)
        return self.net.predict_proba(X, rhythm=rhythm)

    def predict(self, X: np.ndarray | BeatSet, rhythm: np.ndarray | None = None) -> np.ndarray:
        """Class labels (n,) of beats (an array with its rhythm, or a BeatSet), at the folder's operating point."""
        return self.decide(self.predict_proba(X, rhythm=rhythm))

    def decide(self, P: np.ndarray) -> np.ndarray:
        """Labels of probabilities ``P``: argmax, weighted by the operating point where the folder has one."""
        return decide(P, self.weights)

    def evaluate(self, beats: BeatSet) -> dict:
        """Every metric (heartbeat.metrics) of this model on ``beats``, per class too, and the confusion matrix.

        The private key ``_pred`` holds the labels themselves (``heartbeat.evaluation.evaluate.json_ready`` drops it)."""
        if beats.task != self.task:
            raise DataError(f"model {self.tag} is for task {self.task!r} but the data is {beats.task!r}")
        pred = self.predict_beats(beats)
        metrics = classification_metrics(beats.y, pred, self.classes)
        present = set(np.unique(beats.y))
        return {
            "model": self.tag,
            "n": len(beats),
            **{k: v for k, v in metrics.items() if k != "n"},
            "recall_per_class": {c: metrics[f"recall_{c}"] for c in self.classes},
            "absent_classes": [c for i, c in enumerate(self.classes) if i not in present],
            "confusion": confusion(beats.y, pred, len(self.classes)).tolist(),
            "_pred": pred,
        }

    def proba_beats(self, beats: BeatSet) -> np.ndarray:
        """Probabilities of a BeatSet's beats, refusing beats of another window or without the rhythm it needs."""
        X, rhythm = self.inputs.arrays(beats, f"model {self.tag}")
        return self.predict_proba(X, rhythm=rhythm)

    def predict_beats(self, beats: BeatSet) -> np.ndarray:
        return self.decide(self.proba_beats(beats))


def parameter_count(net) -> int | None:
    """Trainable and frozen weights of a torch model (an ensemble counts every member); None for a model
    that has no torch parameters (the gradient-boosting baseline: its size is trees, not weights)."""
    if not isinstance(net, torch.nn.Module):
        return None
    return int(sum(p.numel() for p in net.parameters()))


def family_of(config: str) -> str:
    """The family named by ``fit.model = @Family`` in a gin config text."""
    for line in config.splitlines():
        if line.replace(" ", "").startswith("fit.model=@"):
            return line.split("@", 1)[1].strip()
    raise ConfigError("the config has no 'fit.model = @Family' binding")


def save_model(out: str | Path, model, config: str, info: "ModelInfo | dict", inputs: BeatInput | None = None) -> Path:
    """Write a model folder (weights or estimator, ``config.gin``, ``metrics.json``).

    ``metrics.json`` is the :class:`ModelInfo` record; it also records what the model takes
    (``inputs``): its beat window, and the names of its rhythm features (empty for a beat-only model).
    Without ``inputs`` they are read from ``config`` (its BeatInput bindings), never assumed, so a
    P-wave or rhythm model is recorded as one whoever saves it.
    """
    if inputs is None:
        with preserved_gin():
            parse_text(config)
            inputs = BeatInput()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("model.pt", "model.joblib", "model.onnx"):  # an old export would no longer match the weights
        (out / stale).unlink(missing_ok=True)
    if isinstance(model, torch.nn.Module):
        torch.save(model.state_dict(), out / "model.pt")
    else:
        model.save(out)
    (out / "config.gin").write_text(config)
    record = info if isinstance(info, ModelInfo) else ModelInfo.from_dict(info)
    record.tag, record.family = out.name, family_of(config)
    record.window, record.rhythm = inputs.window, list(inputs.names)
    record.write(out)
    return out


def load_model(path: str | Path, runtime: str = "torch", device: str = "cpu", safe: bool = False,
               trust_pickle: bool = False) -> LoadedModel:
    """Rebuild a model folder written by :func:`save_model`.

    ``safe``: the folder is not trusted (the server loads it): its ``config.gin`` may only bind the
    project's own configurables, with no ``import`` lines (heartbeat.config.check_safe), checked
    before gin runs any of it. A classical baseline's ``model.joblib`` is a pickle, and unpickling
    runs whatever code the file names, so an untrusted folder holding one is refused (ConfigError
    naming the file) unless ``trust_pickle``; torch weights load with ``weights_only=True`` and ONNX
    files hold no code, so those folders need no such trust.

    ``runtime='onnx'`` predicts with onnxruntime from the folder's ``model.onnx``
    (``heartbeat export``) instead of torch. ``device`` ('cpu', 'cuda', 'auto') is where a deep
    model runs under torch. The caller's gin config is left as it was.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")

    path = Path(path)
    for name in ("config.gin", "metrics.json"):
        if not (path / name).exists():
            raise NotFoundError(f"{path}: not a model folder ({name} missing)")
    config = (path / "config.gin").read_text()
    record = ModelInfo.read(path)
    task = record.task
    family = family_of(config)
    with preserved_gin():
        parse_text(config, safe=safe, where=str(path / "config.gin"))
        model_cls = gin.get_bindings("fit")["model"]
        inputs = BeatInput()  # the window and rhythm the model was trained with (defaults for older folders)
        if family in BASELINES:
            if safe and not trust_pickle:
                raise ConfigError(f"{path / 'model.joblib'}: a {family} folder holds a pickle, which runs code "
                                  "when it loads; serve it only if you made it yourself, with --trust-pickle")
            net = BASELINES[family].load(path)
        else:
            net = build_model(model_cls, len(CLASSES[task]), inputs.num_rhythm)
            net.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))

            net.to(resolve_device(device)).eval()
    session = onnx_session(path / FILENAME) if runtime == "onnx" else None

    return LoadedModel(path, record.tag or path.name, family, task, CLASSES[task], config, record, net, inputs,
                       session, read_operating_point(path, CLASSES[task]))


def folder_version(model_dir: Path) -> str:
    """``<tag>@<hash>``: the SHA-256 of the folder's config and weights, so a version names exact weights."""
    h = hashlib.sha256()
    for name in ("config.gin", "model.pt", "model.joblib"):
        if (model_dir / name).exists():
            h.update(name.encode() + (model_dir / name).read_bytes())
    return f"{model_dir.name}@{h.hexdigest()[:12]}"
