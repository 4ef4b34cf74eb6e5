"""The regularization lab: L1 selects features, L2 only shrinks them; dropout train vs eval.

``feature_selection`` trains one net per penalty (Adam, L1 by its subgradient, so weights only
get *near* zero); ``reg_path`` sweeps lambda over seeds with L1 as a proximal step (exact zeros)
and compares AdamW with L2 in the loss under Adam.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from cnn.labs.ball import make_ball
from cnn.labs.block import BlockModel
from cnn.labs.config import RegLabConfig
from cnn.labs.fit import accuracy, fit_full_batch
from cnn.labs.reg_path import ADAM_METHODS, SGD_METHODS, PathConfig, adamw_vs_l2, lambda_path
from cnn.labs.regularization import weight_penalty
from cnn.labs.report import LabResult


def _train(config: RegLabConfig, l1: float, l2: float, data, progress) -> nn.Module:
    x, y = torch.from_numpy(data.X[:1000]), torch.from_numpy(data.y[:1000])
    model = BlockModel("relu", "he-normal", x.shape[1], config.units, config.hidden, config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    # A decaying rate lets L1's sub-gradient steps settle at zero instead of hopping across it.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 - t / config.steps)
    fit_full_batch(model, opt, x, y, config.steps, lambda: weight_penalty(model, l1, l2),
                   sched, progress)  # fmt: skip
    return model


def input_weight_report(w: np.ndarray, n_signal: int, config: RegLabConfig) -> dict[str, Any]:
    """How a first-layer weight matrix [units, features] treats signal vs noise features."""
    norms = np.linalg.norm(w, axis=0)
    kept = norms >= config.keep_fraction * norms.max()
    near = np.abs(w) < config.near_zero
    return {
        "noise_weights_exactly_zero": int((w[:, n_signal:] == 0).sum()),
        "noise_weights_near_zero": float(near[:, n_signal:].mean()),
        "signal_weights_near_zero": float(near[:, :n_signal].mean()),
        "signal_features_kept": int(kept[:n_signal].sum()),
        "noise_features_kept": int(kept[n_signal:].sum()),
        "noise_over_signal_norm": float(norms[n_signal:].mean() / norms[:n_signal].mean()),
        "feature_norms": norms.tolist(),
    }


def feature_selection(
    config: RegLabConfig = RegLabConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train the same net with no penalty, L1 and L2 on ball data + noise features; report what
    each did to the inputs' weights (first 1,000 points train, next 1,000 test)."""
    data = make_ball(n=2000, seed=config.seed, noise_features=config.noise_features)
    x_test, y_test = torch.from_numpy(data.X[1000:]), torch.from_numpy(data.y[1000:])
    runs = {"none": (0.0, 0.0), "l1": (config.l1, 0.0), "l2": (0.0, config.l2)}
    out: dict[str, Any] = {"n_signal": data.n_signal, "noise_features": config.noise_features}
    total = len(runs) * config.steps
    for k, (name, (l1, l2)) in enumerate(runs.items()):
        tick = (
            None if progress is None else (lambda i, _, k=k: progress(k * config.steps + i, total))
        )
        model = _train(config, l1, l2, data, tick)
        w = model.hidden[0].weight.detach().numpy().copy()
        out[name] = {"l1": l1, "l2": l2, "test_accuracy": accuracy(model, x_test, y_test),
                     **input_weight_report(w, data.n_signal, config), "weights": w}  # fmt: skip
    return out


def dropout_demo(p: float = 0.5, n: int = 100_000, seed: int = 0) -> dict[str, Any]:
    """nn.Dropout on a vector of ones: in training it zeroes ~p of the units and scales the
    rest by 1/(1-p) (inverted dropout), so the expected output equals the input; in eval mode
    it passes everything through untouched, so nothing needs rescaling at test time."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    layer = nn.Dropout(p)
    x = torch.ones(n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        train_out = layer.train()(x)
    eval_out = layer.eval()(x)
    kept = train_out[train_out != 0]
    return {
        "p": p,
        "train_fraction_zeroed": float((train_out == 0).float().mean()),
        "train_kept_value": float(kept.mean()) if len(kept) else 0.0,
        "expected_kept_value": 1 / (1 - p),
        "train_mean": float(train_out.mean()),
        "eval_identical": bool(torch.equal(eval_out, x)),
        "sample_train": train_out[:24].tolist(),
        "sample_eval": eval_out[:24].tolist(),
    }


def reg_lab(
    config: RegLabConfig = RegLabConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> LabResult:
    from cnn.labs import reg_plots

    fs_total = 3 * config.steps
    path_total = 5 * config.path_steps
    total = fs_total + path_total

    def fs_tick(done: int, _: int) -> None:
        if progress:
            progress(done, total)

    def path_tick(done: int, _: int) -> None:
        if progress:
            progress(fs_total + done, total)

    fs = feature_selection(config, fs_tick)
    drop = dropout_demo(config.dropout_p, seed=config.seed)
    numbers = {
        "config": asdict(config),
        "feature_selection": {
            k: ({kk: vv for kk, vv in v.items() if kk != "weights"} if isinstance(v, dict) else v)
            for k, v in fs.items()
        },
        "dropout": drop,
    }
    figures = {
        "reg_feature_norms": reg_plots.feature_norms_figure(fs),
        "reg_noise_weights": reg_plots.noise_weights_figure(fs, config.near_zero),
        "reg_dropout": reg_plots.dropout_figure(drop),
    }
    if config.path_steps:
        path_config = PathConfig(seeds=config.path_seeds, seed=config.seed,
                                 noise_features=config.noise_features,
                                 steps=config.path_steps)  # fmt: skip
        path = lambda_path(path_config, progress=path_tick)
        numbers["lambda_path"] = path
        numbers["adamw_vs_l2"] = adamw_vs_l2(path)
        figures["reg_lambda_path"] = reg_plots.lambda_path_figure(path, SGD_METHODS)
        figures["reg_adamw_vs_l2"] = reg_plots.lambda_path_figure(path, ADAM_METHODS)
    return LabResult("reg-lab", numbers, figures)
