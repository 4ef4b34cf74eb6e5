"""Figures of the regularization lab."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

METHODS = (("none", "no penalty"), ("l1", "L1"), ("l2", "L2"))


def feature_norms_figure(fs: dict[str, Any]) -> Figure:
    """Each input feature's weight norm into the first layer: L1 empties the noise columns."""
    n_signal = fs["n_signal"]
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    for ax, (key, title) in zip(axes, METHODS, strict=True):
        r = fs[key]
        norms = np.array(r["feature_norms"])
        colors = ["tab:blue"] * n_signal + ["tab:gray"] * (len(norms) - n_signal)
        ax.bar(np.arange(1, len(norms) + 1), norms, color=colors)
        ax.set_title(
            f"{title}: {r['noise_weights_near_zero']:.0%} of noise-input weights near 0, "
            f"noise features kept {r['noise_features_kept']}/{len(norms) - n_signal}, "
            f"test accuracy {r['test_accuracy']:.3f}",
            fontsize=10,
        )
        ax.set_ylabel("|W[:, j]|")
        ax.axvspan(n_signal + 0.5, len(norms) + 0.5, color="0.9", zorder=0)
    axes[-1].set_xlabel(f"input feature (1-{n_signal}: ball coordinates, then pure noise)")
    axes[-1].set_xticks(range(1, len(norms) + 1))
    return fig


def noise_weights_figure(fs: dict[str, Any], near_zero: float) -> Figure:
    """Histogram of |w| for weights leaving the noise features (log scale)."""
    n_signal = fs["n_signal"]
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.subplots()
    bins = np.logspace(-8, 1, 46)
    for key, title in METHODS:
        w = np.abs(fs[key]["weights"][:, n_signal:]).ravel()
        ax.hist(np.clip(w, bins[0], None), bins, histtype="step", lw=2, label=title)
    ax.axvline(near_zero, color="k", ls="--", lw=1)
    ax.text(near_zero, ax.get_ylim()[1] * 0.9, f" near zero < {near_zero:g}", fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("|weight| from a noise feature into the first hidden layer")
    ax.set_ylabel("count")
    ax.legend()
    return fig


def dropout_figure(drop: dict[str, Any]) -> Figure:
    """The same all-ones input through dropout in train mode and in eval mode."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    a, b = fig.subplots(1, 2, sharey=True)
    idx = np.arange(len(drop["sample_train"]))
    a.bar(idx, drop["sample_train"], color="tab:orange")
    a.set_title(
        f"train (p={drop['p']}): {drop['train_fraction_zeroed']:.1%} zeroed, "
        f"kept x{drop['train_kept_value']:.2f}, mean {drop['train_mean']:.3f}",
        fontsize=10,
    )
    b.bar(idx, drop["sample_eval"], color="tab:green")
    b.set_title("eval: identity (no dropping, no scaling)", fontsize=10)
    for ax in (a, b):
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.set_xlabel("unit (input = 1 everywhere)")
    return fig
