"""Seed ensembles: ``members`` copies of one configuration, trained together, their votes pooled.

Across patients, a model's figures move with its seed almost as much as with its hyperparameters
(Table 3's spreads), and averaging a few independently initialised copies is the standard cure.
``Ensemble.members = K`` (a gin binding) makes :func:`heartbeat.models.fusion.build_model` build
K copies of the model, each initialised from its own draw of the fit's seeded generator.

The copies are pooled by the mean of their log-probabilities (a normalised geometric mean of
their distributions), in training as at inference. Trained on that output, the cross-entropy is
the mean of the members' own cross-entropies plus ``logsumexp`` of the pooled log-probabilities,
a term at most 0 that only rewards members for disagreeing: they train much as they would alone,
in one fit, on the same batches. With one member (the default) nothing is wrapped, so every model
folder written before ensembles existed loads as it did.
"""

from __future__ import annotations

from typing import Callable

import gin
import torch
from torch import nn


class Ensemble(nn.Module):
    """K models with the same inputs -> pooled log-probabilities (batch, num_classes)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"Ensemble: needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_channels, time); rest: the rhythm (batch, num_rhythm) where the members take it
        logp = torch.stack([torch.log_softmax(m(x, *rest), dim=1) for m in self.members])  # (K, batch, classes)
        pooled = logp.mean(dim=0)                                                           # (batch, classes)
        return pooled - torch.logsumexp(pooled, dim=1, keepdim=True)                        # normalised


@gin.configurable("Ensemble")
def ensemble(build: Callable[[], nn.Module], members: int = 1) -> nn.Module:
    """``build()`` once (members = 1), or ``members`` times pooled in an :class:`Ensemble`."""
    if not isinstance(members, int) or members < 1:
        raise ValueError(f"Ensemble.members must be a positive integer, got {members!r}")
    return build() if members == 1 else Ensemble([build() for _ in range(members)])
