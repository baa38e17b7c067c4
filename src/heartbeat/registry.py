"""MLflow tracking store and model registry, shared by the search, retraining and the service.

The tracking URI is ``$MLFLOW_TRACKING_URI`` if set, else a SQLite store in the project
(``mlflow.db``): a database-backed store, because the model registry needs one. A registered
model is an MLflow pyfunc whose artifact ``model_dir`` is a heartbeat model folder
(:mod:`heartbeat.inference.modelio`), so it can be served by MLflow or rebuilt by heartbeat.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from importlib.metadata import requires
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd

from heartbeat.data.readers import SIGNAL_COLUMNS
from heartbeat.data.sources import project_root
from heartbeat.errors import RegistryError


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def use_tracking() -> str:
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


with warnings.catch_warnings():  # MLflow nags about type hints it cannot validate; beats are checked on load
    warnings.simplefilter("ignore", UserWarning)

    class HeartbeatModel(mlflow.pyfunc.PythonModel):
        """pyfunc wrapper: beats -> class probabilities (n, classes).

        The input is an array (n, 187) of beats, or a DataFrame with the signal columns "0".."186"
        and, for a model trained with rhythm, the rhythm columns it takes (``model.inputs.names``),
        as ``heartbeat data build`` writes them."""

        def load_context(self, context):
            # heartbeat.inference.modelio brings torch: only where this function runs
            from heartbeat.inference.modelio import load_model

            self.model = load_model(context.artifacts["model_dir"])

        def predict(self, context, model_input, params=None) -> np.ndarray:
            if isinstance(model_input, pd.DataFrame) and set(SIGNAL_COLUMNS) <= set(map(str, model_input.columns)):
                frame = model_input.rename(columns=str)
                rhythm = frame[list(self.model.inputs.names)].to_numpy(np.float32) if self.model.inputs.rhythm else None
                return self.model.predict_proba(frame[SIGNAL_COLUMNS].to_numpy(np.float32), rhythm=rhythm)
            return self.model.predict_proba(np.asarray(model_input, dtype=np.float32))


def requirements() -> list[str]:
    """The installed heartbeat's own dependencies (its base requirements, without extras): the pyfunc
    carries heartbeat's code itself (``code_paths``), since heartbeat is not a published package."""
    return [r for r in (requires("heartbeat") or []) if "extra ==" not in r]


def register_model_dir(model_dir: str | Path, name: str, experiment: str = "heartbeat-models",
                       tags: dict | None = None) -> str:
    """Log a model folder as a pyfunc in a new run and register it as a new version of ``name``.

    Returns the version number as a string.
    """
    use_tracking()
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"register-{Path(model_dir).name}") as run:
        mlflow.set_tags(tags or {})
        mlflow.log_artifact(str(Path(model_dir) / "config.gin"))
        mlflow.pyfunc.log_model(
            name="model", python_model=HeartbeatModel(), artifacts={"model_dir": str(model_dir)},
            pip_requirements=requirements(), code_paths=[str(Path(__file__).resolve().parent)],
        )
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    return str(version.version)


def fetch_model_dir(spec: str, dst: str | Path | None = None) -> Path:
    """Download the model folder of registry entry ``NAME`` (latest version) or ``NAME/VERSION``."""
    use_tracking()
    name, _, version = spec.partition("/")
    if not version:
        versions = mlflow.MlflowClient().search_model_versions(f"name='{name}'")
        if not versions:
            raise RegistryError(f"no registered model named {name!r} in {tracking_uri()}")
        version = str(max(int(v.version) for v in versions))
    dst = Path(dst or tempfile.mkdtemp(prefix=f"heartbeat-{name}-{version}-"))
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dst))
    folders = [p for p in (Path(local) / "artifacts").iterdir() if (p / "config.gin").exists()]
    if len(folders) != 1:
        raise RegistryError(f"models:/{name}/{version} holds no heartbeat model folder")
    return folders[0]
