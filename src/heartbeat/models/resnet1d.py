"""1D residual network over the beat.

A stem (Conv1d with stride 2, then max-pooling by ``stem_pool``, as in
ResNet-18's stem, so all later work runs at a quarter of the time resolution by
default) feeds ``len(widths)`` stages of basic residual blocks (two convs with
batch norm and an identity or 1x1 projection shortcut, He et al. 2016). The
first block of every stage after the first downsamples by 2 with a strided
conv, so the three default stages run at 47, 24 and 12 samples. Each block may
end in squeeze-and-excitation (Hu et al. 2018), a per-channel gate from the
block's global average, which lets the net weight e.g. QRS-shape channels
against T-wave channels per beat. Global average pooling and a linear head give
the logits. This is the residual design of Kachuee et al. (2018) made deeper
and wider in later stages.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import gin
import torch
from torch import nn

from heartbeat.errors import ConfigError


class SqueezeExcite(nn.Module):
    """Channel gate: x * sigmoid(MLP(mean over time of x))."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, channels, time)
        return x * self.gate(x.mean(dim=-1))[:, :, None]


class BasicBlock(nn.Module):
    """conv-BN-ReLU-[dropout]-conv-BN-[SE] + shortcut, then ReLU."""

    def __init__(
        self, in_ch: int, out_ch: int, *, stride: int, kernel_size: int, se_reduction: int, dropout: float
    ):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(out_ch)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv1d(out_ch, out_ch, kernel_size, padding="same", bias=False)
        self.bn2 = nn.BatchNorm1d(out_ch)
        self.se = SqueezeExcite(out_ch, se_reduction) if se_reduction > 0 else nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm1d(out_ch)
            )
        else:
            self.shortcut = nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_ch, time) → (batch, out_ch, ceil(time / stride))
        h = self.drop(self.act(self.bn1(self.conv1(x))))
        h = self.se(self.bn2(self.conv2(h)))
        return self.act(h + self.shortcut(x))


@gin.configurable("ResNet1D")
class ResNet1D(nn.Module):
    """Strided stem [→ max-pool] → residual stages (stride 2 between stages) → GAP → linear logits.

    ``blocks`` is the number of residual blocks per stage: one int for every
    stage, or a tuple with one entry per entry of ``widths``.
    ``se_reduction = 0`` turns squeeze-and-excitation off.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int] = (32, 64, 96),
        blocks: int | Sequence[int] = 2,
        kernel_size: int = 5,
        stem_kernel_size: int = 7,
        stem_pool: int = 2,
        se_reduction: int = 8,
        dropout: float = 0.1,
    ):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        # an int (also numpy's, as a search may pass it) means the same count in every stage
        if isinstance(blocks, numbers.Integral):
            blocks = (int(blocks),) * len(widths)
        blocks = tuple(int(b) for b in blocks)
        if not widths or any(w < 1 for w in widths):
            raise ConfigError(f"ResNet1D: widths must be a non-empty tuple of ints >= 1, got {widths!r}")
        if len(blocks) != len(widths) or any(b < 1 for b in blocks):
            raise ConfigError(
                f"ResNet1D: blocks must be an int >= 1 or one int >= 1 per stage "
                f"({len(widths)} stages), got {blocks!r}"
            )
        if kernel_size < 1 or stem_kernel_size < 1 or stem_pool < 1 or se_reduction < 0:
            raise ConfigError(
                f"ResNet1D: kernel sizes and stem_pool must be >= 1 and se_reduction >= 0, got "
                f"kernel_size={kernel_size}, stem_kernel_size={stem_kernel_size}, "
                f"stem_pool={stem_pool}, se_reduction={se_reduction}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"ResNet1D: dropout must be in [0, 1), got {dropout}")

        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, widths[0], stem_kernel_size, stride=2, padding=stem_kernel_size // 2, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(stem_pool, ceil_mode=True) if stem_pool > 1 else nn.Identity(),
        )
        stages = []
        prev = widths[0]
        for s, (w, n) in enumerate(zip(widths, blocks)):
            for b in range(n):
                stride = 2 if (s > 0 and b == 0) else 1
                stages.append(
                    BasicBlock(
                        prev, w, stride=stride, kernel_size=kernel_size, se_reduction=se_reduction, dropout=dropout
                    )
                )
                prev = w
        self.stages = nn.Sequential(*stages)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_channels, time)
        h = self.stem(x)  # (batch, widths[0], time / (2 * stem_pool))
        h = self.stages(h)  # (batch, widths[-1], time / (2**len(widths) * stem_pool))
        h = h.mean(dim=-1)  # (batch, widths[-1])
        return self.head(self.drop(h))  # (batch, num_classes)
