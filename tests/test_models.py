"""Model zoo: every registered family builds, runs forward and backward, and rejects bad configs."""

from __future__ import annotations

import gin
import numpy as np
import pytest
import torch

import heartbeat.models as models
from heartbeat.errors import ConfigError
from heartbeat.models import BASELINES, REGISTRY, GBTBaseline, LDABaseline

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_gin_bindings():
    # Models are built from their defaults here, whatever another test bound.
    gin.clear_config()
    yield
    gin.clear_config()


def beats(batch: int, seed: int = 0) -> torch.Tensor:
    """Beat-like input (batch, 1, 187): values in [0, 1], zero padding of varying length."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, 187, generator=g)
    lengths = torch.randint(90, 188, (batch,), generator=g)
    return x * (torch.arange(187)[None, None, :] < lengths[:, None, None])


def check_forward_backward(model: torch.nn.Module, num_classes: int, batch: int = 4) -> None:
    model.train()
    logits = model(beats(batch))
    assert logits.shape == (batch, num_classes)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    loss = torch.nn.functional.cross_entropy(logits, torch.arange(batch) % num_classes)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


def test_registry_lists_every_family():
    assert set(REGISTRY) == {"CNN1D", "CNN2D", "GRU", "Transformer", "ResNet1D"}
    assert set(BASELINES) == {"GBTBaseline", "LDABaseline"}
    assert all(issubclass(cls, torch.nn.Module) for cls in REGISTRY.values())
    assert not issubclass(GBTBaseline, torch.nn.Module) and not issubclass(LDABaseline, torch.nn.Module)
    assert models.CNN1D is REGISTRY["CNN1D"]


@pytest.mark.parametrize("num_classes", [2, 5])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_forward_backward_defaults(name, num_classes):
    torch.manual_seed(0)
    model = REGISTRY[name](in_channels=1, num_classes=num_classes)
    check_forward_backward(model, num_classes)
    n_params = sum(p.numel() for p in model.parameters())
    assert 10_000 < n_params < 500_000, f"{name} default has {n_params} parameters"


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("CNN1D", dict(pooling="avg", batch_norm=False, dilation=2, kernel_size=4, depth=2, stem_stride=1)),
        ("CNN1D", dict(pooling="none", width_growth=1.0, channels=8, depth=2, convs_per_block=1, dropout=0.0)),
        ("CNN2D", dict(grid=(14, 14), depth=4, kernel_size=5, batch_norm=False, channels=8)),
        ("CNN2D", dict(grid=[187, 1], depth=2, channels=4)),
        ("GRU", dict(conv_channels=0, pooling="mean", bidirectional=True, hidden_size=8)),
        ("GRU", dict(num_layers=2, bidirectional=False, pooling="last", conv_pool=1, hidden_size=8)),
        ("Transformer", dict(pooling="cls", positional="sinusoidal", patch_size=8, d_model=32, stem_channels=8)),
        ("Transformer", dict(positional="sinusoidal", d_model=33, num_heads=3, num_layers=1, patch_size=20)),
        ("ResNet1D", dict(widths=(8, 16, 16, 24), blocks=(1, 2, 1, 1), se_reduction=0, stem_pool=1, kernel_size=3)),
        ("ResNet1D", dict(widths=[16], blocks=np.int64(3), se_reduction=4, dropout=0.0)),  # as a search passes it
    ],
)
def test_forward_backward_variants(name, kwargs):
    torch.manual_seed(0)
    model = REGISTRY[name](in_channels=1, num_classes=3, **kwargs)
    check_forward_backward(model, num_classes=3)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_eval_mode_is_per_beat(name):
    # In eval mode a beat's logits must not depend on the rest of its batch (BN running stats, no leakage).
    torch.manual_seed(0)
    model = REGISTRY[name](in_channels=1, num_classes=5).eval()
    x = beats(6)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("CNN2D", dict(grid=(10, 10)), "fewer than the 187"),
        ("CNN2D", dict(grid=(16, 12, 1)), "two positive ints"),
        ("CNN1D", dict(pooling="median"), "pooling"),
        ("CNN1D", dict(depth=0), "depth"),
        ("CNN1D", dict(dropout=1.0), "dropout"),
        ("GRU", dict(pooling="max"), "pooling"),
        ("GRU", dict(conv_channels=-1), "conv_channels"),
        ("Transformer", dict(d_model=30, num_heads=4), "divisible"),
        ("Transformer", dict(positional="rotary"), "positional"),
        ("Transformer", dict(pooling="max"), "pooling"),
        ("Transformer", dict(stem_channels=-1), "stem_channels"),
        ("ResNet1D", dict(widths=(16, 32), blocks=(1, 1, 1)), "blocks"),
        ("ResNet1D", dict(widths=()), "widths"),
        ("ResNet1D", dict(se_reduction=-1), "se_reduction"),
    ],
)
def test_invalid_config_raises(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        REGISTRY[name](in_channels=1, num_classes=5, **kwargs)


def test_input_longer_than_built_for_raises():
    x = torch.rand(2, 1, 200)
    with pytest.raises(ValueError, match="grid holds only"):
        REGISTRY["CNN2D"](in_channels=1, num_classes=2)(x)
    with pytest.raises(ValueError, match="patches"):
        REGISTRY["Transformer"](in_channels=1, num_classes=2)(x)


@pytest.mark.parametrize("name", sorted(REGISTRY) + sorted(BASELINES))
def test_gin_name_is_registered(name):
    # The registry key is the gin name: a binding on it parses and reaches the constructor.
    gin.parse_config(f"{name}.num_classes = 3")
    model = {**REGISTRY, **BASELINES}[name](in_channels=1)
    if isinstance(model, torch.nn.Module):
        assert model(beats(2)).shape == (2, 3)
    else:
        assert model.num_classes == 3


def test_gin_binding_changes_the_model():
    gin.parse_config("CNN1D.channels = 8\nCNN1D.depth = 2\nCNN1D.width_growth = 2.0")
    model = REGISTRY["CNN1D"](in_channels=1, num_classes=5)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16]


# ---- classical baseline -------------------------------------------------------------


def separable_beats(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of beats that differ in shape and length, with noise: (n, 187), (n,)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.arange(187)[None, :]
    centre = np.where(y == 0, 40, np.where(y == 1, 80, 120))[:, None] + rng.integers(-5, 6, (n, 1))
    width = np.where(y == 2, 3.0, 10.0)[:, None]
    X = 0.2 + 0.6 * np.exp(-0.5 * ((t - centre) / width) ** 2) + rng.normal(0, 0.03, (n, 187))
    length = np.where(y == 0, 120, 160)[:, None] + rng.integers(-5, 6, (n, 1))
    X = np.clip(X, 0, 1) * (t < length)
    return X.astype(np.float32), y


BASELINE_CASES = [(GBTBaseline, {"max_iter": 30}), (LDABaseline, {})]


@pytest.mark.parametrize("cls, params", BASELINE_CASES, ids=["gbt", "lda"])
def test_baseline_learns_separable_data_and_round_trips(tmp_path, cls, params):
    X, y = separable_beats(150, seed=0)
    X_test, y_test = separable_beats(90, seed=1)
    model = cls(num_classes=3, **params)
    assert model.fit(X, y) is model
    proba = model.predict_proba(X_test)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    accuracy = (proba.argmax(1) == y_test).mean()
    assert accuracy > 0.9  # chance is 1/3
    np.testing.assert_array_equal(model.predict(X_test), proba.argmax(1))

    path = model.save(tmp_path / "baseline")
    assert path == tmp_path / "baseline" / "model.joblib" and path.exists()
    loaded = cls.load(tmp_path / "baseline")
    assert loaded.num_classes == 3 and loaded.params == model.params
    np.testing.assert_array_equal(loaded.predict_proba(X_test), proba)
    # the models' (batch, 1, time) layout is accepted too
    np.testing.assert_array_equal(loaded.predict_proba(X_test[:, None, :]), proba)


@pytest.mark.parametrize("cls, params", BASELINE_CASES, ids=["gbt", "lda"])
def test_baseline_keeps_columns_for_classes_absent_from_training(cls, params):
    X, y = separable_beats(60, seed=0)
    model = cls(num_classes=5, **params).fit(X, y)  # classes 3 and 4 never seen
    proba = model.predict_proba(X[:7])
    assert proba.shape == (7, 5)
    assert (proba[:, 3:] == 0).all()


def test_lda_equal_priors_find_more_of_a_rare_class_than_the_data_priors():
    """With priors='equal' a class of 1 beat in 10 is as likely a priori as the common one, so more of
    its beats are called; with 'data' the common class's prior wins where the two overlap."""

    def overlapping(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = (np.arange(n) % 10 == 0).astype(np.int64)  # class 1: one beat in ten
        t = np.arange(187)[None, :]
        height = 0.5 + 0.05 * y[:, None] + rng.normal(0, 0.05, (n, 1))  # the classes overlap in height
        X = 0.2 + height * np.exp(-0.5 * ((t - 60) / 10.0) ** 2) + rng.normal(0, 0.01, (n, 187))
        return np.clip(X, 0, 1).astype(np.float32), y

    X, y = overlapping(2000, seed=0)
    X_test, y_test = overlapping(2000, seed=1)
    found = {p: (LDABaseline(num_classes=2, priors=p).fit(X, y).predict(X_test)[y_test == 1] == 1).mean()
             for p in ("equal", "data")}
    assert 0 < found["data"] < found["equal"] < 1


def test_lda_takes_the_rhythm_as_logs():
    """A rhythm ratio and its inverse lie the same distance from the regular beat's 1 (log 1 = 0)."""
    X, _ = separable_beats(3, seed=0)
    rhythm = np.array([[1.0], [2.0], [0.5]], dtype=np.float32)
    f = LDABaseline(num_classes=2)._features(X, rhythm)[:, -1]
    np.testing.assert_allclose(f, [0.0, np.log(2.0), -np.log(2.0)], rtol=1e-6)
    assert GBTBaseline(num_classes=2)._features(X, rhythm)[:, -1].tolist() == [1.0, 2.0, 0.5]


def test_baseline_rejects_bad_input():
    with pytest.raises(ValueError, match="in_channels"):
        GBTBaseline(num_classes=2, in_channels=2)
    with pytest.raises(ConfigError, match="LDABaseline.priors must be 'equal' or 'data'"):
        LDABaseline(num_classes=2, priors="uniform")
    with pytest.raises(ConfigError, match="LDABaseline.shrinkage"):
        LDABaseline(num_classes=2, shrinkage=2.0)
    X, y = separable_beats(30, seed=0)
    with pytest.raises(ValueError, match="labels"):
        GBTBaseline(num_classes=2).fit(X, y)  # y has a class 2
