"""Recurrent network (GRU) over the beat.

A recurrent net steps through time one sample at a time, so its cost grows
with the sequence length and does not parallelise over time on a CPU. An
optional convolutional front end (``conv_channels > 0``: Conv1d → BN → ReLU →
max-pool by ``conv_pool``) turns the 187 samples into about 187 / conv_pool
feature vectors first, which makes the GRU several times faster and gives it
local shape features instead of raw amplitudes. The GRU outputs are pooled
('last': final hidden state of the top layer, both directions if
bidirectional; 'mean': mean over time of the top layer's outputs) into a
linear head. 'last' is the default: on MIT-BIH it learned the rare classes
(S, F) faster than 'mean' in short runs, since the backward direction's final
state has just read the QRS complex at the start of the beat.
"""

from __future__ import annotations

import gin
import torch
from torch import nn

from heartbeat.errors import ConfigError

POOLINGS = ("last", "mean")


@gin.configurable("GRU")
class GRU(nn.Module):
    """[Conv1d front end →] GRU → pooling over time → linear logits."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        conv_channels: int = 32,
        conv_kernel_size: int = 5,
        conv_pool: int = 4,
        pooling: str = "last",
        dropout: float = 0.1,
    ):
        super().__init__()
        if hidden_size < 1 or num_layers < 1:
            raise ConfigError(
                f"GRU: hidden_size and num_layers must be >= 1, got {hidden_size}, {num_layers}"
            )
        if conv_channels < 0 or conv_kernel_size < 1 or conv_pool < 1:
            raise ConfigError(
                f"GRU: conv_channels must be >= 0, conv_kernel_size and conv_pool >= 1, got "
                f"{conv_channels}, {conv_kernel_size}, {conv_pool}"
            )
        if pooling not in POOLINGS:
            raise ConfigError(f"GRU: pooling must be one of {POOLINGS}, got {pooling!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"GRU: dropout must be in [0, 1), got {dropout}")
        self.pooling = pooling

        if conv_channels > 0:
            self.front = nn.Sequential(
                nn.Conv1d(in_channels, conv_channels, conv_kernel_size, padding="same", bias=False),
                nn.BatchNorm1d(conv_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool1d(conv_pool, ceil_mode=True) if conv_pool > 1 else nn.Identity(),
            )
            rnn_in = conv_channels
        else:
            self.front = nn.Identity()
            rnn_in = in_channels
        self.rnn = nn.GRU(
            rnn_in,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,  # torch applies it between layers only
        )
        out = hidden_size * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_channels, time)
        h = self.front(x)  # (batch, features, time')
        h = h.transpose(1, 2)  # (batch, time', features)
        outputs, h_n = self.rnn(h)  # (batch, time', dirs * hidden), (layers * dirs, batch, hidden)
        if self.pooling == "mean":
            pooled = outputs.mean(dim=1)  # (batch, dirs * hidden)
        else:
            dirs = 2 if self.rnn.bidirectional else 1
            top = h_n[-dirs:]  # (dirs, batch, hidden): forward state at t=end, backward at t=0
            pooled = top.transpose(0, 1).reshape(x.shape[0], -1)  # (batch, dirs * hidden)
        return self.head(self.dropout(pooled))  # (batch, num_classes)
