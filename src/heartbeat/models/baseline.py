"""Classical baselines on hand-made beat features: gradient boosting, and de Chazal's linear discriminants.

Neither is an ``nn.Module``: each is fitted in one call on the whole training set
(``fit(X, y)``), not by the epoch loop, and gives probabilities directly
(``predict_proba``). They share the deep models' constructor keywords
(``in_channels``, ``num_classes``), so ``fit.model = @GBTBaseline`` or
``@LDABaseline`` is built the same way; the fit loop tells the two kinds apart by
``isinstance(model, torch.nn.Module)``. Features come from
``heartbeat.data.features``, with the beat's rhythm (and patient context, where
``BeatInput`` asks for it) as extra columns.

- ``GBTBaseline``: scikit-learn's ``HistGradientBoostingClassifier``;
  ``class_weight='balanced'`` weights every class equally overall, which suits
  the recall-weighted objective on MIT-BIH's rare S and F classes.
- ``LDABaseline``: standardised features, then ``LinearDiscriminantAnalysis``
  with Ledoit-Wolf shrinkage and equal priors, the classifier of de Chazal et al.
  (2004), the first published DS1 → DS2 result. One shared covariance and a
  linear boundary have few ways to learn a training patient by heart, which is
  what the inter-patient protocol punishes. The rhythm columns enter as logs, so
  that a ratio and its inverse lie the same distance from 1.
"""

from __future__ import annotations

from pathlib import Path

import gin
import joblib
import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from heartbeat.data.features import beat_features
from heartbeat.errors import ConfigError

FILENAME = "model.joblib"
LOG_FLOOR = 1e-3  # rhythm values are >= 0; their log is taken from this floor up


class FeatureBaseline:
    """What both baselines share: the features, the probabilities over every class, save and load.

    A subclass sets ``name`` and builds its scikit-learn estimator in ``_estimator(y)`` from the
    parameters it keeps in ``self.params``."""

    name = "FeatureBaseline"
    log_rhythm = False

    def __init__(self, num_classes: int, *, in_channels: int = 1, downsample: int = 24, **params):
        if in_channels != 1:
            raise ConfigError(f"{self.name}: beats have one channel, got in_channels={in_channels}")
        if num_classes < 2:
            raise ConfigError(f"{self.name}: num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.downsample = downsample
        self.params = params
        self.model = None
        self.feature_names: list[str] | None = None

    def _estimator(self, y: np.ndarray):
        raise NotImplementedError

    def _features(self, X: np.ndarray, rhythm: np.ndarray | None = None) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 3:
            X = X.reshape(len(X), -1)  # (n, 1, time) → (n, time)
        feats, names = beat_features(X, downsample=self.downsample)
        if rhythm is not None:  # the beat's RR features (heartbeat.data.rhythm) as extra columns
            rhythm = np.asarray(rhythm, dtype=feats.dtype)
            if self.log_rhythm:
                rhythm = np.log(np.maximum(rhythm, LOG_FLOOR))
            feats = np.concatenate([feats, rhythm], axis=1)
            names = [*names, *(f"rhythm_{i}" for i in range(rhythm.shape[1]))]
        self.feature_names = names
        return feats

    def fit(self, X: np.ndarray, y: np.ndarray, rhythm: np.ndarray | None = None) -> FeatureBaseline:
        """Fit on beats ``X`` (n, 187) float32 (and their ``rhythm`` (n, k)), labels ``y`` (n,) in ``[0, num_classes)``."""
        y = np.asarray(y, dtype=np.int64)
        if y.size and (y.min() < 0 or y.max() >= self.num_classes):
            raise ConfigError(f"{self.name}: labels must lie in [0, {self.num_classes}), got {y.min()}..{y.max()}")
        self.model = self._estimator(y)
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
    def load(cls, directory: str | Path) -> FeatureBaseline:
        """Read a baseline written by ``save``; the saved parameters win over any gin bindings."""
        state = joblib.load(Path(directory) / FILENAME)
        obj = cls(state["num_classes"], downsample=state["downsample"], **state["params"])
        obj.model = state["model"]
        return obj


@gin.configurable("GBTBaseline")
class GBTBaseline(FeatureBaseline):
    """``HistGradientBoostingClassifier`` on ``beat_features``; probabilities over ``num_classes``.

    ``early_stopping='auto'`` (scikit-learn's default) holds out 10% of the
    training set to stop boosting once the loss stops improving, on sets of
    more than 10,000 beats.
    """

    name = "GBTBaseline"

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
        super().__init__(num_classes, in_channels=in_channels, downsample=downsample, max_iter=max_iter,
                         learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
                         min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
                         class_weight=class_weight, early_stopping=early_stopping, random_state=random_state)

    def _estimator(self, y: np.ndarray) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(**self.params)


@gin.configurable("LDABaseline")
class LDABaseline(FeatureBaseline):
    """Standardised ``beat_features`` (and log rhythm) into ``LinearDiscriminantAnalysis``.

    ``shrinkage='auto'`` is Ledoit-Wolf's estimate of the shared covariance (scikit-learn's ``lsqr``
    solver), steady with the features' many correlated columns. ``priors='equal'`` gives each class
    seen in training the same prior, the counterpart of the boosting's balanced class weights;
    ``'data'`` keeps the training frequencies.
    """

    name = "LDABaseline"
    log_rhythm = True

    def __init__(self, num_classes: int, *, in_channels: int = 1, shrinkage: str | float | None = "auto",
                 priors: str = "equal", downsample: int = 24):
        if priors not in ("equal", "data"):
            raise ConfigError(f"LDABaseline.priors must be 'equal' or 'data', got {priors!r}")
        if shrinkage is not None and shrinkage != "auto" and not 0.0 <= float(shrinkage) <= 1.0:
            raise ConfigError(f"LDABaseline.shrinkage must be 'auto', None or a number in [0, 1], got {shrinkage!r}")
        super().__init__(num_classes, in_channels=in_channels, downsample=downsample, shrinkage=shrinkage,
                         priors=priors)

    def _estimator(self, y: np.ndarray):
        seen = np.unique(y)
        priors = np.full(len(seen), 1.0 / len(seen)) if self.params["priors"] == "equal" else None
        lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=self.params["shrinkage"], priors=priors)
        return make_pipeline(StandardScaler(), lda)
