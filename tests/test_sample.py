"""The first hour on a fresh machine: the embedded sample of real records is the data of last resort.

No test here needs ../shared/data: the sample ships with the project.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from heartbeat.cli import main
from heartbeat.data import load_dataset
from heartbeat.data.sample import SAMPLE_RECORDS, sample_dir
from heartbeat.data.sources import resolve_source
from heartbeat.data.wfdb_beats import AAMI

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def no_data(monkeypatch, tmp_path):
    """A fresh machine: no HEARTBEAT_DATA, and a project root whose data/ holds nothing."""
    monkeypatch.delenv("HEARTBEAT_DATA", raising=False)
    monkeypatch.setattr("heartbeat.data.sources.project_root", lambda: tmp_path)
    return tmp_path


def sample_counts() -> np.ndarray:
    import wfdb

    counts = np.zeros(5, int)
    for name in SAMPLE_RECORDS:
        for s in wfdb.rdann(str(sample_dir() / name), "atr").symbol:
            if s in AAMI:
                counts[AAMI[s]] += 1
    return counts


def test_the_sample_is_small_licensed_and_byte_identical():
    folder = sample_dir()
    assert (folder / "RECORDS").read_text().split() == list(SAMPLE_RECORDS)
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 10 * 2**20, f"the sample is {size / 2**20:.1f} MB, over the 10 MB budget"
    assert "ODC-By" in (folder.parent / "LICENSE").read_text() and "Moody" in (folder.parent / "README.md").read_text()
    listed = dict(line.split()[::-1] for line in (folder / "SHA256SUMS.txt").read_text().splitlines())
    assert set(listed) == {f"{r}.{e}" for r in SAMPLE_RECORDS for e in ("hea", "dat", "atr")} | {"RECORDS"}
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    # every AAMI class is in it, so every model has something of each class to score
    assert (sample_counts() > 100).all()


def test_one_resolution_data_then_env_then_data_folder_then_sample(no_data, monkeypatch, tmp_path):
    assert resolve_source(None) == sample_dir()
    ds = load_dataset(None, split_how="inter", test_size=0.25)
    assert ds.sample and not ds.synthetic and "<sample>" in ds.source and str(tmp_path) not in ds.source
    assert set(ds.train.record) | set(ds.test.record) == set(SAMPLE_RECORDS)
    # data/ with something in it wins over the sample, HEARTBEAT_DATA over data/, --data over everything
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "beats.parq").write_bytes(b"")
    assert resolve_source(None) == tmp_path / "data"
    monkeypatch.setenv("HEARTBEAT_DATA", str(sample_dir()))
    assert resolve_source(None) == sample_dir()
    assert resolve_source("elsewhere") == Path("elsewhere")
    monkeypatch.setenv("HEARTBEAT_DATA", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="HEARTBEAT_DATA=.*missing: no such file"):
        resolve_source(None)


def test_synthetic_beats_only_when_asked(no_data):
    assert not load_dataset(None).synthetic
    assert load_dataset("synthetic", synthetic_size=1000).synthetic


def test_ptb_is_not_silently_answered_by_the_mitbih_sample(no_data):
    with pytest.raises(ValueError, match="no ptb data given: the embedded sample holds MIT-BIH records only"):
        load_dataset(None, task="ptb")


@pytest.mark.slow
def test_make_run_with_no_data_scores_real_beats_rhythm_model_included(no_data, monkeypatch, capsys):
    """`make run` on a fresh clone: committed models, the rhythm model among them, on the sample's real beats,
    to results/output_sample.csv; output.csv (the full-data figures) is left as it was; a folder trained on
    synthetic beats is named, not scored."""
    work = no_data / "clone"
    models = work / "models"
    for tag in ("cnn1d", "cnn1d-rhythm-all", "cnn1d-ds1ds2"):
        shutil.copytree(ROOT / "models" / tag, models / tag)
    synthetic = models / "cnn1d-synthetic"
    shutil.copytree(ROOT / "models" / "cnn1d", synthetic)
    info = json.loads((synthetic / "metrics.json").read_text())
    (synthetic / "metrics.json").write_text(json.dumps({**info, "synthetic": True, "data": "built-in synthetic beats"}))
    (work / "results").mkdir()
    (work / "results" / "output.csv").write_text("the full-data figures\n")
    monkeypatch.chdir(work)

    assert main(["score", "--on", "valid"]) == 0
    printed = capsys.readouterr()
    assert (work / "results" / "output.csv").read_text() == "the full-data figures\n"
    table = pd.read_csv(work / "results" / "output_sample.csv").set_index("modeltag")
    assert sorted(table.index) == ["cnn1d", "cnn1d-ds1ds2", "cnn1d-rhythm-all"]
    assert "embedded sample" in printed.out and "EMBEDDED SAMPLE" in printed.err
    assert "cnn1d-synthetic was trained on SYNTHETIC beats: not scored" in printed.err
    counts = sample_counts()
    # every annotated beat of the 4 records is scored but the last of each; ds1ds2 leaves out paced 217 and Q
    assert counts.sum() - 4 <= table.loc["cnn1d", "beats"] <= counts.sum()
    assert table.loc["cnn1d-rhythm-all", "rhythm"] and table.loc["cnn1d-rhythm-all", "beats"] == table.loc["cnn1d", "beats"]
    assert table.loc["cnn1d-ds1ds2", "beats"] < table.loc["cnn1d", "beats"] - counts[4] + 1
    # what each model trained on, of the sample's patients, is said
    assert table.loc["cnn1d", "trained_on_records"] == ",".join(SAMPLE_RECORDS)
    assert str(table.loc["cnn1d-ds1ds2", "trained_on_records"]) == "208"  # the only DS1 record of the sample
    # real beats, real models: far above chance (0.2), on every row
    assert (table["Recallmacro"] > 0.6).all()
