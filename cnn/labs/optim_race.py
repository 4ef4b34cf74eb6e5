"""The optimizer race: the course's update rules on the ball data and on 2-D test functions.

Each optimizer gets one hand-picked set of hyper-parameters per problem (``BALL_SETTINGS``,
``FUNCTIONS[...].settings``), stable but not tuned to win; every run is full batch, which
RProp needs. Adam appears twice: the course's rule and the bias-corrected one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cnn.labs.ball import make_ball
from cnn.labs.block import BlockModel
from cnn.labs.fit import fit_full_batch
from cnn.labs.optimizers import SGD, Adadelta, Adagrad, Adam, Momentum, Nesterov, RProp
from cnn.labs.report import LabResult

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
RACERS: tuple[str, ...] = tuple(FACTORIES)

BALL_SETTINGS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.5},
    "momentum": {"lr": 0.05, "momentum": 0.9},
    "nesterov": {"lr": 0.05, "momentum": 0.9},
    "adagrad": {"lr": 0.01},
    "adadelta": {"lr": 1.0},
    "rprop": {"lr": 0.001},
    "adam": {"lr": 1e-3},
    "adam-bc": {"lr": 1e-3},
}


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


def rosenbrock(x, y):
    """A curved, flat-bottomed valley: finding it is easy, following it to (1, 1) is not."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(x, y):
    """Steep walls and a flat plateau around the minimum at (3, 0.5)."""
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


FUNCTIONS: dict[str, TestFunction] = {
    "rosenbrock": TestFunction(
        "rosenbrock", rosenbrock, (1.0, 1.0), (-1.5, 2.0), (-2.0, 2.0), (-1.0, 3.0),
        {"sgd": {"lr": 1e-3}, "momentum": {"lr": 2e-4, "momentum": 0.9},
         "nesterov": {"lr": 2e-4, "momentum": 0.9}, "adagrad": {"lr": 0.3},
         "adadelta": {"lr": 1.0}, "rprop": {"lr": 1e-3}, "adam": {"lr": 0.05},
         "adam-bc": {"lr": 0.05}},
    ),
    "beale": TestFunction(
        "beale", beale, (3.0, 0.5), (1.0, 1.5), (-0.5, 4.0), (-1.5, 2.0),
        {"sgd": {"lr": 5e-3}, "momentum": {"lr": 1e-3, "momentum": 0.9},
         "nesterov": {"lr": 1e-3, "momentum": 0.9}, "adagrad": {"lr": 0.5},
         "adadelta": {"lr": 1.0}, "rprop": {"lr": 1e-3}, "adam": {"lr": 0.02},
         "adam-bc": {"lr": 0.02}},
    ),
}  # fmt: skip


def _check_names(names) -> list[str]:
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise ValueError(f"unknown optimizer(s) {unknown}; choose from {', '.join(RACERS)}")
    return list(names)


def race_ball(
    names=RACERS,
    steps: int = 200,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[float]]:
    """Training-loss curve of each optimizer on the BLOCK model (tanh, Glorot normal), all
    starting from the same seeded weights on the same ball data."""
    names = _check_names(names)
    data = make_ball(seed=seed)
    x, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    curves = {}
    for k, name in enumerate(names):
        model = BlockModel("tanh", "glorot-normal", seed=seed)
        opt = FACTORIES[name](model.parameters(), **BALL_SETTINGS[name])
        tick = (
            None
            if progress is None
            else (lambda i, _, k=k: progress(k * steps + i, len(names) * steps))
        )
        curves[name] = fit_full_batch(model, opt, x, y, steps, progress=tick)
    return curves


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
    for k, name in enumerate(names):
        xy = torch.tensor(fn.start, dtype=torch.float64, requires_grad=True)
        opt = FACTORIES[name]([xy], **fn.settings[name])
        path = [xy.detach().clone()]
        for _ in range(steps):
            opt.zero_grad()
            fn.f(xy[0], xy[1]).backward()
            opt.step()
            path.append(xy.detach().clone())
        paths[name] = torch.stack(path).numpy()
        if progress is not None:
            progress(k + 1, len(names))
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


@dataclass(frozen=True)
class OptimLabConfig:
    ball_steps: int = 200
    function_steps: int = 2000
    functions: tuple[str, ...] = ("rosenbrock", "beale")
    optimizers: tuple[str, ...] = RACERS
    seed: int = 0


def optim_lab(
    config: OptimLabConfig = OptimLabConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> LabResult:
    from cnn.labs import optim_plots

    # progress in step units: every racer's ball steps, then its steps on each function
    n = len(config.optimizers)
    ball_total = n * config.ball_steps
    total = ball_total + n * config.function_steps * len(config.functions)

    def tick(offset: int, per: int):
        return None if progress is None else (lambda done, _: progress(offset + done * per, total))

    curves = race_ball(config.optimizers, config.ball_steps, config.seed, tick(0, 1))
    numbers: dict[str, Any] = {
        "ball": {name: {"settings": BALL_SETTINGS[name], "final_loss": c[-1],
                        "first_step_below_0.1": next((i for i, v in enumerate(c) if v < 0.1), None)}
                 for name, c in curves.items()},
    }  # fmt: skip
    figures = {"optim_ball_race": optim_plots.race_curves_figure(curves)}
    for j, function in enumerate(config.functions):
        offset = ball_total + j * n * config.function_steps
        paths = race_function(function, config.optimizers, config.function_steps,
                              tick(offset, config.function_steps))  # fmt: skip
        summary = path_summary(function, paths)
        for name in summary:
            summary[name]["settings"] = FUNCTIONS[function].settings[name]
        numbers[function] = summary
        figures[f"optim_{function}"] = optim_plots.trajectories_figure(FUNCTIONS[function], paths)
    return LabResult("optim-lab", numbers, figures)
