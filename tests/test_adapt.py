"""Per-patient batch-norm statistics (heartbeat.evaluation.adapt): what is re-estimated, on which beats."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from heartbeat.cli import main
from heartbeat.evaluation.adapt import (
    MODES,
    adapt_batch_norm,
    adapt_summary,
    adapted_predictions,
    batch_norms,
    first_seconds,
)
from heartbeat.models.cnn1d import CNN1D
from heartbeat.models.fusion import RhythmFusion
from heartbeat.training.fit import predict_proba

pytestmark = pytest.mark.usefixtures("clean_gin")


def _net(seed: int = 0) -> RhythmFusion:
    torch.manual_seed(seed)
    net = RhythmFusion(CNN1D(in_channels=1, num_classes=4, channels=4, depth=2), num_rhythm=3, num_classes=4)
    net.eval()
    return net


def _beats(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(0.2, 0.5, (n, 187)).astype(np.float32)
    R = rng.uniform(0.5, 1.5, (n, 3)).astype(np.float32)
    return X, R


def _stats(net) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_the_rhythm_norm_takes_the_patients_own_log_rr_mean_and_variance():
    net = _net()
    before = _stats(net)
    X, R = _beats(300)
    adapted = adapt_batch_norm(net, X, R, "rhythm")
    bn = adapted.rhythm[0]
    logs = np.log(R.astype(np.float64))
    # by hand: the mean and the unbiased variance of the log RR features over the patient's beats
    np.testing.assert_allclose(bn.running_mean.numpy(), logs.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), logs.var(0, ddof=1), rtol=1e-3, atol=1e-5)
    after = adapted.state_dict()
    for key, value in before.items():
        if key.startswith("rhythm.0.running") or key.endswith("num_batches_tracked"):
            continue
        assert torch.equal(after[key], value), f"{key} changed, though only the rhythm norm's statistics may"
    # the network given is left as it was
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())


def test_the_beat_layers_move_and_the_rhythm_norm_stays_under_backbone():
    net = _net()
    X, R = _beats(300)
    adapted = adapt_batch_norm(net, X, R, "backbone")
    assert torch.equal(adapted.rhythm[0].running_mean, net.rhythm[0].running_mean)
    moved = [a for a, b in zip(batch_norms(adapted, "backbone"), batch_norms(net, "backbone"))
             if not torch.allclose(a.running_mean, b.running_mean)]
    assert len(batch_norms(net, "backbone")) >= 2 and len(moved) == len(batch_norms(net, "backbone"))
    # every weight is the same: only statistics change
    for (k, a), b in zip(adapted.named_parameters(), net.parameters()):
        assert torch.equal(a, b), k
    assert not adapted.training and all(not m.training for m in adapted.modules())


def test_layers_name_disjoint_sets_and_none_changes_nothing():
    net = _net()
    back, rhythm, every = (set(map(id, batch_norms(net, w))) for w in ("backbone", "rhythm", "all"))
    assert back and rhythm and not back & rhythm and back | rhythm == every
    assert batch_norms(net, "none") == []
    X, R = _beats(50)
    same = adapt_batch_norm(net, X, R, "none")
    assert all(torch.equal(same.state_dict()[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="layers must be one of"):
        batch_norms(net, "convs")


def test_first_five_minutes_are_measured_from_the_records_first_beat():
    t = np.array([12.0, 100.0, 311.9, 312.1, 900.0])
    assert first_seconds(t, 300.0).tolist() == [True, True, True, False, False]
    assert first_seconds(t, None).all()


class _Beats:
    def __init__(self, X, R, record, time):
        self.X, self.R, self.record, self.time = X, R, np.asarray(record), np.asarray(time, dtype=float)

    def __len__(self):
        return len(self.X)


def _model(net):
    return SimpleNamespace(net=net, tag="tiny", decide=lambda P: P.argmax(1),
                           inputs=SimpleNamespace(arrays=lambda beats, who: (beats.X, beats.R)))


def test_a_first_five_minutes_mode_ignores_what_comes_after_them_and_records_stay_apart():
    net = _net(3)
    X, R = _beats(400)
    time = np.r_[np.linspace(0, 600, 200), np.linspace(0, 600, 200)]
    record = ["a"] * 200 + ["b"] * 200
    modes = {"first": ("all", 300.0), "whole": ("all", None)}
    one = adapted_predictions(_model(net), _Beats(X, R, record, time), modes)
    X2, R2 = X.copy(), R.copy()
    late_a = np.flatnonzero((time > 300) & (np.array(record) == "a"))
    X2[late_a] += 3.0  # record a's later beats change
    R2[late_a] *= 2.0
    two = adapted_predictions(_model(net), _Beats(X2, R2, record, time), modes)
    early_a = np.flatnonzero((time <= 300) & (np.array(record) == "a"))
    b = np.arange(200, 400)
    assert (one["first"][early_a] == two["first"][early_a]).all()
    assert (one["first"][b] == two["first"][b]).all() and (one["whole"][b] == two["whole"][b]).all()
    # the first-five-minutes mode is record a's net adapted on exactly those beats, applied to all of a's
    early_net = adapt_batch_norm(net, X[early_a], R[early_a], "all")
    assert (one["first"][:200] == predict_proba(early_net, X[:200], rhythm=R[:200]).argmax(1)).all()
    # the whole-record mode does see them: its statistics, and so its calls, may move (a sanity check of the above)
    adapted_one = adapt_batch_norm(net, X[:200], R[:200], "all")
    adapted_two = adapt_batch_norm(net, X2[:200], R2[:200], "all")
    assert not torch.allclose(adapted_one.rhythm[0].running_mean, adapted_two.rhythm[0].running_mean)


def _rows(mode, seed, hits):
    # two folds; each class has 10 beats per fold, and ``hits`` of them are found, with 2 false calls
    return [{"variant": mode, "fold": f, "folds": 2, "seed": seed, **{f"n_{c}": 10 for c in "NSVF"},
             **{f"hit_{c}": h for c, h in zip("NSVF", hits)}, **{f"called_{c}": h + 2 for c, h in zip("NSVF", hits)}}
            for f in range(2)]


def test_the_summary_pools_the_folds_and_gives_each_modes_change_seed_by_seed():
    runs = pd.DataFrame(_rows("unadapted", 0, (9, 5, 8, 2)) + _rows("beat layers, whole record", 0, (9, 7, 8, 2))
                        + _rows("unadapted", 1, (9, 3, 8, 2)) + _rows("beat layers, whole record", 1, (9, 3, 8, 2))
                        + _rows("every layer, first 5 min", 0, (9, 5, 8, 2))[:1])  # one fold of two: left out
    table = adapt_summary(runs).set_index("variant")
    assert list(table.index) == [m for m in MODES if m in ("unadapted", "beat layers, whole record")]
    assert table.loc["unadapted", "cv_Se_S"] == pytest.approx(0.4)  # (0.5 + 0.3) / 2 over the seeds
    assert table.loc["unadapted", "cv_P_S"] == pytest.approx((5 / 7 + 3 / 5) / 2)
    # seed 0: S Se 0.5 -> 0.7, macro Se +0.05; seed 1: no change
    assert table.loc["beat layers, whole record", "cv_macro_Se_change"] == pytest.approx((0.05 + 0) / 2)
    # its macro Se: 0.65 (seed 0) and 0.55 (seed 1)
    assert table.loc["beat layers, whole record", "cv_macro_Se_spread"] == pytest.approx(0.05)
    assert table.loc["unadapted", "seeds"] == 2


def test_adapt_asks_for_folds(capsys):
    assert main(["ablate", "--adapt"]) == 2
    assert "--folds" in capsys.readouterr().err
