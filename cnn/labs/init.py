"""The weight-initialization lab: the BLOCK model at epoch 0, over several seeds.

For each activation x initializer, a freshly initialized BLOCK model sees all 1,000 ball points
once. Per hidden layer we keep the Z-values, activations, weights and weight gradients (the
course's 2x2 figures) and four numbers the course's argument is about:

- ``activation_std``: std of the layer's activations (the forward pass, handout lines ~398-418);
- ``signal_std``: std of the *per-sample* backpropagated signal dL_i/dh_i, the gradient of one
  sample's loss with respect to the layer's activations (Delta_x of lines ~436-457). The mean
  loss's gradient with respect to h_i is dL_i/dh_i / N, so it is that gradient times N;
- ``weight_grad_std``: std of dL/dW for the mean loss over the 1,000 points (what the figures show);
- ``grad_to_weight``: std(dL/dW) / std(W); ``per_sample_grad_to_weight`` the same for one
  sample's dL_i/dW = delta_i a_i^T (from closed-form moments, not a [N, out, in] tensor).

A weight gradient is an average of per-sample gradients, so it shrinks where those cancel;
``cancellation`` = std(dL/dW) / std(dL_i/dW) measures that (1/sqrt(N) = 0.03 if independent).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from cnn.labs.ball import BallData, make_ball
from cnn.labs.block import ACTIVATIONS, INITIALIZERS, BlockModel
from cnn.labs.config import PROFILE, PROFILE_EXTRA, InitLabConfig
from cnn.labs.report import LabResult

QUANTITIES = ("z", "activations", "weights", "gradients")


@dataclass(frozen=True)
class Epoch0:
    """Per hidden layer (h1..h5) arrays of one configuration at epoch 0."""

    activation: str
    init: str
    loss: float
    z: list[np.ndarray]
    activations: list[np.ndarray]
    weights: list[np.ndarray]
    gradients: list[np.ndarray]  # dLoss/dW of each hidden layer (mean loss over the batch)
    signal: list[np.ndarray]  # per-sample dL_i/dh_i [N, units] of each hidden layer
    per_sample_grad_std: list[float]  # std over samples and entries of dL_i/dW

    def stds(self) -> dict[str, list[float]]:
        return {q: [float(a.std()) for a in getattr(self, q)] for q in QUANTITIES}

    def profile(self) -> dict[str, list[float]]:
        """The per-layer numbers of the module docstring."""
        w = [float(a.std()) for a in self.weights]
        g = [float(a.std()) for a in self.gradients]
        return {
            "activation_std": [float(a.std()) for a in self.activations],
            "signal_std": [float(s.std()) for s in self.signal],
            "weight_grad_std": g,
            "grad_to_weight": [gi / wi for gi, wi in zip(g, w, strict=True)],
            "per_sample_grad_to_weight": [
                p / wi for p, wi in zip(self.per_sample_grad_std, w, strict=True)
            ],
            "cancellation": [gi / p for gi, p in zip(g, self.per_sample_grad_std, strict=True)],
        }

    def saturated(self) -> list[float] | None:
        """Fraction of activations within 10% of the activation's bounds (None for ReLU)."""
        if self.activation == "tanh":
            return [float((np.abs(a) > 0.9).mean()) for a in self.activations]
        if self.activation == "sigmoid":
            return [float((np.abs(a - 0.5) > 0.4).mean()) for a in self.activations]
        return None


def _per_sample_grad_std(delta: torch.Tensor, a: torch.Tensor) -> float:
    """std over (i, o, j) of delta[i, o] * a[i, j] without building the [N, out, in] tensor:
    E[(delta a)^2] = mean_i mean_o(delta^2) mean_j(a^2), E[delta a] = mean_i mean_o(delta)
    mean_j(a)."""
    second = (delta.pow(2).mean(1) * a.pow(2).mean(1)).mean()
    first = (delta.mean(1) * a.mean(1)).mean()
    return float((second - first**2).clamp_min(0).sqrt())


def epoch0(
    activation: str,
    init: str,
    seed: int = 0,
    data: BallData | None = None,
    model: BlockModel | None = None,
) -> Epoch0:
    """One full-batch forward + backward pass of a freshly initialized BLOCK model."""
    data = make_ball(seed=seed) if data is None else data
    if model is None:
        model = BlockModel(activation, init, n_inputs=data.X.shape[1], seed=seed)
    x, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    logit, zs, acts = model.trace(x)
    for t in (*zs, *acts):
        t.retain_grad()
    loss = F.binary_cross_entropy_with_logits(logit, y)
    loss.backward()
    n = len(y)
    inputs = [x, *(a.detach() for a in acts[:-1])]
    return Epoch0(
        activation=activation,
        init=init,
        loss=float(loss.detach()),
        z=[t.detach().numpy() for t in zs],
        activations=[t.detach().numpy() for t in acts],
        weights=[layer.weight.detach().numpy().copy() for layer in model.hidden],
        gradients=[layer.weight.grad.numpy().copy() for layer in model.hidden],
        signal=[(a.grad * n).numpy() for a in acts],
        per_sample_grad_std=[
            _per_sample_grad_std(z.grad * n, a) for z, a in zip(zs, inputs, strict=True)
        ],
    )


def seed_profile(
    activation: str, init: str, seeds: Iterable[int] = range(10)
) -> dict[str, np.ndarray]:
    """``PROFILE`` + ``PROFILE_EXTRA`` per seed and layer: arrays [n_seeds, 5]. Each seed draws
    its own ball data and weights."""
    rows = [epoch0(activation, init, s).profile() for s in seeds]
    return {q: np.array([r[q] for r in rows]) for q in (*PROFILE, *PROFILE_EXTRA)}


def bands(profile: dict[str, np.ndarray]) -> dict[str, dict[str, list[float]]]:
    """Median and the smallest/largest value over the seeds, per layer (JSON-ready)."""
    return {q: {"median": np.median(a, 0).tolist(), "low": a.min(0).tolist(),
                "high": a.max(0).tolist()} for q, a in profile.items()}  # fmt: skip


def table_row(e: Epoch0) -> dict[str, Any]:
    """One row of the summary table: per-layer std of each quantity (+ saturation)."""
    return {"activation": e.activation, "init": e.init, "loss": e.loss, "std": e.stds(),
            "saturated": e.saturated()}  # fmt: skip


def summary(
    activations: Iterable[str] = tuple(ACTIVATIONS),
    inits: Iterable[str] = tuple(INITIALIZERS),
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """The per-layer std table at one seed: one row per (activation, init)."""
    data = make_ball(seed=seed)
    pairs = [(a, i) for a in activations for i in inits]
    rows = []
    for k, (act, init) in enumerate(pairs):
        rows.append(table_row(epoch0(act, init, seed, data)))
        if progress:
            progress(k + 1, len(pairs))
    return rows


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


def _spread(values) -> float:
    """max / min of a per-layer profile: 1 means flat."""
    return _ratio(float(np.max(values)), float(np.min(values)))


def _claim(line: int, says: str, holds: bool, **numbers: Any) -> dict[str, Any]:
    return {**numbers, "holds": bool(holds), "says": says, "handout_line": line}


def course_claims(
    seed: int = 0,
    n_seeds: int = 10,
    profiles: dict[tuple[str, str], dict[str, np.ndarray]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The course's statements about epoch 0, each with its handout line, the numbers behind it
    (medians over ``n_seeds`` seeds from ``seed``; a seed draws data and weights) and whether it
    holds. Ratios compare the first (h1) and last (h5) hidden layer. ``profiles`` may hold
    ``seed_profile`` results for the same seeds, so they are not computed twice."""
    seeds = range(seed, seed + n_seeds)
    cache = dict(profiles or {})
    sat_cache: dict[tuple[str, str], float] = {}

    def prof(act: str, init: str) -> dict[str, np.ndarray]:
        if (act, init) not in cache:
            cache[act, init] = seed_profile(act, init, seeds)
        return cache[act, init]

    def med(act: str, init: str, q: str) -> np.ndarray:
        return np.median(prof(act, init)[q], 0)

    def h1_over_h5(act: str, init: str, q: str) -> np.ndarray:
        a = prof(act, init)[q]
        return a[:, 0] / a[:, -1]

    def saturated_h5(act: str, init: str) -> float:
        if (act, init) not in sat_cache:
            sat_cache[act, init] = float(np.median([epoch0(act, init, s).saturated()[-1]
                                                    for s in seeds[:3]]))  # fmt: skip
        return sat_cache[act, init]

    claims: dict[str, dict[str, Any]] = {}
    sig_g = med("sigmoid", "normal-0.01", "weight_grad_std")
    sig_s = np.median(h1_over_h5("sigmoid", "normal-0.01", "signal_std"))
    claims["sigmoid_normal0.01_vanishing_gradients"] = _claim(
        275, "Gradients are pretty much zero (an extreme case of vanishing gradients, line 293)",
        _ratio(sig_g[0], sig_g[-1]) < 1e-3 and sig_s < 1e-3,
        grad_std_h1_over_h5=_ratio(sig_g[0], sig_g[-1]), signal_h1_over_h5=float(sig_s),
    )  # fmt: skip
    big_sig = saturated_h5("sigmoid", "normal-1.0")
    claims["sigmoid_normal1.0_binary_activations"] = _claim(
        316, "Z-values have too wide a range, forcing the activations into binary mode",
        big_sig > 0.5, saturated_fraction_h5=big_sig,
        z_std_h5=float(np.median([epoch0("sigmoid", "normal-1.0", s).z[-1].std()
                                  for s in seeds[:3]])),
    )  # fmt: skip
    g = med("tanh", "normal-1.0", "weight_grad_std")
    s = np.median(h1_over_h5("tanh", "normal-1.0", "signal_std"))
    sat = saturated_h5("tanh", "normal-1.0")
    claims["tanh_normal1.0_exploding_gradients"] = _claim(
        338, "gradients grow bigger and bigger from the last to the first hidden layer; "
        "activations collapse to -1 or 1",
        _ratio(g[0], g[-1]) > 10 and s > 10 and sat > 0.5,
        grad_std_h1_over_h5=_ratio(g[0], g[-1]), signal_h1_over_h5=float(s),
        saturated_fraction_h5=sat,
    )  # fmt: skip
    p = prof("tanh", "normal-0.1")
    per_sample = float(np.median(1 / p["per_sample_grad_to_weight"]))
    batch = float(np.median(1 / p["grad_to_weight"]))
    claims["tanh_normal0.1_gradients_20x_below_weights"] = _claim(
        348, "gradients about 20x smaller than the weights",
        10 <= per_sample <= 40 or 10 <= batch <= 40,  # within 2x of 20, either reading
        weight_over_per_sample_grad=per_sample, weight_over_batch_grad=batch,
        note="not reproduced: the weights' std is ~8x one sample's gradient and ~190x the "
        "gradient of the mean loss over all 1,000 points (per-sample gradients cancel); "
        "20x is what a gradient averaged over only a few points gives",
    )  # fmt: skip
    sig_spread = _spread(med("tanh", "normal-0.1", "signal_std"))
    claims["tanh_normal0.1_similar_layers"] = _claim(
        348, "gradients, Z-values and activations reasonably similar along all the layers",
        sig_spread < 2 and _spread(med("tanh", "normal-0.1", "activation_std")) < 2,
        signal_max_over_min=sig_spread,
        act_std_max_over_min=_spread(med("tanh", "normal-0.1", "activation_std")),
        z_within_minus1_1=float(np.mean(np.abs(epoch0("tanh", "normal-0.1", seed).z[-1]) < 1)),
    )  # fmt: skip
    for init in ("glorot-normal", "glorot-uniform"):
        a = med("tanh", init, "activation_std")
        sg = med("tanh", init, "signal_std")
        claims[f"tanh_{init}_keeps_activations"] = _claim(
            356, "Glorot keeps activations and gradients similar along all the layers (tanh)",
            _spread(a) < 2 and _spread(sg) < 2,
            act_std_max_over_min=_spread(a), signal_max_over_min=_spread(sg),
        )  # fmt: skip
        a = med("relu", init, "activation_std")
        claims[f"relu_{init}_shrinks_activations"] = _claim(
            516, "ReLU zeroes half the Z-values, halving the variance in each layer: with "
            "Glorot the activations shrink layer by layer",
            _ratio(a[0], a[-1]) > 2.5, act_std_h1_over_h5=_ratio(a[0], a[-1]),
        )  # fmt: skip
    for init in ("he-normal", "he-uniform"):
        a = med("relu", init, "activation_std")
        claims[f"relu_{init}_keeps_activations"] = _claim(
            526, "doubling the weights' variance (He) keeps ReLU activations from shrinking",
            _spread(a) < 2, act_std_max_over_min=_spread(a),
        )  # fmt: skip
        r = 1 / h1_over_h5("relu", init, "signal_std")
        g = prof("relu", init)["weight_grad_std"]
        c = med("relu", init, "cancellation")
        claims[f"relu_{init}_signal_flat"] = _claim(
            539, "scaling for the forward pass does the trick for the backpropagation as well",
            0.8 < float(np.median(r)) < 1.25,
            signal_h5_over_h1=float(np.median(r)), range_over_seeds=[float(r.min()),
                                                                     float(r.max())],
            weight_grad_h5_over_h1=float(np.median(g[:, -1] / g[:, 0])),
            cancellation_h1=float(c[0]), cancellation_h5=float(c[-1]),
            note="the per-sample signal stays flat; the weight gradient of the mean loss grows "
            "towards the output only because per-sample gradients cancel more in the first "
            "layer than in the last",
        )  # fmt: skip
    return claims


def _pick(value: str, options: Iterable[str], flag: str) -> list[str]:
    options = list(options)
    value = value.replace("_", "-")
    if value == "all":
        return options
    if value not in options:
        raise ValueError(f"{flag} must be 'all' or one of {', '.join(options)}; got {value!r}")
    return [value]


def init_lab(
    config: InitLabConfig = InitLabConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> LabResult:
    """Figures (2x2 grid per configuration, per-layer profiles, training curves) and numbers
    (one-seed table, median profiles with bands, the course's claims, the training run)."""
    from cnn.labs import init_plots
    from cnn.labs.init_train import does_it_train

    if config.seeds < 1 or config.train_seeds < 1 or config.train_epochs < 0:
        raise ValueError("--seeds and --train-seeds must be >= 1 and --train-epochs >= 0")
    acts = _pick(config.activation, ACTIVATIONS, "--activation")
    inits = _pick(config.init, INITIALIZERS, "--init")
    data = make_ball(seed=config.seed)
    figures, rows, profiles = {}, [], {}
    pairs = [(a, i) for a in acts for i in inits]
    train_steps = len(pairs) * config.train_epochs * config.train_seeds
    total = len(pairs) + 1 + train_steps

    def tick(done: int) -> None:
        if progress:
            progress(done, total)

    seeds = range(config.seed, config.seed + config.seeds)
    for k, (act, init) in enumerate(pairs):
        e = epoch0(act, init, config.seed, data)
        figures[f"init_{act}_{init}"] = init_plots.epoch0_figure(e)
        rows.append(table_row(e))
        profiles[act, init] = seed_profile(act, init, seeds)
        tick(k + 1)
    claims = course_claims(config.seed, config.seeds, profiles)
    tick(len(pairs) + 1)
    figures["init_summary"] = init_plots.profile_figure(profiles, config.seeds)
    numbers: dict[str, Any] = {
        "seed": config.seed,
        "data": {"n": int(len(data.y)), "positives": float(data.y.mean()), "radius": data.radius},
        "table": rows,
        "profiles": [
            {"activation": a, "init": i, "seeds": config.seeds, **bands(p)}
            for (a, i), p in profiles.items()
        ],  # fmt: skip
        "course_claims": claims,
    }
    if config.train_epochs:
        runs = does_it_train(pairs, config.train_epochs, range(config.seed,
                             config.seed + config.train_seeds),
                             lambda d, _: tick(len(pairs) + 1 + d))  # fmt: skip
        numbers["training"] = runs
        figures["init_training"] = init_plots.training_figure(runs)
    return LabResult("init-lab", numbers, figures)
