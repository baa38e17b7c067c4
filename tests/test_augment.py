"""Beat augmentation: shapes, identity when off, reproducible, each strength does what it says."""

from __future__ import annotations

import gin
import pytest
import torch

from heartbeat.data.augment import Augment

torch.set_num_threads(1)

STRENGTHS = [
    dict(noise_std=0.05),
    dict(scale=0.3),
    dict(wander=0.1),
    dict(shift=5),
    dict(warp=0.2),
]


def beats(batch: int = 64, length: int = 150, seed: int = 0) -> torch.Tensor:
    """Smooth beat-like signals (batch, 187) in [0, 1], zero after ``length`` samples."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(187, dtype=torch.float32)
    centre = torch.randint(20, 100, (batch, 1), generator=g)
    x = 0.3 + 0.6 * torch.exp(-0.5 * ((t - centre) / 6.0) ** 2)
    x[:, 0] = 1.0  # R peak
    return x * (t < length)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_disabled_is_identity():
    x = beats()
    for aug in (Augment(), Augment(noise_std=0.1, p=0.0)):
        assert not aug.enabled
        assert aug(x, gen()) is x
    assert Augment(shift=1).enabled


@pytest.mark.parametrize("kwargs", STRENGTHS + [dict(noise_std=0.02, scale=0.1, wander=0.05, shift=3, warp=0.1)])
@pytest.mark.parametrize("channels", [False, True])
def test_shape_dtype_finite_and_input_untouched(kwargs, channels):
    x = beats()
    if channels:
        x = x[:, None, :]  # (batch, 1, time) as the models take it
    before = x.clone()
    out = Augment(**kwargs)(x, gen())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    torch.testing.assert_close(x, before, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs", STRENGTHS)
def test_each_strength_changes_the_signal(kwargs):
    x = beats()
    out = Augment(**kwargs)(x, gen())
    changed = (out - x).abs().amax(dim=1) > 1e-4  # (batch,)
    assert changed.float().mean() > 0.7  # the odd beat may draw a near-identity transform


@pytest.mark.parametrize("kwargs", STRENGTHS)
def test_seeded_generator_is_deterministic(kwargs):
    x = beats()
    aug = Augment(**kwargs)
    torch.testing.assert_close(aug(x, gen(1)), aug(x, gen(1)), rtol=0, atol=0)
    assert not torch.equal(aug(x, gen(1)), aug(x, gen(2)))


@pytest.mark.parametrize("kwargs", [dict(noise_std=0.05), dict(scale=0.3), dict(wander=0.2)])
def test_padding_stays_zero_when_time_is_not_moved(kwargs):
    x = beats(length=120)
    out = Augment(**kwargs)(x, gen())
    assert (out[:, 120:] == 0).all()
    assert (out[:, :120] != x[:, :120]).any()


def test_noise_level_grows_with_noise_std():
    x = beats(256)
    levels = [(Augment(noise_std=s)(x, gen()) - x)[:, :150].std().item() for s in (0.01, 0.05, 0.2)]
    assert levels[0] < levels[1] < levels[2]
    for got, want in zip(levels, (0.01, 0.05, 0.2)):
        assert got == pytest.approx(want, rel=0.1)


def test_scale_multiplies_each_beat_by_one_gain_in_range():
    x = beats()
    out = Augment(scale=0.25)(x, gen())
    gain = out[:, 0] / x[:, 0]  # (batch,)
    torch.testing.assert_close(out, x * gain[:, None])
    assert ((gain >= 0.75) & (gain <= 1.25)).all()
    assert gain.std() > 0.05  # drawn per beat


def test_wander_is_bounded_and_slow():
    x = beats()
    delta = (Augment(wander=0.1)(x, gen()) - x)[:, :150]
    assert delta.abs().max() <= 0.1 + 1e-6
    # at most 0.5 Hz over 1.2 s: consecutive samples differ by at most 2*pi*0.5/125 * amplitude
    assert delta.diff(dim=1).abs().max() <= 2 * torch.pi * 0.5 / 125 * 0.1 + 1e-6


def test_shift_moves_whole_samples_with_zero_fill():
    x = beats(32)
    out = Augment(shift=4)(x, gen())
    seen = set()
    for i in range(len(x)):
        matches = []
        for k in range(-4, 5):
            ref = torch.zeros_like(x[i])
            if k >= 0:
                ref[k:] = x[i, : 187 - k]
            else:
                ref[:k] = x[i, -k:]
            if torch.allclose(out[i], ref, atol=1e-6):
                matches.append(k)
        assert matches, f"beat {i} is not a shift of its input"
        seen.update(matches)
    assert len(seen) >= 4  # shifts are drawn per beat, both ways


def test_warp_stretches_the_unpadded_length():
    x = beats(64, length=150)
    out = Augment(warp=0.3)(x, gen())
    lengths = torch.stack([(row != 0).nonzero().max() + 1 for row in out]).float()
    assert lengths.min() >= 150 * 0.7 - 2 and lengths.max() <= 187
    assert lengths.min() < 140 and lengths.max() > 160  # both shrunk and stretched beats
    torch.testing.assert_close(out[:, 0], x[:, 0])  # sample 0 (the R peak) stays put


def test_p_applies_to_a_fraction_of_beats():
    x = beats(400)
    out = Augment(noise_std=0.05, p=0.3)(x, gen())
    changed = ((out - x).abs().amax(dim=1) > 0).float().mean().item()
    assert 0.2 < changed < 0.4


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(noise_std=-0.1), "noise_std"), (dict(p=1.5), "p must"), (dict(warp=1.0), "warp"),
     (dict(shift=2.5), "shift"), (dict(scale=1.0), "scale")],
)
def test_invalid_strengths_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Augment(**kwargs)


def test_gin_configurable():
    gin.clear_config()
    try:
        gin.parse_config("Augment.noise_std = 0.03\nAugment.shift = 2")
        aug = Augment()
        assert (aug.noise_std, aug.shift, aug.scale) == (0.03, 2, 0.0)
    finally:
        gin.clear_config()
