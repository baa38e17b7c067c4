"""Rhythm fusion: any family's beat embedding joined with the beat's RR features before the head.

Every family ends in a linear ``head`` over a beat embedding. ``RhythmFusion`` takes a built
family, keeps everything before its head, embeds the rhythm vector (log of the RR intervals
and ratios, so that 0.5x and 2x are symmetric, then batch-normalised and a small dense layer)
and classifies the concatenation with a new ``head``. ``beat_dropout`` drops the whole beat
embedding of a share of the training beats (modality dropout), which keeps the rhythm path
predictive on its own across patients. One wrapper serves every family, so a
family needs no code of its own to take rhythm.
"""

from __future__ import annotations

import functools

import gin
import torch
from torch import nn

from heartbeat.errors import ConfigError
from heartbeat.models.ensemble import ensemble


@gin.configurable("RhythmFusion", denylist=["backbone", "num_rhythm", "num_classes"])
class RhythmFusion(nn.Module):
    """``backbone`` (a family with a linear ``head``) + rhythm (batch, num_rhythm) -> logits."""

    def __init__(self, backbone: nn.Module, num_rhythm: int, num_classes: int, hidden: int = 16,
                 dropout: float = 0.1, beat_dropout: float = 0.0):
        super().__init__()
        if not isinstance(getattr(backbone, "head", None), nn.Linear):
            raise ConfigError(f"RhythmFusion: {type(backbone).__name__} has no linear 'head' to fuse before")
        if num_rhythm < 1 or hidden < 1:
            raise ConfigError(f"RhythmFusion: num_rhythm and hidden must be >= 1, got {num_rhythm}, {hidden}")
        if not (0.0 <= dropout < 1.0 and 0.0 <= beat_dropout < 1.0):
            raise ConfigError(f"RhythmFusion: dropout and beat_dropout must be in [0, 1), got {dropout}, {beat_dropout}")
        self.beat_dropout = beat_dropout
        embed = backbone.head.in_features
        backbone.head = nn.Identity()
        self.backbone = backbone
        self.rhythm = nn.Sequential(nn.BatchNorm1d(num_rhythm), nn.Linear(num_rhythm, hidden), nn.ReLU(inplace=True))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(embed + hidden, num_classes)

    def forward(self, x: torch.Tensor, rhythm: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_channels, time); rhythm: (batch, num_rhythm), positive seconds and ratios
        h = self.backbone(x)                                   # (batch, embed)
        if self.training and self.beat_dropout > 0:
            # modality dropout: some beats are classified on their rhythm alone, so the rhythm path
            # must stand on its own instead of the embedding memorising the training patients' shapes
            keep = torch.rand(len(h), 1, device=h.device) >= self.beat_dropout  # (batch, 1)
            h = h * keep / (1 - self.beat_dropout)
        r = self.rhythm(torch.log(rhythm.clamp(min=1e-3)))     # (batch, hidden)
        return self.head(self.drop(torch.cat([h, r], dim=1)))  # (batch, num_classes)


def build_model(model, num_classes: int, num_rhythm: int = 0):
    """A family (a gin-configured class) built for ``num_classes``, fused with ``num_rhythm`` rhythm
    features where there are any, and pooled over ``Ensemble.members`` copies where that is bound
    (:mod:`heartbeat.models.ensemble`). Classical baselines take rhythm as extra features instead."""
    target = model.func if isinstance(model, functools.partial) else model  # partial(CNN1D, channels=8) too
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        return model(num_classes=num_classes)

    def one() -> nn.Module:
        net = model(in_channels=1, num_classes=num_classes)
        return RhythmFusion(net, num_rhythm, num_classes) if num_rhythm else net

    return ensemble(one)  # one model, or Ensemble.members copies of it
