"""What a person reads: the labs' numbers as table rows with readable names, no Python dicts,
no ``None`` and integer counts as integers. Used by the app pages (the CLI prints its own)."""

from __future__ import annotations

import math
from typing import Any

from cnn.labs.config import INIT_TITLES

CLAIM_TITLES = {
    "sigmoid_normal0.01_vanishing_gradients": "Sigmoid, Normal σ = 0.01: vanishing gradients",
    "sigmoid_normal1.0_binary_activations": "Sigmoid, Normal σ = 1: activations in binary mode",
    "tanh_normal1.0_exploding_gradients": "Tanh, Normal σ = 1: exploding gradients",
    "tanh_normal0.1_gradients_20x_below_weights": "Tanh, Normal σ = 0.1: gradients 20x below "
    "the weights",
    "tanh_normal0.1_similar_layers": "Tanh, Normal σ = 0.1: layers look alike",
    "tanh_glorot-normal_keeps_activations": "Tanh, Glorot Normal: layers look alike",
    "tanh_glorot-uniform_keeps_activations": "Tanh, Glorot Uniform: layers look alike",
    "relu_glorot-normal_shrinks_activations": "ReLU, Glorot Normal: activations shrink",
    "relu_glorot-uniform_shrinks_activations": "ReLU, Glorot Uniform: activations shrink",
    "relu_he-normal_keeps_activations": "ReLU, He Normal: activations keep their spread",
    "relu_he-uniform_keeps_activations": "ReLU, He Uniform: activations keep their spread",
    "relu_he-normal_signal_flat": "ReLU, He Normal: the backward signal stays flat",
    "relu_he-uniform_signal_flat": "ReLU, He Uniform: the backward signal stays flat",
}
MEASURES = {
    "grad_std_h1_over_h5": "weight-gradient spread, h1 / h5",
    "signal_h1_over_h5": "per-sample signal, h1 / h5",
    "signal_h5_over_h1": "per-sample signal, h5 / h1",
    "saturated_fraction_h5": "h5 activations saturated",
    "z_std_h5": "spread of h5's Z-values",
    "weight_over_per_sample_grad": "weights / one sample's gradient",
    "weight_over_batch_grad": "weights / gradient of the mean loss",
    "signal_max_over_min": "per-sample signal, largest / smallest layer",
    "act_std_max_over_min": "activation spread, largest / smallest layer",
    "act_std_h1_over_h5": "activation spread, h1 / h5",
    "z_within_minus1_1": "Z-values inside (-1, 1)",
    "weight_grad_h5_over_h1": "weight-gradient spread, h5 / h1",
    "range_over_seeds": "h5 / h1 over the seeds",
}
FRACTIONS = {"saturated_fraction_h5", "z_within_minus1_1"}


def _number(key: str, value: Any) -> str:
    if key in FRACTIONS:
        return f"{value:.0%}"
    if isinstance(value, list):
        return " to ".join(f"{v:.2f}" for v in value)
    return f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.1e}"


def claim_rows(claims: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim: its words, where the course's text says it, what we measured, and
    whether the measurement reproduces it."""
    rows = []
    for key, c in claims.items():
        measured = "; ".join(f"{MEASURES[k]}: {_number(k, v)}" for k, v in c.items()
                             if k in MEASURES)  # fmt: skip
        rows.append({"Claim": CLAIM_TITLES.get(key, key), "The course says": c["says"],
                     "Course text, line": c["handout_line"],
                     "Measured (median over seeds)": measured,
                     "Reproduced": "yes" if c["holds"] else "no (see docs/LABS.md)",
                     "What the numbers show": c.get("note", "")})  # fmt: skip
    return rows


def training_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"Initializer": INIT_TITLES[r["init"]], "BCE before training":
             f"{r['loss_per_epoch'][0]:.3f}", f"BCE after {r['epochs']} epochs":
             "diverged" if r["diverged"] else f"{r['final_loss']:.3f}"} for r in runs]  # fmt: skip


def settings_text(settings: dict[str, Any]) -> str:
    """{'lr': 0.001, 'momentum': 0.9} -> 'learning rate 0.001, momentum 0.9'."""
    names = {"lr": "learning rate"}
    return ", ".join(f"{names.get(k, k)} {v:g}" for k, v in settings.items())


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def number_text(value: float, plain_from: float = 0.01) -> str:
    """A number for people: 2.76, 0.0312, or 6.24 × 10⁻¹⁰ when too small (or large) to read
    as a decimal; plain_from=inf puts every value in the × 10ⁿ form (one format per table)."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if plain_from <= abs(value) < 10_000:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(SUPERSCRIPT)}"


def step_text(step: int | None, never: str = "not reached") -> str:
    return never if step is None else f"{step:,}"
