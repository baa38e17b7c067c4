"""Seed ensembles: ``members`` copies of one configuration, trained side by side, their votes pooled.

Across patients, a model's figures move with its seed almost as much as with its hyperparameters
(Table 3's spreads), and averaging a few independently initialised copies is the standard cure
(a deep ensemble). ``Ensemble.members = K`` (a gin binding) makes
:func:`heartbeat.models.fusion.build_model` build K copies of the model, each initialised from its
own draw of the fit's seeded generator.

In training, :class:`Ensemble` returns every member's logits, one block of the batch after another
(K * batch rows), and the fit loop repeats the labels to match: the loss is the mean of the
members' own losses, so each member trains exactly as it would alone, on the same batches, in one
fit. In evaluation it returns the log of the members' mean probabilities, which is what the
metrics, ONNX export and serving see. With one member (the default) nothing is wrapped, so every
model folder written before ensembles existed loads as it did.
"""

from __future__ import annotations

import math
from typing import Callable

import gin
import torch
from torch import nn

from heartbeat.errors import ConfigError


class Ensemble(nn.Module):
    """K models with the same inputs -> log of their mean probabilities (batch, num_classes)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ConfigError(f"Ensemble: needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_channels, time); rest: the rhythm (batch, num_rhythm) where the members take it
        logits = [m(x, *rest) for m in self.members]                                 # K x (batch, classes)
        if self.training:
            return torch.cat(logits)                                                  # (K * batch, classes)
        logp = torch.stack([torch.log_softmax(z, dim=1) for z in logits])            # (K, batch, classes)
        return torch.logsumexp(logp, dim=0) - math.log(len(logits))                  # log mean probability


@gin.configurable("Ensemble")
def ensemble(build: Callable[[], nn.Module], members: int = 1) -> nn.Module:
    """``build()`` once (members = 1), or ``members`` times pooled in an :class:`Ensemble`."""
    if not isinstance(members, int) or members < 1:
        raise ConfigError(f"Ensemble.members must be a positive integer, got {members!r}")
    return build() if members == 1 else Ensemble([build() for _ in range(members)])
