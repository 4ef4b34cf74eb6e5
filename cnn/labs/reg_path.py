"""The regularization lab's sweeps: a lambda path for L1 and L2, and AdamW vs L2 under Adam.

Every run is a copy inside one ``StackedMLP`` (ReLU, He normal) trained full batch on the ball
data plus pure-noise features; each copy carries its own penalty strength, so a path over
lambdas x seeds x methods costs one training loop. Penalties count weights only, never biases
(the course, handout lines 113 and 119).

- ``l1-prox``: plain SGD on the data loss, then the proximal step of lambda * sum|w|, the
  soft threshold w <- sign(w) max(|w| - lr lambda, 0) (ISTA): weights land on exactly zero.
- ``l1-subgradient``: SGD on data loss + lambda sum|w| (autograd's subgradient sign(w)): the
  weights hop across zero and almost never sit on it.
- ``l2``: SGD on data loss + lambda sum w^2.
- ``adam-l2`` vs ``adamw``: Adam (bias-corrected, = torch.optim.Adam) with lambda sum w^2 in
  the loss, vs AdamW's decoupled decay w <- w (1 - lr * 2 lambda) before each Adam step (the
  two coincide under plain SGD; under Adam the L2 gradient is rescaled per weight).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cnn.labs.ball import make_ball
from cnn.labs.optimizers import SGD, Adam
from cnn.labs.stacked import StackedMLP

SGD_METHODS = ("l1-prox", "l1-subgradient", "l2")
ADAM_METHODS = ("adam-l2", "adamw")
METHOD_TITLES = {
    "l1-prox": "L1, proximal step (soft threshold)",
    "l1-subgradient": "L1, subgradient in the loss",
    "l2": "L2 in the loss",
    "adam-l2": "Adam + L2 in the loss",
    "adamw": "AdamW (decoupled decay)",
}
LAMBDA_GRID: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


@dataclass(frozen=True)
class PathConfig:
    lambdas: tuple[float, ...] = LAMBDA_GRID
    seeds: int = 3
    seed: int = 0
    noise_features: int = 10
    steps: int = 300
    sgd_lr: float = 1.0  # full-batch SGD: large, so 300 steps fit the data
    adam_lr: float = 0.01
    units: int = 16
    hidden: int = 1


def soft_threshold(w: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """The proximal operator of t * |w|: shrink towards 0 by t, and stop at exactly 0."""
    return torch.sign(w) * torch.clamp(w.abs() - t, min=0.0)


def _per_copy(values: Sequence[float], n_seeds: int) -> torch.Tensor:
    """One value per stacked copy (values outer, seeds inner), shaped [n, 1, 1]."""
    return torch.tensor(np.repeat(values, n_seeds), dtype=torch.float32)[:, None, None]


def _split(config: PathConfig):
    d = make_ball(n=2000, seed=config.seed, noise_features=config.noise_features)
    x, y = torch.from_numpy(d.X), torch.from_numpy(d.y)
    return x[:1000], y[:1000], x[1000:], y[1000:], d.n_signal


def train_path(
    method: str,
    config: PathConfig = PathConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Train every lambda x seed copy with ``method``; per-copy results as arrays
    [n_lambdas, n_seeds] (``input_weights`` [n_lambdas, n_seeds, units, features])."""
    if method not in METHOD_TITLES:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHOD_TITLES)}")
    x, y, x_test, y_test, n_signal = _split(config)
    seeds = [config.seed + s for _ in config.lambdas for s in range(config.seeds)]
    model = StackedMLP(seeds, "relu", "he-normal", x.shape[1], config.units, config.hidden)
    lam = _per_copy(config.lambdas, config.seeds)
    adam = method in ADAM_METHODS
    lr = config.adam_lr if adam else config.sgd_lr
    opt = (Adam(model.parameters(), lr=lr, bias_correction=True) if adam
           else SGD(model.parameters(), lr=lr))  # fmt: skip
    for step in range(config.steps):
        opt.zero_grad()
        loss = model.loss(x, y).sum()
        if method == "l1-subgradient":
            loss = loss + sum((lam * w.abs()).sum() for w in model.penalized())
        elif method in ("l2", "adam-l2"):
            loss = loss + sum((lam * w.pow(2)).sum() for w in model.penalized())
        loss.backward()
        if method == "adamw":  # decoupled decay, before the step as torch.optim.AdamW does
            with torch.no_grad():
                for w in model.penalized():
                    w.mul_(1 - lr * 2 * lam)
        opt.step()
        if method == "l1-prox":
            with torch.no_grad():
                for w in model.penalized():
                    w.copy_(soft_threshold(w, lr * lam))
        if progress:
            progress(step + 1, config.steps)
    shape = (len(config.lambdas), config.seeds)
    w_in = model.input_weights().numpy()
    all_w = [w.detach().numpy().reshape(len(seeds), -1) for w in model.penalized()]
    return {
        "lambdas": np.array(config.lambdas),
        "n_signal": n_signal,
        "test_accuracy": model.accuracy(x_test, y_test).numpy().reshape(shape),
        "train_loss": model.loss(x, y).detach().numpy().reshape(shape),
        "l1_norm": np.sum([np.abs(w).sum(1) for w in all_w], 0).reshape(shape),
        "l2_norm": np.sqrt(np.sum([(w**2).sum(1) for w in all_w], 0)).reshape(shape),
        "input_weights": w_in.reshape(*shape, *w_in.shape[1:]),
    }


def summarize(run: dict[str, np.ndarray]) -> dict[str, Any]:
    """Medians over seeds per lambda (with the accuracy's range), JSON-ready."""
    w = run["input_weights"]  # [lambdas, seeds, units, features]
    ns = run["n_signal"]
    zero = w == 0.0
    dropped = zero.all(axis=2)  # a feature whose every outgoing weight is exactly 0

    def med(a: np.ndarray) -> list[float]:
        return np.median(a, 1).tolist()

    return {
        "lambdas": run["lambdas"].tolist(),
        "test_accuracy": med(run["test_accuracy"]),
        "test_accuracy_low": run["test_accuracy"].min(1).tolist(),
        "test_accuracy_high": run["test_accuracy"].max(1).tolist(),
        "train_loss": med(run["train_loss"]),
        "l1_norm": med(run["l1_norm"]),
        "l2_norm": med(run["l2_norm"]),
        "zero_input_weights": med(zero.sum((2, 3))),
        "zero_noise_input_weights": med(zero[..., ns:].sum((2, 3))),
        "zero_signal_input_weights": med(zero[..., :ns].sum((2, 3))),
        "noise_features_dropped": med(dropped[..., ns:].sum(2)),
        "signal_features_dropped": med(dropped[..., :ns].sum(2)),
        "input_weights_total": int(w.shape[2] * w.shape[3]),
        "noise_over_signal_norm": med(
            np.linalg.norm(w[..., ns:], axis=2).mean(-1)
            / np.linalg.norm(w[..., :ns], axis=2).mean(-1).clip(1e-12)
        ),
    }


def lambda_path(
    config: PathConfig = PathConfig(),
    methods: Sequence[str] = (*SGD_METHODS, *ADAM_METHODS),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """``summarize(train_path(m))`` for every method."""
    out = {}
    for k, m in enumerate(methods):
        tick = None if progress is None else (
            lambda d, t, k=k: progress(k * t + d, len(methods) * t))  # fmt: skip
        out[m] = summarize(train_path(m, config, tick))
    return out


def adamw_vs_l2(path: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The measured difference between AdamW and L2-in-the-loss under Adam, from the path."""
    a, w = path["adam-l2"], path["adamw"]
    ia, iw = int(np.argmax(a["test_accuracy"])), int(np.argmax(w["test_accuracy"]))
    return {
        "adam_l2_best": {"lambda": a["lambdas"][ia], "test_accuracy": a["test_accuracy"][ia],
                         "l2_norm": a["l2_norm"][ia]},
        "adamw_best": {"lambda": w["lambdas"][iw], "test_accuracy": w["test_accuracy"][iw],
                       "l2_norm": w["l2_norm"][iw]},
        "l2_norm_ratio_adamw_over_adam_l2": [x / max(y, 1e-12) for x, y in
                                             zip(w["l2_norm"], a["l2_norm"], strict=True)],
    }  # fmt: skip
