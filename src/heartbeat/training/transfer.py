"""Transfer learning: start a fit from another model folder's weights (e.g. MIT-BIH -> PTB).

Every family ends in a linear layer named ``head``. Weights are copied wherever the source
and target tensors have the same name and shape; the head may differ in its number of
classes and is then left freshly initialised. Anything else that differs means a different
architecture, and is refused with the tensor's name and both shapes.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from heartbeat.errors import ConfigError, HeartbeatError

FREEZE = ("none", "backbone")
#: a head's parameters: the model's own, or each member's in an ensemble (heartbeat.models.ensemble)
HEAD = re.compile(r"(members\.\d+\.)?head\.")


class TransferError(HeartbeatError, ValueError):
    """Source weights that do not fit the target model."""


def load_pretrained(net: nn.Module, source: str | Path) -> list[str]:
    """Copy ``source``'s weights into ``net``; returns the names left initialised (the head, if resized)."""
    path = Path(source) / "model.pt"
    if not path.exists():
        raise TransferError(f"{source}: no model.pt (transfer needs a deep model folder)")
    src = torch.load(path, map_location="cpu", weights_only=True)
    tgt = net.state_dict()
    missing = sorted(set(tgt) - set(src))
    unexpected = sorted(set(src) - set(tgt))
    if missing or unexpected:
        raise TransferError(
            f"{source}: the source model is a different architecture"
            + (f"; tensors missing from it: {missing[:5]}" if missing else "")
            + (f"; tensors it has that this model lacks: {unexpected[:5]}" if unexpected else "")
            + " (train the target from the source's own config.gin)")
    reinit = []
    for name, value in tgt.items():
        if src[name].shape == value.shape:
            tgt[name] = src[name]
        elif HEAD.match(name):
            reinit.append(name)  # a new number of classes: a fresh head
        else:
            raise TransferError(f"{source}: tensor {name} has shape {tuple(src[name].shape)} in the source "
                                f"but {tuple(value.shape)} in this model")
    net.load_state_dict(tgt)
    return reinit


def freeze(net: nn.Module, what: str) -> int:
    """Freeze parameters ('backbone': all but the head); returns how many tensors were frozen."""
    if what not in FREEZE:
        raise ConfigError(f"unknown fit.freeze {what!r}; expected one of {FREEZE}")
    frozen = 0
    if what == "backbone":
        for name, p in net.named_parameters():
            if not HEAD.match(name):
                p.requires_grad_(False)
                frozen += 1
    return frozen


def train_mode(net: nn.Module) -> nn.Module:
    """``net.train()``, except that a module whose own parameters are all frozen stays in eval mode.

    A frozen backbone must not change at all: in train mode its batch norms would still update
    their running statistics from the new data (24 buffers moved in 2 epochs before this).
    """
    net.train()
    for module in net.modules():
        params = list(module.parameters(recurse=False))
        if params and not any(p.requires_grad for p in params):
            module.eval()
    return net
