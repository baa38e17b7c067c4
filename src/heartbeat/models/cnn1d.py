"""1D convolutional network over the raw beat.

A stack of ``depth`` conv blocks (``convs_per_block`` convolutions each, then a
pooling step that halves the time axis), global average pooling over time and a
linear head. The first convolution has stride ``stem_stride`` (2: the blocks
start at 62.5 Hz, still ~6 samples per QRS complex). That stride and halving
the time axis after every block keep most of the arithmetic at low time
resolution, which is what makes this family cheap on a CPU; the channel count
may grow per block (``width_growth``) to compensate for the shrinking time
axis, as in VGG-style nets and Kachuee et al. (2018).
"""

from __future__ import annotations

import gin
import torch
from torch import nn

from heartbeat.errors import ConfigError

POOLINGS = ("max", "avg", "none")


def _conv_block(
    in_ch: int,
    out_ch: int,
    *,
    convs: int,
    kernel_size: int,
    stride: int,
    dilation: int,
    pooling: str,
    batch_norm: bool,
    dropout: float,
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers.append(
            nn.Conv1d(
                in_ch if i == 0 else out_ch,
                out_ch,
                kernel_size,
                stride=stride if i == 0 else 1,
                padding=dilation * (kernel_size - 1) // 2,
                dilation=dilation,
                bias=not batch_norm,  # BN has its own shift
            )
        )
        if batch_norm:
            layers.append(nn.BatchNorm1d(out_ch))
        layers.append(nn.ReLU(inplace=True))
    if pooling == "max":
        layers.append(nn.MaxPool1d(2, ceil_mode=True))
    elif pooling == "avg":
        layers.append(nn.AvgPool1d(2, ceil_mode=True))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@gin.configurable("CNN1D")
class CNN1D(nn.Module):
    """Conv blocks → global average pool → linear logits.

    Block ``i`` has ``round(channels * width_growth**i)`` channels. ``pooling``
    is the downsampling after each block ('max', 'avg', or 'none' to keep the
    full time resolution, which is much slower).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        depth: int = 4,
        channels: int = 32,
        width_growth: float = 1.5,
        kernel_size: int = 5,
        dilation: int = 1,
        convs_per_block: int = 2,
        stem_stride: int = 2,
        pooling: str = "max",
        batch_norm: bool = True,
        dropout: float = 0.1,
    ):
        super().__init__()
        if min(depth, channels, kernel_size, dilation, convs_per_block, stem_stride) < 1:
            raise ConfigError(
                "CNN1D: depth, channels, kernel_size, dilation, convs_per_block and stem_stride must be >= 1, got "
                f"depth={depth}, channels={channels}, kernel_size={kernel_size}, "
                f"dilation={dilation}, convs_per_block={convs_per_block}, stem_stride={stem_stride}"
            )
        if width_growth <= 0:
            raise ConfigError(f"CNN1D: width_growth must be > 0, got {width_growth}")
        if pooling not in POOLINGS:
            raise ConfigError(f"CNN1D: pooling must be one of {POOLINGS}, got {pooling!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"CNN1D: dropout must be in [0, 1), got {dropout}")

        widths = [max(1, round(channels * width_growth**i)) for i in range(depth)]
        blocks = []
        prev = in_channels
        for i, w in enumerate(widths):
            blocks.append(
                _conv_block(
                    prev,
                    w,
                    convs=convs_per_block,
                    kernel_size=kernel_size,
                    stride=stem_stride if i == 0 else 1,
                    dilation=dilation,
                    pooling=pooling,
                    batch_norm=batch_norm,
                    dropout=dropout,
                )
            )
            prev = w
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, in_channels, time)
        h = self.features(x)  # (batch, widths[-1], time / 2**depth)
        h = h.mean(dim=-1)  # (batch, widths[-1])
        return self.head(h)  # (batch, num_classes)
