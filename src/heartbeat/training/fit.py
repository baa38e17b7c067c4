"""The fit loop: small named steps (sample an epoch, train it, evaluate, callbacks).

``fit`` is the one gin root: ``fit.model = @CNN1D`` picks the family and ``fit.*`` holds the
loop's hyperparameters. The data stays in memory as tensors and batches are indexed
directly; evaluation covers the whole validation set (no dropped last batch) and metrics
are computed once over all its predictions. Classical baselines (scikit-learn estimators,
see ``heartbeat.models.BASELINES``) are fitted in one call instead of by the epoch loop.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import gin
import numpy as np
import torch
from torch import nn

from heartbeat.choices import DEVICES
from heartbeat.data.beatset import BeatSet
from heartbeat.data.inputs import BeatInput
from heartbeat.errors import ConfigError
from heartbeat.metrics import classification_metrics
from heartbeat.models.fusion import build_model
from heartbeat.training.transfer import freeze as freeze_params
from heartbeat.training.transfer import load_pretrained, train_mode

BALANCE = ("none", "loss", "sampler", "sampler_sqrt")
SCHEDULERS = ("plateau", "onecycle", "cosine", "constant")


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite: the trial is a failure, not a result."""


class EarlyStopping:
    """Stop when the monitored value (higher is better) has not improved for ``patience`` epochs."""

    def __init__(self, patience: int, min_delta: float = 1e-4):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.bad_epochs = -math.inf, -1, 0

    def step(self, value: float, epoch: int) -> bool:
        """Record an epoch's value; True if it is the best so far."""
        if value > self.best + self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def stop(self) -> bool:
        return self.bad_epochs >= self.patience


@dataclass
class FitResult:
    model: object                       # nn.Module (best epoch restored) or a fitted baseline
    metrics: dict[str, float]           # validation metrics of the best epoch
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    objective: str = "f2_macro"
    seconds: float = 0.0
    inputs: BeatInput = field(default_factory=BeatInput)


def class_weights(y: np.ndarray, num_classes: int, power: float = 1.0) -> torch.Tensor:
    """(n / (k * count_c)) ** power, normalised to mean 1 over classes."""
    counts = np.maximum(np.bincount(y, minlength=num_classes), 1).astype(np.float64)
    w = (len(y) / (num_classes * counts)) ** power
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def epoch_indices(y: torch.Tensor, balance: str, beats_per_epoch: int | None, num_classes: int,
                  generator: torch.Generator) -> torch.Tensor:
    """Indices of one epoch: a permutation, or a class-balanced draw of ``beats_per_epoch`` beats.

    ``sampler`` draws every class equally often; ``sampler_sqrt`` in proportion to
    sqrt(class count), a middle way that still shows the rare classes far more often.
    """
    n = len(y)
    size = beats_per_epoch or n
    if balance in ("sampler", "sampler_sqrt"):
        counts = torch.bincount(y, minlength=num_classes).clamp(min=1).double()
        per_class = 1.0 / counts if balance == "sampler" else counts.rsqrt()
        return torch.multinomial(per_class[y], size, replacement=True, generator=generator)
    perm = torch.randperm(n, generator=generator)
    return perm[:size] if size < n else perm


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """``'auto'``: CUDA where there is a GPU, else the CPU; ``'cuda'`` without one is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA GPU here; use --device cpu or auto")
    if str(device).split(":")[0] not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; expected one of {DEVICES}")
    return torch.device(device)


def forward(net: nn.Module, xb: torch.Tensor, rb: torch.Tensor | None) -> torch.Tensor:
    """Logits (batch, classes) of beats (batch, 187), with their rhythm (batch, k) where the net takes it.

    The batch goes to the net's device; the data stays on the CPU until then."""
    dev = next(net.parameters()).device
    xb = xb.unsqueeze(1).to(dev, non_blocking=True)     # (batch, 1, 187)
    return net(xb) if rb is None else net(xb, rb.to(dev, non_blocking=True))


def train_epoch(net: nn.Module, X: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, batch_size: int,
                loss_fn: nn.Module, optimizer: torch.optim.Optimizer, scheduler, per_step: bool,
                augment, grad_clip: float, generator: torch.Generator, R: torch.Tensor | None = None) -> float:
    """One pass over ``idx`` in batches; returns the mean training loss over beats."""
    train_mode(net)  # frozen layers (fit.freeze) stay in eval mode
    total, seen = 0.0, 0
    for start in range(0, len(idx), batch_size):
        b = idx[start:start + batch_size]
        if len(b) < 2 and R is not None:  # the rhythm's batch norm needs two beats to train on
            continue
        xb = X[b]                                       # (batch, 187)
        if augment is not None and augment.enabled:
            xb = augment(xb, generator)
        logits = forward(net, xb, None if R is None else R[b])  # (batch, classes), or (K * batch, classes)
        yb = y[b].repeat(len(logits) // len(b))  # an ensemble's K members each predict the batch in training
        loss = loss_fn(logits, yb.to(logits.device))
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"training loss became {loss.item()} at beat {seen}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        optimizer.step()
        if per_step:
            scheduler.step()
        total += loss.item() * len(b)
        seen += len(b)
    return total / max(seen, 1)


@torch.inference_mode()
def predict_proba(net: nn.Module, X: np.ndarray | torch.Tensor, batch_size: int = 4096,
                  rhythm: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
    """Class probabilities (n, classes) for every beat, in batches (the last partial one included)."""
    net.eval()
    X = torch.as_tensor(X, dtype=torch.float32)
    R = None if rhythm is None else torch.as_tensor(rhythm, dtype=torch.float32)
    out = [torch.softmax(forward(net, X[i:i + batch_size], None if R is None else R[i:i + batch_size]), dim=1).cpu()
           for i in range(0, len(X), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def make_scheduler(name: str, optimizer, epochs: int, steps_per_epoch: int, learning_rate: float):
    """(scheduler, steps per batch?) for the named schedule."""
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2), False
    if name == "onecycle":
        total = epochs * steps_per_epoch
        if total < 4:  # too short a run to warm up and anneal: keep the rate constant
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0), True
        # warm up over a quarter of the run, and over at least 2.5 steps (OneCycleLR divides by it)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=total,
                                                   pct_start=max(0.25, 2.5 / total)), True
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch), True
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0), True
    raise ConfigError(f"unknown fit.scheduler {name!r}; expected one of {SCHEDULERS}")


@gin.configurable(denylist=["train", "valid", "on_epoch", "max_epochs", "device"])
def fit(
    train: BeatSet,
    valid: BeatSet,
    model=gin.REQUIRED,
    epochs: int = 30,
    batch_size: int = 256,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-4,
    scheduler: str = "onecycle",
    balance: str = "sampler_sqrt",
    class_weight_power: float = 1.0,
    beats_per_epoch: int | None = None,
    patience: int = 6,
    objective: str = "f2_macro",
    grad_clip: float = 1.0,
    label_smoothing: float = 0.0,
    augment=None,
    init_from: str | None = None,
    freeze: str = "none",
    seed: int = 0,
    on_epoch: Callable[[dict, object], None] | None = None,
    max_epochs: int | None = None,
    device: str = "cpu",
) -> FitResult:
    """Train ``model`` (a gin-configured class) on ``train``, select on ``valid``'s ``objective``.

    ``on_epoch(row, model)`` is called after each epoch with the epoch's metrics and the model
    (Ray Tune reports from there, with a checkpoint when ``row["improved"]``; raising in it
    stops the fit). ``row["final"]`` marks the fit's last epoch (patience or epochs reached).
    ``init_from`` (a model folder) starts from its weights, a resized head excepted, and
    ``freeze = 'backbone'`` then trains the head alone (heartbeat.training.transfer).
    ``max_epochs`` caps ``epochs`` from outside gin (the search's resource limit); the
    learning-rate schedule then spans the capped run. ``device`` ('cpu', 'cuda' or 'auto') is
    where the network trains; the beats stay in CPU memory and go over batch by batch.
    The beats must be cut by ``BeatInput.window``, and carry their rhythm where
    ``BeatInput.rhythm`` asks for it (:class:`heartbeat.data.inputs.BeatInput`).
    """
    if balance not in BALANCE:
        raise ConfigError(f"unknown fit.balance {balance!r}; expected one of {BALANCE}")
    start = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed)
    k = train.num_classes
    inputs = BeatInput()
    (X_train, R_train), (X_valid, R_valid) = inputs.arrays(train, "fit"), inputs.arrays(valid, "fit")
    net = build_model(model, k, inputs.num_rhythm)
    if not isinstance(net, nn.Module):
        return _fit_baseline(net, train, valid, objective, start, on_epoch, inputs)

    if init_from:
        load_pretrained(net, init_from)
    net.to(resolve_device(device))

    freeze_params(net, freeze)
    generator = torch.Generator().manual_seed(seed)
    X, y = torch.from_numpy(X_train), torch.from_numpy(train.y)
    R = None if R_train is None else torch.from_numpy(R_train)
    weight = class_weights(train.y, k, class_weight_power).to(resolve_device(device)) if balance == "loss" else None
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=learning_rate, weight_decay=weight_decay)
    steps = math.ceil((beats_per_epoch or len(train)) / batch_size)
    last_epoch = min(epochs, max_epochs or epochs)
    sched, per_step = make_scheduler(scheduler, optimizer, last_epoch, steps, learning_rate)
    aug = augment() if augment is not None else None
    stopper = EarlyStopping(patience)
    best_state, best_metrics, history = None, {}, []
    for epoch in range(1, last_epoch + 1):
        t0 = time.perf_counter()
        idx = epoch_indices(y, balance, beats_per_epoch, k, generator)
        lr = optimizer.param_groups[0]["lr"]
        loss = train_epoch(net, X, y, idx, batch_size, loss_fn, optimizer, sched, per_step, aug, grad_clip, generator,
                           R)
        pred = predict_proba(net, X_valid, rhythm=R_valid).argmax(1)
        metrics = classification_metrics(valid.y, pred, valid.classes)
        if not per_step:
            sched.step(metrics[objective])
        improved = stopper.step(metrics[objective], epoch)
        if improved:
            best_state, best_metrics = copy.deepcopy(net.state_dict()), metrics
        row = {"epoch": epoch, "loss": loss, "lr": lr, "objective": metrics[objective],
               "best_objective": stopper.best, "improved": improved, "final": stopper.stop or epoch == last_epoch,
               "seconds": time.perf_counter() - t0, **metrics}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row, net)
        if stopper.stop:
            break
    net.load_state_dict(best_state)
    net.cpu()  # a fitted model is handed back on the CPU, where it is saved and served
    return FitResult(net, best_metrics, history, stopper.best_epoch, objective, time.perf_counter() - start, inputs)


def _fit_baseline(est, train: BeatSet, valid: BeatSet, objective: str, start: float, on_epoch,
                  inputs: BeatInput) -> FitResult:
    X_train, R_train = inputs.arrays(train, "fit")
    X_valid, R_valid = inputs.arrays(valid, "fit")
    est.fit(X_train, train.y, rhythm=R_train)
    pred = est.predict_proba(X_valid, rhythm=R_valid).argmax(1)
    metrics = classification_metrics(valid.y, pred, valid.classes)
    row = {"epoch": 1, "loss": float("nan"), "lr": float("nan"), "objective": metrics[objective],
           "best_objective": metrics[objective], "improved": True, "final": True,
           "seconds": time.perf_counter() - start, **metrics}
    if on_epoch is not None:
        on_epoch(row, est)
    return FitResult(est, metrics, [row], 1, objective, time.perf_counter() - start, inputs)
