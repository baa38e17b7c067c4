"""Classical baseline: histogram gradient boosting on hand-made beat features.

Not an ``nn.Module``: it is fitted in one call on the whole training set
(``fit(X, y)``), not by the epoch loop, and gives probabilities directly
(``predict_proba``). It shares the deep models' constructor keywords
(``in_channels``, ``num_classes``), so ``fit.model = @GBTBaseline`` can be
built the same way; the fit loop tells the two apart by ``isinstance(model,
torch.nn.Module)``. Features come from ``heartbeat.data.features``;
``class_weight='balanced'`` weights every class equally overall, which suits
the recall-weighted objective on MIT-BIH's rare S and F classes.
"""

from __future__ import annotations

from pathlib import Path

import gin
import joblib
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from heartbeat.data.features import beat_features
from heartbeat.errors import ConfigError

FILENAME = "model.joblib"


@gin.configurable("GBTBaseline")
class GBTBaseline:
    """``HistGradientBoostingClassifier`` on ``beat_features``; probabilities over ``num_classes``.

    ``early_stopping='auto'`` (scikit-learn's default) holds out 10% of the
    training set to stop boosting once the loss stops improving, on sets of
    more than 10,000 beats.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 1,
        max_iter: int = 300,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        class_weight: str | None = "balanced",
        early_stopping: str | bool = "auto",
        downsample: int = 24,
        random_state: int = 0,
    ):
        if in_channels != 1:
            raise ConfigError(f"GBTBaseline: beats have one channel, got in_channels={in_channels}")
        if num_classes < 2:
            raise ConfigError(f"GBTBaseline: num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.downsample = downsample
        self.params = dict(
            max_iter=max_iter,
            learning_rate=learning_rate,
            max_leaf_nodes=max_leaf_nodes,
            min_samples_leaf=min_samples_leaf,
            l2_regularization=l2_regularization,
            class_weight=class_weight,
            early_stopping=early_stopping,
            random_state=random_state,
        )
        self.model = HistGradientBoostingClassifier(**self.params)
        self.feature_names: list[str] | None = None

    def _features(self, X: np.ndarray, rhythm: np.ndarray | None = None) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 3:
            X = X.reshape(len(X), -1)  # (n, 1, time) → (n, time)
        feats, names = beat_features(X, downsample=self.downsample)
        if rhythm is not None:  # the beat's RR features (heartbeat.data.rhythm) as extra columns
            feats = np.concatenate([feats, np.asarray(rhythm, dtype=feats.dtype)], axis=1)
            names = [*names, *(f"rhythm_{i}" for i in range(rhythm.shape[1]))]
        self.feature_names = names
        return feats

    def fit(self, X: np.ndarray, y: np.ndarray, rhythm: np.ndarray | None = None) -> GBTBaseline:
        """Fit on beats ``X`` (n, 187) float32 (and their ``rhythm`` (n, k)), labels ``y`` (n,) in ``[0, num_classes)``."""
        y = np.asarray(y, dtype=np.int64)
        if y.size and (y.min() < 0 or y.max() >= self.num_classes):
            raise ConfigError(f"GBTBaseline: labels must lie in [0, {self.num_classes}), got {y.min()}..{y.max()}")
        self.model.fit(self._features(X, rhythm), y)
        return self

    def predict_proba(self, X: np.ndarray, rhythm: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (n, num_classes); a class absent from training gets 0."""
        proba = self.model.predict_proba(self._features(X, rhythm))  # (n, classes seen in fit)
        out = np.zeros((len(proba), self.num_classes), dtype=np.float64)
        out[:, self.model.classes_.astype(int)] = proba
        return out

    def predict(self, X: np.ndarray, rhythm: np.ndarray | None = None) -> np.ndarray:
        """Most probable class (n,) int64."""
        return self.predict_proba(X, rhythm).argmax(1).astype(np.int64)

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/model.joblib``; returns its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / FILENAME
        state = {"num_classes": self.num_classes, "downsample": self.downsample, "params": self.params}
        joblib.dump({**state, "model": self.model}, path)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> GBTBaseline:
        """Read a baseline written by ``save``; the saved parameters win over any gin bindings."""
        state = joblib.load(Path(directory) / FILENAME)
        obj = cls(state["num_classes"], downsample=state["downsample"], **state["params"])
        obj.model = state["model"]
        return obj
