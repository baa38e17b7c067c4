"""Seed ensembles (heartbeat.models.ensemble): built by one binding, pooled, saved, loaded, exported."""

from __future__ import annotations

import gin
import numpy as np
import pytest
import torch

from heartbeat.cli import main
from heartbeat.config import parse_text
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.inference.modelio import load_model, save_model
from heartbeat.models import CNN1D, Ensemble
from heartbeat.models.fusion import build_model
from heartbeat.training.transfer import freeze

pytestmark = pytest.mark.usefixtures("clean_gin")


def test_one_member_is_the_plain_model():
    torch.manual_seed(0)
    plain = build_model(CNN1D, 5, num_rhythm=8)
    parse_text("Ensemble.members = 1")
    torch.manual_seed(0)
    one = build_model(CNN1D, 5, num_rhythm=8)
    assert not isinstance(one, Ensemble)
    assert list(one.state_dict()) == list(plain.state_dict())  # older model folders load unchanged


def test_members_train_alone_and_vote_by_their_mean_probability():
    parse_text("Ensemble.members = 3\nCNN1D.channels = 8")
    torch.manual_seed(0)
    net = build_model(CNN1D, 5, num_rhythm=8)
    assert isinstance(net, Ensemble) and len(net.members) == 3
    assert not torch.equal(net.members[0].head.weight, net.members[1].head.weight)  # own initialisations
    x, rhythm, y = torch.randn(4, 1, 187), torch.rand(4, 8) + 0.5, torch.tensor([0, 1, 2, 1])
    net.eval()
    out = net(x, rhythm)                                                       # (batch, classes)
    assert out.shape == (4, 5)
    member_p = torch.stack([torch.softmax(m(x, rhythm), dim=1) for m in net.members])
    torch.testing.assert_close(out.exp(), member_p.mean(0))                    # the mean of their probabilities
    assert not torch.allclose(out.exp(), member_p[0])                          # not simply the first member's
    # in training every member predicts the whole batch, and the loss is the mean of their own losses
    net.members.eval()  # same batch-norm statistics and dropout masks (none) as a member alone
    net.training = True
    stacked = net(x, rhythm)
    assert stacked.shape == (12, 5)
    weight = torch.tensor([1.0, 2.0, 3.0, 1.0, 1.0])
    loss = torch.nn.functional.cross_entropy(stacked, y.repeat(3), weight=weight)
    alone = torch.stack([torch.nn.functional.cross_entropy(m(x, rhythm), y, weight=weight) for m in net.members])
    torch.testing.assert_close(loss, alone.mean())


def test_bad_member_count_is_refused():
    parse_text("Ensemble.members = 0")
    with pytest.raises(ValueError, match="Ensemble.members must be a positive integer, got 0"):
        build_model(CNN1D, 5)


@pytest.mark.slow  # trains a model: make test runs it, make test-fast does not
def test_an_ensemble_trains_saves_loads_and_exports(tmp_path):
    from heartbeat.training.fit import fit

    beats = synthetic_beats(1500, seed=0)
    parse_text("fit.model = @CNN1D\nCNN1D.channels = 8\nCNN1D.depth = 2\nEnsemble.members = 2\n"
               "fit.epochs = 1\nfit.beats_per_epoch = 512")
    result = fit(beats, beats)
    assert isinstance(result.model, Ensemble)
    out = tmp_path / "ensemble"
    save_model(out, result.model, gin.operative_config_str(), {"task": "mitbih", "classes": list(beats.classes)},
               result.inputs)
    gin.clear_config()
    assert "Ensemble.members = 2" in (out / "config.gin").read_text()  # the folder says how it was built
    loaded = load_model(out)
    assert isinstance(loaded.net, Ensemble)
    proba = loaded.proba_beats(beats)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    result.model.eval()
    with torch.no_grad():
        direct = result.model(torch.from_numpy(beats.X[:, None, :].astype(np.float32))).exp().numpy()
    np.testing.assert_allclose(proba, direct, atol=1e-5)
    assert main(["export", "--model", str(out)]) == 0
    onnx = load_model(out, runtime="onnx")
    assert np.abs(onnx.proba_beats(beats) - proba).max() <= 1e-4
    # freezing the backbone leaves every member's own head to train
    trainable = {n for n, p in loaded.net.named_parameters() if freeze(loaded.net, "backbone") and p.requires_grad}
    assert trainable == {f"members.{i}.head.{w}" for i in (0, 1) for w in ("weight", "bias")}
