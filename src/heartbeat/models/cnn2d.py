"""2D convolutional network over the beat folded into a grid.

The 187-sample beat is zero-padded to ``rows * cols`` samples and reshaped
row-major into a ``grid = (rows, cols)`` image, so a row is a short stretch of
the beat and a column links samples ``cols`` apart (about a tenth of a second
for ``cols = 12``). A 2D kernel therefore sees local shape and a coarse
longer-range context at once. ``depth`` conv blocks follow, each halving both
grid axes (while they are at least 2), then global average pooling and a
linear head.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import torch
import torch.nn.functional as F
from torch import nn

from heartbeat.errors import ConfigError


@gin.configurable("CNN2D")
class CNN2D(nn.Module):
    """Beat folded to a (rows, cols) grid → 2D conv blocks → GAP → linear logits.

    Block ``i`` has ``channels * 2**i`` channels, capped at ``max_channels``.
    ``seq_len`` is the longest beat the grid must hold; the grid must have at
    least that many cells.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        grid: Sequence[int] = (16, 12),
        depth: int = 3,
        channels: int = 16,
        max_channels: int = 64,
        kernel_size: int = 3,
        batch_norm: bool = True,
        dropout: float = 0.1,
        seq_len: int = 187,
    ):
        super().__init__()
        grid = tuple(grid)
        if len(grid) != 2 or any(int(g) != g or g < 1 for g in grid):
            raise ConfigError(f"CNN2D: grid must be two positive ints (rows, cols), got {grid!r}")
        rows, cols = int(grid[0]), int(grid[1])
        if rows * cols < seq_len:
            raise ConfigError(
                f"CNN2D: grid {rows}x{cols} has {rows * cols} cells, fewer than the "
                f"{seq_len} samples of a beat; choose rows * cols >= {seq_len}"
            )
        if depth < 1 or channels < 1 or kernel_size < 1:
            raise ConfigError(
                f"CNN2D: depth, channels and kernel_size must be >= 1, got "
                f"depth={depth}, channels={channels}, kernel_size={kernel_size}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"CNN2D: dropout must be in [0, 1), got {dropout}")
        self.rows, self.cols = rows, cols

        layers: list[nn.Module] = []
        prev = in_channels
        h, w = rows, cols
        for i in range(depth):
            out = min(channels * 2**i, max(max_channels, channels))
            for j in range(2):
                layers.append(
                    nn.Conv2d(prev if j == 0 else out, out, kernel_size, padding="same", bias=not batch_norm)
                )
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU(inplace=True))
            # Halve only the axes that can still be halved: a 16x12 grid goes
            # 8x6 → 4x3 → 2x1 (floor), and stops shrinking there.
            ph, pw = (2 if h >= 2 else 1), (2 if w >= 2 else 1)
            if ph > 1 or pw > 1:
                layers.append(nn.MaxPool2d((ph, pw)))
                h, w = h // ph, w // pw
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_channels, time)
        batch, ch, time = x.shape
        cells = self.rows * self.cols
        if time > cells:
            raise ConfigError(f"CNN2D: input has {time} samples, grid holds only {cells}")
        x = F.pad(x, (0, cells - time))  # (batch, in_channels, rows * cols), zero tail like the beat's padding
        x = x.view(batch, ch, self.rows, self.cols)  # (batch, in_channels, rows, cols)
        h = self.features(x)  # (batch, C, rows', cols')
        h = h.mean(dim=(-2, -1))  # (batch, C)
        return self.head(h)  # (batch, num_classes)
