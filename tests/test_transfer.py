import pytest
import torch

from heartbeat.models import CNN1D, GRU
from heartbeat.training.transfer import TransferError, freeze, load_pretrained

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow


def test_transfer_copies_matching_weights_and_resizes_the_head(tmp_path):
    source = CNN1D(in_channels=1, num_classes=5, channels=8)
    torch.save(source.state_dict(), tmp_path / "model.pt")
    target = CNN1D(in_channels=1, num_classes=2, channels=8)
    reinit = load_pretrained(target, tmp_path)
    assert sorted(reinit) == ["head.bias", "head.weight"]
    for name, value in target.state_dict().items():
        if not name.startswith("head."):
            assert torch.equal(value, source.state_dict()[name]), name
    assert freeze(target, "backbone") == len(list(target.parameters())) - 2  # all but head.weight, head.bias
    trainable = [n for n, p in target.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("head.") for n in trainable)


def test_transfer_refuses_mismatched_shapes(tmp_path):
    torch.save(CNN1D(in_channels=1, num_classes=5, channels=8).state_dict(), tmp_path / "model.pt")
    with pytest.raises(TransferError, match=r"tensor \S+ has shape \(8, .*\) in the source but \(16, .*\) in this model"):
        load_pretrained(CNN1D(in_channels=1, num_classes=2, channels=16), tmp_path)
    with pytest.raises(TransferError, match="different architecture"):
        load_pretrained(GRU(in_channels=1, num_classes=2), tmp_path)
    with pytest.raises(TransferError, match="no model.pt"):
        load_pretrained(CNN1D(in_channels=1, num_classes=2), tmp_path / "nowhere")


def test_a_frozen_backbone_keeps_its_batch_norm_statistics(tmp_path):
    import gin
    import numpy as np

    from heartbeat.config import parse_text
    from heartbeat.data import BeatSet
    from heartbeat.training.fit import fit

    source = CNN1D(in_channels=1, num_classes=5, channels=8, depth=2)
    torch.save(source.state_dict(), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    beats = BeatSet(X=rng.uniform(0, 1, (200, 187)), y=np.arange(200) % 2, task="ptb")
    parse_text(f"fit.model = @CNN1D\nCNN1D.channels = 8\nCNN1D.depth = 2\nfit.epochs = 2\nfit.beats_per_epoch = 200\n"
               f"fit.init_from = '{tmp_path}'\nfit.freeze = 'backbone'\nfit.augment = None")
    net = fit(beats, beats).model
    gin.clear_config()
    before = source.state_dict()
    moved = [n for n, v in net.state_dict().items() if not n.startswith("head.") and not torch.equal(v, before[n])]
    assert moved == []  # weights and running statistics alike
    assert not torch.equal(net.head.weight, source.head.weight[:2])  # while the head did learn


def test_fit_takes_a_partial_of_a_family():
    import functools

    import numpy as np

    from heartbeat.data import BeatSet
    from heartbeat.training.fit import fit

    rng = np.random.default_rng(0)
    beats = BeatSet(X=rng.uniform(0, 1, (64, 187)), y=np.arange(64) % 2, task="ptb")
    result = fit(beats, beats, model=functools.partial(CNN1D, channels=8, depth=2), epochs=1, beats_per_epoch=64,
                 augment=None)
    assert isinstance(result.model, CNN1D) and result.model.head.in_features == 12  # 8 * 1.5 at depth 2
