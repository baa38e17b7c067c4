"""Shared fixtures. Real-data tests find ../shared/data (or $HEARTBEAT_DATA) and skip cleanly without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("HEARTBEAT_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data folder absent (../shared/data or $HEARTBEAT_DATA)")
    return path


@pytest.fixture(scope="session")
def mitdb(shared_data) -> Path:
    path = shared_data / "mitdb"
    if not (path / "RECORDS").exists():
        pytest.skip(f"no MIT-BIH records in {path}")
    return path


@pytest.fixture()
def beat_rows():
    """A small deterministic array of beats (n, 187) in [0, 1] and 5-class labels."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(12, 187)).astype(np.float32)
    y = np.arange(12) % 5
    return X, y


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never write to the user's ~/.cache, and never pick up the developer's data/ folder.
    monkeypatch.setenv("HEARTBEAT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    # A test that scores a committed model on a DS2 record logs its look to a file of its own, never to
    # the committed results/ds1ds2/looks.csv (whose count the summary reports).
    monkeypatch.setenv("HEARTBEAT_LOOKS", str(tmp_path_factory.getbasetemp() / "looks.csv"))


@pytest.fixture()
def clean_gin():
    """An empty gin config for the test, and none left behind (use with pytest.mark.usefixtures)."""
    import gin

    gin.clear_config()
    yield
    gin.clear_config()
