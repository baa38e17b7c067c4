from pathlib import Path

import gin
import numpy as np
import pytest
import torch

from heartbeat.cli import main
from heartbeat.config import parse
from heartbeat.data.splits import split
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.inference.modelio import family_of, load_model
from heartbeat.models import BASELINES, REGISTRY
from heartbeat.training.fit import EarlyStopping, epoch_indices, fit, predict_proba

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
GIN_FILES = sorted(p for p in (ROOT / "gin").rglob("*.gin") if p.name != "base.gin")


@pytest.fixture(scope="module")
def tiny():
    beats = synthetic_beats(3000, seed=0)
    return split(beats, "intra", 0.3, seed=0)


@pytest.mark.parametrize("path", GIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_gin_file_parses_and_builds(path):
    if path.parent.name == "search":
        from heartbeat.tuning.tune import read_search

        read_search(path)  # also checks that every search key is a valid binding
    else:
        parse(path)
    model_cls = gin.get_bindings("fit")["model"]
    name = model_cls.__name__
    assert name in REGISTRY or name in BASELINES
    if name in REGISTRY:
        net = model_cls(in_channels=1, num_classes=5)
        assert net(torch.zeros(2, 1, 187)).shape == (2, 5)


def test_short_fit_lowers_the_loss_and_restores_the_best_epoch(tiny):
    torch.set_num_threads(1)
    train, valid = tiny
    parse("gin/models/cnn1d.gin", ["CNN1D.channels = 8", "fit.beats_per_epoch = 1500", "fit.patience = 10",
                                   "fit.batch_size = 32"])
    result = fit(train, valid, max_epochs=4)
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < losses[0]
    assert result.metrics["recall_macro"] > 0.4  # 5 classes: chance is 0.2
    best = max(result.history, key=lambda r: r["objective"])
    assert result.best_epoch == best["epoch"]
    pred = predict_proba(result.model, valid.X).argmax(1)
    from heartbeat.metrics import classification_metrics

    assert classification_metrics(valid.y, pred, valid.classes)["f2_macro"] == pytest.approx(best["f2_macro"])


def test_early_stopping_stops():
    stop = EarlyStopping(patience=2)
    assert stop.step(0.5, 1) and not stop.stop
    assert not stop.step(0.5, 2) and not stop.stop
    assert not stop.step(0.4, 3) and stop.stop
    assert stop.best_epoch == 1


def test_fit_stops_when_nothing_improves(tiny):
    train, valid = tiny
    parse("gin/models/cnn1d.gin", ["CNN1D.channels = 4", "fit.beats_per_epoch = 256", "fit.patience = 2",
                                   "fit.learning_rate = 0.0", "fit.scheduler = 'constant'"])
    result = fit(train, valid, max_epochs=10)
    assert len(result.history) == 3 and result.history[-1]["final"]


def test_augment_only_on_training_batches(tiny, monkeypatch):
    train, valid = tiny
    calls = []

    @gin.configurable("SpyAugment")
    class Spy:
        enabled = True

        def __call__(self, x, generator=None):
            calls.append(len(x))
            return x

    parse("gin/models/cnn1d.gin", ["CNN1D.channels = 4", "fit.beats_per_epoch = 512", "fit.batch_size = 128",
                                   "fit.augment = @SpyAugment"])
    fit(train, valid, max_epochs=1)
    assert sum(calls) == 512  # every training beat once, no validation beat


def test_balanced_sampler_shows_rare_classes():
    y = torch.tensor([0] * 950 + [1] * 50)
    g = torch.Generator().manual_seed(0)
    idx = epoch_indices(y, "sampler", 4000, 2, g)
    share = (y[idx] == 1).float().mean().item()
    assert 0.45 < share < 0.55
    idx = epoch_indices(y, "none", None, 2, g)
    assert sorted(idx.tolist()) == list(range(1000))  # a permutation: no beat dropped


def test_train_cli_writes_a_folder_that_rebuilds(tmp_path, monkeypatch, capsys):
    out = tmp_path / "m"
    args = ["train", "gin/models/cnn1d.gin", "--epochs", "2", "--threads", "1", "--out", str(out), "--data",
            "synthetic", "--bind", "CNN1D.channels = 8", "--bind", "fit.beats_per_epoch = 1000"]
    code = main(args)
    assert code == 0
    printed = capsys.readouterr()
    assert "epoch   2" in printed.out and "SYNTHETIC" in printed.err
    # a second train into the same folder is refused before any epoch, and the folder is left as it was
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(args) == 1
    printed = capsys.readouterr()
    assert "already exists" in printed.err and "--force" in printed.err and "epoch" not in printed.out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert main(args + ["--force"]) == 0 and "epoch   2" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"model.pt", "config.gin", "metrics.json"}
    model = load_model(out)
    assert family_of(model.config) == "CNN1D" and "CNN1D.channels = 8" in model.config
    X = synthetic_beats(200, seed=5).X
    p = model.predict_proba(X)
    assert p.shape == (X.shape[0], 5) and np.allclose(p.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(load_model(out).predict_proba(X), p, rtol=1e-5)


def test_baseline_through_fit_and_folder(tiny, tmp_path):
    from heartbeat.inference.modelio import save_model

    train, valid = tiny
    parse("gin/models/baseline.gin", ["GBTBaseline.max_iter = 30"])
    result = fit(train, valid)
    assert result.metrics["recall_macro"] > 0.5
    save_model(tmp_path / "gbt", result.model, gin.operative_config_str(), {"task": "mitbih"})
    again = load_model(tmp_path / "gbt")
    np.testing.assert_allclose(again.predict_proba(valid.X), result.model.predict_proba(valid.X))


def test_cosine_schedule_anneals_the_learning_rate_every_epoch(tiny):
    train, valid = tiny
    gin.clear_config()
    result = fit(train, valid, model=REGISTRY["CNN1D"], epochs=5, patience=10, scheduler="cosine",
                 learning_rate=1e-3, beats_per_epoch=256, augment=None)
    rates = [row["lr"] for row in result.history]
    assert rates[0] == pytest.approx(1e-3)
    assert all(b < a for a, b in zip(rates, rates[1:]))


def test_plateau_schedule_halves_the_rate_after_two_epochs_without_a_gain():
    from heartbeat.training.fit import make_scheduler

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched, per_step = make_scheduler("plateau", opt, epochs=10, steps_per_epoch=5, learning_rate=0.1)
    assert not per_step  # stepped once an epoch, on the validation objective
    rates = []
    for value in (0.5, 0.6, 0.6, 0.6, 0.6, 0.6):  # one gain, then none
        sched.step(value)
        rates.append(opt.param_groups[0]["lr"])
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05])


def test_balance_loss_weights_the_rare_classes(tiny, monkeypatch):
    import heartbeat.training.fit as train_module

    seen = {}
    real = torch.nn.CrossEntropyLoss

    def spy(*args, **kwargs):
        seen["weight"] = kwargs.get("weight")
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module.nn, "CrossEntropyLoss", spy)
    train, valid = tiny
    gin.clear_config()
    fit(train, valid, model=REGISTRY["CNN1D"], epochs=1, balance="loss", beats_per_epoch=256, augment=None)
    weight = seen["weight"].numpy()
    counts = np.bincount(train.y, minlength=5)
    assert weight.mean() == pytest.approx(1.0)
    assert np.argmax(weight) == np.argmin(counts) and np.argmin(weight) == np.argmax(counts)


def test_a_nan_loss_fails_the_fit(tiny):
    from heartbeat.data import BeatSet
    from heartbeat.training.fit import NonFiniteLoss

    train, valid = tiny
    bad = BeatSet(X=np.full_like(train.X, 3e38), y=train.y, task=train.task)  # logits overflow to inf
    gin.clear_config()
    with pytest.raises(NonFiniteLoss, match="training loss became"):
        fit(bad, valid, model=REGISTRY["CNN1D"], epochs=1, beats_per_epoch=256, augment=None)
