"""The optimizer race: the course's update rules on the ball data and on 2-D test functions.

On the ball data every optimizer gets a learning-rate sweep (``LR_GRID``, log-spaced) over
several weight seeds (one ball data set) and is compared at its own best rate: the rate with
the best median validation accuracy. Held-out accuracy is then read on a separate test split.
All copies (rates x seeds) train at once as one ``StackedMLP`` whose ``lr`` is a tensor, one
rate per copy. The net is a small BLOCK (2 hidden tanh layers of 16, Glorot normal): the full
BLOCK costs ~15x more per step, and 8 optimizers x 9 rates x 3 seeds must fit in a CLI run.
Full batch, except for the RProp demonstration (``rprop_batches``): the handout says RProp
"only works in full batch mode" (line 616). Adam appears twice: the course's rule and the
bias-corrected one; ``adam_early_steps`` measures how far each moves the weights early on.

On the 2-D functions each optimizer keeps one hand-picked setting (``FUNCTIONS[...].settings``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cnn.labs.ball import make_ball
from cnn.labs.config import LR_GRID, RACERS, OptimLabConfig
from cnn.labs.optimizers import SGD, Adadelta, Adagrad, Adam, Momentum, Nesterov, RProp
from cnn.labs.report import LabResult
from cnn.labs.stacked import StackedMLP

FACTORIES: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "rprop": RProp,
    "adam": Adam,
    "adam-bc": lambda ps, **kw: Adam(ps, bias_correction=True, **kw),
}
# Settings besides the learning rate (the course's usual values).
FIXED: dict[str, dict[str, Any]] = {"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9}}


@dataclass(frozen=True)
class BallSplit:
    """The ball data cut into train / validation (picks the rate) / test (reports accuracy)."""

    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def ball_split(seed: int = 0, n_train: int = 1000, n_val: int = 500, n_test: int = 500):
    d = make_ball(n=n_train + n_val + n_test, seed=seed)
    x, y = torch.from_numpy(d.X), torch.from_numpy(d.y)
    a, b = n_train, n_train + n_val
    return BallSplit(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def train_stacked(
    model: StackedMLP,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Train every copy; returns the full-training-set BCE [epochs + 1, n_models], measured
    before training and after each epoch (one step per epoch when ``batch_size`` is None)."""
    order = torch.Generator().manual_seed(seed)
    losses = [model.loss(x, y).detach()]
    for epoch in range(epochs):
        if batch_size is None:
            batches = [slice(None)]
        else:
            perm = torch.randperm(len(y), generator=order)
            batches = [perm[i : i + batch_size] for i in range(0, len(y), batch_size)]
        for idx in batches:
            opt.zero_grad()
            model.loss(x[idx], y[idx]).sum().backward()
            opt.step()
        with torch.no_grad():
            losses.append(model.loss(x, y))
        if progress:
            progress(epoch + 1, epochs)
    return torch.stack(losses).numpy()


def _check_names(names) -> list[str]:
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise ValueError(f"unknown optimizer(s) {unknown}; choose from {', '.join(RACERS)}")
    return list(names)


def _lr_tensor(lrs: Sequence[float], n_seeds: int) -> torch.Tensor:
    """One rate per stacked copy (rates outer, seeds inner), shaped to broadcast [n, 1, 1]."""
    return torch.tensor(np.repeat(lrs, n_seeds), dtype=torch.float32)[:, None, None]


def lr_sweep(
    name: str,
    lrs: Sequence[float] = LR_GRID,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 100,
    split: BallSplit | None = None,
    units: int = 16,
    hidden: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Full-batch training of ``name`` at every rate x seed. Arrays are [n_lrs, n_seeds]
    (``loss`` [n_lrs, n_seeds, epochs + 1])."""
    _check_names([name])
    split = ball_split() if split is None else split
    model = StackedMLP([s for _ in lrs for s in seeds], "tanh", "glorot-normal",
                       split.x.shape[1], units, hidden)  # fmt: skip
    opt = FACTORIES[name](model.parameters(), lr=_lr_tensor(lrs, len(seeds)), **FIXED.get(name, {}))
    loss = train_stacked(model, opt, split.x, split.y, epochs, progress=progress)
    shape = (len(lrs), len(seeds))
    return {
        "lrs": np.array(lrs),
        "loss": loss.T.reshape(*shape, epochs + 1),
        "val_accuracy": model.accuracy(split.x_val, split.y_val).numpy().reshape(shape),
        "test_accuracy": model.accuracy(split.x_test, split.y_test).numpy().reshape(shape),
    }


def best_rate(sweep: dict[str, np.ndarray]) -> int:
    """Index of the rate with the best median validation accuracy; ties go to the lower median
    final training loss (a diverged run's NaN loss counts as infinite)."""
    val = np.median(sweep["val_accuracy"], 1)
    final = np.nan_to_num(np.median(sweep["loss"][:, :, -1], 1), nan=np.inf)
    return int(np.lexsort((final, -np.round(val, 4)))[0])


def _first_below(curve: np.ndarray, level: float) -> int | None:
    hit = np.flatnonzero(curve < level)
    return int(hit[0]) if len(hit) else None


def race_ball(
    names=RACERS,
    lrs: Sequence[float] = LR_GRID,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 100,
    data_seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each optimizer's sweep and its best rate's numbers (medians over seeds, with ranges)."""
    names = _check_names(names)
    split = ball_split(data_seed)
    out = {}
    for k, name in enumerate(names):
        tick = None if progress is None else (
            lambda i, _, k=k: progress(k * epochs + i, len(names) * epochs))  # fmt: skip
        sweep = lr_sweep(name, lrs, seeds, epochs, split, progress=tick)
        b = best_rate(sweep)
        curve = np.median(sweep["loss"][b], 0)
        test = sweep["test_accuracy"][b]
        finals = np.median(sweep["loss"][:, :, -1], 1)
        out[name] = {
            "settings": {"lr": float(sweep["lrs"][b]), **FIXED.get(name, {})},
            "best_lr": float(sweep["lrs"][b]),
            "final_loss": float(curve[-1]),
            "first_step_below_0.1": _first_below(curve, 0.1),
            "test_accuracy": float(np.median(test)),
            "test_accuracy_range": [float(test.min()), float(test.max())],
            "val_accuracy": float(np.median(sweep["val_accuracy"][b])),
            "seeds": len(seeds),
            "curve": curve.tolist(),
            "sweep": {"lrs": sweep["lrs"].tolist(),
                      "val_accuracy_median": np.median(sweep["val_accuracy"], 1).tolist(),
                      "val_accuracy_low": sweep["val_accuracy"].min(1).tolist(),
                      "val_accuracy_high": sweep["val_accuracy"].max(1).tolist(),
                      "final_loss_median": [float(v) if np.isfinite(v) else None
                                            for v in finals]},
        }  # fmt: skip
    return out


def rprop_batches(
    lr: float = 1e-3,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 50,
    batch_size: int = 32,
    data_seed: int = 0,
    compare: str = "adam-bc",
    compare_lr: float = 1e-2,
) -> dict[str, Any]:
    """RProp full batch vs mini-batches, the same number of epochs, next to ``compare`` (which
    should not care): training BCE after ``epochs`` and test accuracy, medians over seeds."""
    split = ball_split(data_seed)
    out: dict[str, Any] = {"epochs": epochs, "batch_size": batch_size}
    for name, rate in (("rprop", lr), (compare, compare_lr)):
        out[name] = {"lr": rate}
        for mode, bs in (("full_batch", None), ("mini_batch", batch_size)):
            model = StackedMLP(seeds, "tanh", "glorot-normal", split.x.shape[1], units=16)
            opt = FACTORIES[name](model.parameters(), lr=rate, **FIXED.get(name, {}))
            loss = train_stacked(model, opt, split.x, split.y, epochs, bs, seed=data_seed)
            test = model.accuracy(split.x_test, split.y_test).numpy()
            out[name][mode] = {
                "final_loss": float(np.median(loss[-1])),
                "test_accuracy": float(np.median(test)),
                "test_accuracy_range": [float(test.min()), float(test.max())],
                "curve": np.median(loss, 1).tolist(),
                "steps": epochs * (1 if bs is None else -(-len(split.y) // bs)),
            }
    return out


def adam_early_steps(lr: float = 1e-2, steps: int = 20, seed: int = 0) -> dict[str, Any]:
    """Median |change of a weight| / lr in each of the first ``steps`` full-batch steps, for the
    course's Adam and the bias-corrected one, from the same start on the same data."""
    split = ball_split(seed)
    out: dict[str, Any] = {"lr": lr}
    for name in ("adam", "adam-bc"):
        model = StackedMLP([seed], "tanh", "glorot-normal", split.x.shape[1], units=16)
        opt = FACTORIES[name](model.parameters(), lr=lr)
        sizes = []
        for _ in range(steps):
            before = torch.cat([p.detach().flatten() for p in model.parameters()])
            opt.zero_grad()
            model.loss(split.x, split.y).sum().backward()
            opt.step()
            after = torch.cat([p.detach().flatten() for p in model.parameters()])
            sizes.append(float((after - before).abs().median()) / lr)
        out[name] = sizes
    course, torch_ = out["adam"], out["adam-bc"]
    k = min(10, steps) - 1
    out["sentence"] = (
        f"At the same learning rate the course's Adam, which has no bias correction, takes "
        f"larger early steps (the median weight moved {course[0]:.2f}x the rate on step 1 vs "
        f"{torch_[0]:.2f}x for torch's Adam, {course[k]:.2f}x vs {torch_[k]:.2f}x on step "
        f"{k + 1}), so at equal rates it acts like a larger rate early on."
    )
    return out


@dataclass(frozen=True)
class TestFunction:
    """A 2-D surface with a known minimum, a start point and per-optimizer settings."""

    name: str
    f: Callable[[Any, Any], Any]  # works on torch tensors and NumPy arrays alike
    minimum: tuple[float, float]
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    grad: Callable[[float, float], tuple[float, float]] | None = None  # closed form, if known


def rosenbrock(x, y):
    """A curved, flat-bottomed valley: finding it is easy, following it to (1, 1) is not."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosenbrock_grad(x: float, y: float) -> tuple[float, float]:
    return -2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)


def beale(x, y):
    """Steep walls and a flat plateau around the minimum at (3, 0.5)."""
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def beale_grad(x: float, y: float) -> tuple[float, float]:
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    return (2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1),
            2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2)  # fmt: skip


FUNCTIONS: dict[str, TestFunction] = {
    "rosenbrock": TestFunction(
        "rosenbrock", rosenbrock, (1.0, 1.0), (-1.5, 2.0), (-2.0, 2.0), (-1.0, 3.0),
        {"sgd": {"lr": 1e-3}, "momentum": {"lr": 2e-4, "momentum": 0.9},
         "nesterov": {"lr": 2e-4, "momentum": 0.9}, "adagrad": {"lr": 0.3},
         "adadelta": {"lr": 1.0}, "rprop": {"lr": 1e-3}, "adam": {"lr": 0.05},
         "adam-bc": {"lr": 0.05}},
        rosenbrock_grad,
    ),
    "beale": TestFunction(
        "beale", beale, (3.0, 0.5), (1.0, 1.5), (-0.5, 4.0), (-1.5, 2.0),
        {"sgd": {"lr": 5e-3}, "momentum": {"lr": 1e-3, "momentum": 0.9},
         "nesterov": {"lr": 1e-3, "momentum": 0.9}, "adagrad": {"lr": 0.5},
         "adadelta": {"lr": 1.0}, "rprop": {"lr": 1e-3}, "adam": {"lr": 0.02},
         "adam-bc": {"lr": 0.02}},
        beale_grad,
    ),
}  # fmt: skip


def race_function(
    function: str = "rosenbrock",
    names=RACERS,
    steps: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Each optimizer's path [steps + 1, 2] from the function's start point."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown test function {function!r}; choose from {', '.join(FUNCTIONS)}")
    fn = FUNCTIONS[function]
    paths = {}
    names = _check_names(names)
    for done, name in enumerate(names, start=1):
        xy = torch.tensor(fn.start, dtype=torch.float64, requires_grad=True)
        opt = FACTORIES[name]([xy], **fn.settings[name])
        path = np.empty((steps + 1, 2))
        path[0] = fn.start
        for k in range(steps):
            if fn.grad is None:
                opt.zero_grad()
                fn.f(xy[0], xy[1]).backward()
            else:  # the closed form skips autograd's per-step overhead (3x faster)
                xy.grad = torch.tensor(fn.grad(*path[k].tolist()), dtype=torch.float64)
            opt.step()
            path[k + 1] = xy.detach().numpy()
        paths[name] = path
        if progress is not None:  # racers done, of all (the step loop's k is not the racer's)
            progress(done, len(names))
    return paths


def path_summary(function: str, paths: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Final value, distance to the minimum and first step within 0.1 of it, per optimizer."""
    fn = FUNCTIONS[function]
    out = {}
    for name, p in paths.items():
        dist = np.linalg.norm(p - np.array(fn.minimum), axis=1)
        hit = np.flatnonzero(dist < 0.1)
        out[name] = {"final_value": float(fn.f(p[-1, 0], p[-1, 1])),
                     "final_distance": float(dist[-1]),
                     "first_step_within_0.1": int(hit[0]) if len(hit) else None}  # fmt: skip
    return out


def optim_lab(
    config: OptimLabConfig = OptimLabConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> LabResult:
    """The sweep on the ball data, RProp full vs mini-batch, Adam's early steps, the 2-D races."""
    from cnn.labs import optim_plots

    if config.seeds < 1 or not config.lrs or min(config.lrs) <= 0:
        raise ValueError("need --seeds >= 1 and at least one learning rate, all > 0")
    # progress in units of ball epochs: each racer's sweep, the RProp demo, each function race
    n = len(config.optimizers)
    fn_units = max(1, config.ball_steps // 4)  # a function race costs about this many epochs
    total = n * config.ball_steps + config.rprop_epochs + len(config.functions) * fn_units
    done = 0

    def tick(offset: int, scale: float = 1.0):
        return None if progress is None else (
            lambda d, t: progress(offset + round(d / t * scale), total))  # fmt: skip

    seeds = tuple(range(config.seed, config.seed + config.seeds))
    ball = race_ball(config.optimizers, config.lrs, seeds, config.ball_steps, config.seed,
                     tick(0, n * config.ball_steps))  # fmt: skip
    done = n * config.ball_steps
    numbers: dict[str, Any] = {"ball": ball}
    figures = {"optim_ball_race": optim_plots.race_sweep_figure(ball)}
    if {"adam", "adam-bc"} <= set(ball):
        early = adam_early_steps(ball["adam-bc"]["best_lr"], seed=config.seed)
        a, b = ball["adam"], ball["adam-bc"]
        early["at_best_rates"] = (
            f"Each at its own best rate (course {a['best_lr']:g}, torch {b['best_lr']:g}) the "
            f"two reach test accuracy {a['test_accuracy']:.3f} vs {b['test_accuracy']:.3f}."
        )
        numbers["adam_early_steps"] = early
    if config.rprop_epochs:
        best = ball.get("rprop", {}).get("best_lr", 1e-3)
        adam_lr = ball.get("adam-bc", {}).get("best_lr", 1e-2)
        numbers["rprop_batches"] = rprop_batches(
            best, seeds, config.rprop_epochs, data_seed=config.seed, compare_lr=adam_lr
        )
        figures["optim_rprop_batches"] = optim_plots.rprop_figure(numbers["rprop_batches"])
        done += config.rprop_epochs
        if progress:
            progress(done, total)
    for j, function in enumerate(config.functions):
        paths = race_function(function, config.optimizers, config.function_steps,
                              tick(done + j * fn_units, fn_units))  # fmt: skip
        summary = path_summary(function, paths)
        for name in summary:
            summary[name]["settings"] = FUNCTIONS[function].settings[name]
        numbers[function] = summary
        figures[f"optim_{function}"] = optim_plots.trajectories_figure(FUNCTIONS[function], paths)
    return LabResult("optim-lab", numbers, figures)
