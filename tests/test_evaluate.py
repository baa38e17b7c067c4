import json
import shutil

import numpy as np
import pandas as pd
import pytest

import heartbeat as hb
from heartbeat.cli import main
from heartbeat.data import BeatSet, write_beats
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.inference.modelio import load_model

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data = write_beats(synthetic_beats(2500, seed=0), root / "beats.parq")
    out = root / "models" / "tiny"
    hb.train("gin/models/cnn1d.gin", {"CNN1D.channels": 8, "fit.beats_per_epoch": 1000, "fit.batch_size": 32},
             data=hb.load_data(data), out=out, epochs=2)
    return root, data, out


def test_evaluate_json_on_any_file(tiny_model, capsys, tmp_path):
    root, _, out = tiny_model
    beats = synthetic_beats(400, seed=9)
    keep = beats.y != 3  # no F beat in this file
    path = write_beats(BeatSet(beats.X[keep], beats.y[keep], "mitbih"), tmp_path / "noF.parq")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--data", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"accuracy", "recall_macro", "f1_macro", "f2_macro", "recall_per_class", "n"} <= set(result)
    assert result["n"] == int(keep.sum())
    assert result["recall_per_class"]["F"] is None and result["absent_classes"] == ["F"]
    assert sum(map(sum, result["confusion"])) == result["n"]
    # each class's recall is the diagonal of the confusion matrix over its row, and the model's own
    pred = load_model(out).predict(beats.X[keep])
    confusion = np.asarray(result["confusion"])
    for i, c in enumerate("NSVFQ"):
        if c != "F":
            assert result["recall_per_class"][c] == pytest.approx(confusion[i, i] / confusion[i].sum())
            assert confusion[i, i] == int(np.sum((pred == i) & (beats.y[keep] == i)))


def test_score_writes_output_csv_on_the_models_own_valid_split(tiny_model, capsys):
    root, data, out = tiny_model
    csv = root / "output.csv"
    assert main(["score", "--models", str(root / "models"), "--data", str(data), "--out", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert list(table.columns) == ["modeltag", "F1scoremicro", "F1scoremacro", "Recallmacro", "Precisionmacro",
                                   "F2scoremacro", "Accuracy", "TP_0", "TP_1", "TP_2", "TP_3", "TP_4"]
    assert table.modeltag.tolist() == ["tiny"]
    info = json.loads((out / "metrics.json").read_text())
    # the same valid split as the fit: the same recall as the best epoch recorded in the folder
    assert table.Recallmacro[0] == pytest.approx(info["valid"]["recall_macro"], abs=1e-6)
    assert table.TP_0[0] == pytest.approx(info["valid"]["recall_N"], abs=1e-6)
    assert "tiny" in capsys.readouterr().out
    # beside it, the confusion matrix of the same predictions, which the report reads without a model
    from heartbeat.report import tables

    cells = pd.read_csv(root / "confusions.csv")
    assert list(cells.columns) == ["model", "true", "predicted", "beats"] and len(cells) == 25
    cm = tables.confusions(root, ["tiny", "not-scored"])["tiny"]
    assert list(cm.index) == list(cm.columns) == list("NSVFQ")
    assert int(cm.values.sum()) == info["valid"]["n"]
    for i, c in enumerate("NSVFQ"):
        if cm.loc[c].sum():
            assert cm.loc[c, c] / cm.loc[c].sum() == pytest.approx(table[f"TP_{i}"][0], abs=1e-6)


def test_score_without_models_is_a_clear_error(tmp_path, capsys):
    assert main(["score", "--models", str(tmp_path)]) == 1
    assert "no model folders" in capsys.readouterr().err


def test_synthetic_scores_leave_the_real_figures_alone(tiny_model, tmp_path, monkeypatch, capsys):
    """Asked for synthetic beats, make run's scores go beside output.csv, not over it."""
    root, _, out = tiny_model
    models = tmp_path / "models"
    shutil.copytree(out, models / "tiny")
    info = json.loads((models / "tiny" / "metrics.json").read_text())
    info.update(synthetic=False, data="/nowhere/mitdb (WFDB records)")  # as if trained on real data
    (models / "tiny" / "metrics.json").write_text(json.dumps(info))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "output.csv").write_text("the real figures\n")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["score", "--models", str(models), "--data", "synthetic"]) == 0
    assert (tmp_path / "results" / "output.csv").read_text() == "the real figures\n"
    assert pd.read_csv(tmp_path / "results" / "output_synthetic.csv")["modeltag"].tolist() == ["tiny"]
    assert "SYNTHETIC" in capsys.readouterr().out
