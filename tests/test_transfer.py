import pytest
import torch

from heartbeat.models import CNN1D, GRU
from heartbeat.transfer import TransferError, freeze, load_pretrained


def test_transfer_copies_matching_weights_and_resizes_the_head(tmp_path):
    source = CNN1D(in_channels=1, num_classes=5, channels=8)
    torch.save(source.state_dict(), tmp_path / "model.pt")
    target = CNN1D(in_channels=1, num_classes=2, channels=8)
    reinit = load_pretrained(target, tmp_path)
    assert sorted(reinit) == ["head.bias", "head.weight"]
    for name, value in target.state_dict().items():
        if not name.startswith("head."):
            assert torch.equal(value, source.state_dict()[name]), name
    assert freeze(target, "backbone") > 0
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
