"""Random, label-preserving distortions of training beats, vectorised in torch.

Each beat of a batch draws its own distortion; there is no per-beat Python
loop. In order:

1. ``warp``: time stretch by a factor ``s ~ U(1 - warp, 1 + warp)`` (heart
   rate and conduction speed vary between people and over time), and
   ``shift``: delay by an integer ``k ~ U{-shift, ..., shift}`` samples
   (R-peak detection jitter). Both are one resampling ``out[t] = x[(t - k) /
   s]`` with linear interpolation; samples read from outside the beat are 0.
2. ``scale``: amplitude times ``1 + U(-scale, scale)`` (electrode contact,
   gain, patient size).
3. ``wander``: a baseline wander sinusoid of amplitude ``wander``, random
   frequency in 0.1-0.5 Hz (breathing, movement) and random phase.
4. ``noise_std``: white Gaussian noise (muscle and electrode noise).

The zero padding after a beat is kept: the unpadded part is found from the
last non-zero sample, moved along by the resampling, and everything after it
is set back to 0, so wander and noise never leak into the padding. Values are
not clipped to [0, 1]. Each beat is distorted with probability ``p`` and left
as it is otherwise. With every strength 0 the input is returned unchanged
(same object).
"""

from __future__ import annotations

import math

import gin
import torch

from heartbeat.errors import ConfigError

FS = 125.0
WANDER_HZ = (0.1, 0.5)


def _resample(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """out[b, c, t] = x[b, c, pos[b, t]] by linear interpolation, 0 outside [0, time - 1].

    x: (batch, channels, time); pos: (batch, time) fractional sample indices.
    """
    batch, ch, time = x.shape
    lo = pos.floor()
    frac = (pos - lo)[:, None, :]  # (batch, 1, time)
    inside = ((pos >= 0) & (pos <= time - 1))[:, None, :]  # (batch, 1, time)
    i0 = lo.long().clamp(0, time - 1)[:, None, :].expand(batch, ch, time)
    i1 = (lo.long() + 1).clamp(0, time - 1)[:, None, :].expand(batch, ch, time)
    out = x.gather(-1, i0) * (1 - frac) + x.gather(-1, i1) * frac
    return out * inside


@gin.configurable("Augment")
class Augment:
    """Batch augmenter for beats ``(batch, time)`` or ``(batch, channels, time)``; see the module docstring."""

    def __init__(
        self,
        noise_std: float = 0.0,
        scale: float = 0.0,
        wander: float = 0.0,
        shift: int = 0,
        warp: float = 0.0,
        p: float = 1.0,
    ):
        strengths = dict(noise_std=noise_std, scale=scale, wander=wander, shift=shift, warp=warp)
        for name, value in strengths.items():
            if value < 0:
                raise ConfigError(f"Augment: {name} must be >= 0, got {value}")
        if warp >= 1:
            raise ConfigError(f"Augment: warp must be < 1 (stretch factors 1 ± warp), got {warp}")
        if scale >= 1:
            raise ConfigError(f"Augment: scale must be < 1 (gains 1 ± scale), got {scale}")
        if int(shift) != shift:
            raise ConfigError(f"Augment: shift is a number of samples, got {shift}")
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"Augment: p must be in [0, 1], got {p}")
        self.noise_std = float(noise_std)
        self.scale = float(scale)
        self.wander = float(wander)
        self.shift = int(shift)
        self.warp = float(warp)
        self.p = float(p)

    @property
    def enabled(self) -> bool:
        """Whether a call can change anything."""
        strengths = (self.noise_std, self.scale, self.wander, self.shift, self.warp)
        return self.p > 0 and any(s > 0 for s in strengths)

    def __repr__(self) -> str:
        return (
            f"Augment(noise_std={self.noise_std}, scale={self.scale}, wander={self.wander}, "
            f"shift={self.shift}, warp={self.warp}, p={self.p})"
        )

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Distorted copy of ``x`` (same shape and dtype); ``generator`` makes it reproducible."""
        if not self.enabled:
            return x
        if x.dim() not in (2, 3):
            raise ConfigError(f"Augment: expected (batch, time) or (batch, channels, time), got {tuple(x.shape)}")
        shape, dtype, device = x.shape, x.dtype, x.device
        x3 = x.reshape(shape[0], -1, shape[-1]).float()  # (batch, channels, time)
        batch, _, time = x3.shape
        gen_device = generator.device if generator is not None else device

        def uniform(lo: float, hi: float, *size: int) -> torch.Tensor:
            u = torch.rand(size, generator=generator, device=gen_device).to(device)
            return lo + (hi - lo) * u

        t = torch.arange(time, device=device, dtype=torch.float32)  # (time,)
        # unpadded part: up to the last non-zero sample of any channel
        nonzero = (x3 != 0).any(dim=1)  # (batch, time)
        length = torch.where(nonzero, t + 1, torch.zeros_like(t)).amax(dim=1)  # (batch,)
        valid = (t[None, :] < length[:, None]).float()  # (batch, time)

        y = x3
        if self.warp > 0 or self.shift > 0:
            stretch = uniform(1 - self.warp, 1 + self.warp, batch)  # (batch,)
            k = torch.randint(-self.shift, self.shift + 1, (batch,), generator=generator, device=gen_device)
            pos = (t[None, :] - k.to(device)[:, None].float()) / stretch[:, None]  # (batch, time)
            y = _resample(y, pos)
            valid = (_resample(valid[:, None, :], pos)[:, 0] > 0.5).float()
        if self.scale > 0:
            y = y * uniform(1 - self.scale, 1 + self.scale, batch)[:, None, None]
        if self.wander > 0:
            freq = uniform(*WANDER_HZ, batch)  # (batch,) Hz
            phase = uniform(0.0, 2 * math.pi, batch)
            angle = 2 * math.pi * freq[:, None] * t[None, :] / FS + phase[:, None]  # (batch, time)
            y = y + self.wander * torch.sin(angle)[:, None, :]
        if self.noise_std > 0:
            noise = torch.randn(y.shape, generator=generator, device=gen_device).to(device)
            y = y + self.noise_std * noise
        y = y * valid[:, None, :]  # padding back to exact zeros
        if self.p < 1:
            keep = uniform(0.0, 1.0, batch) >= self.p  # (batch,) beats left as they are
            y = torch.where(keep[:, None, None], x3, y)
        return y.to(dtype).reshape(shape)
