"""Figures of the regularization lab."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

METHODS = (("none", "no penalty"), ("l1", "L1"), ("l2", "L2"))


def feature_norms_figure(fs: dict[str, Any]) -> Figure:
    """Each input feature's weight norm into the first layer: L1 empties the noise columns."""
    n_signal = fs["n_signal"]
    fig = Figure(figsize=(12, 6.5), layout="constrained")
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
        ax.set_ylabel("size of input j's weights")
        ax.axvspan(n_signal + 0.5, len(norms) + 0.5, color="0.9", zorder=0)
    axes[-1].set_xlabel(f"input feature (1-{n_signal}: ball coordinates, then pure noise)")
    axes[-1].set_xticks(range(1, len(norms) + 1))
    return fig


def noise_weights_figure(fs: dict[str, Any], near_zero: float) -> Figure:
    """Histogram of |w| for weights leaving the noise features (log scale)."""
    n_signal = fs["n_signal"]
    fig = Figure(figsize=(12, 3.6), layout="constrained")
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
    fig = Figure(figsize=(12, 3.4), layout="constrained")
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


def lambda_path_figure(path: dict[str, dict[str, Any]], methods) -> Figure:
    """Held-out accuracy, exactly-zero input weights (noise solid, signal dashed) and the
    weights' L2 norm along the lambda path, one line per method (medians over seeds)."""
    from cnn.labs.reg_path import METHOD_TITLES

    fig = Figure(figsize=(12, 3.6), layout="constrained")
    acc_ax, zero_ax, norm_ax = fig.subplots(1, 3)
    markers = ("o", "s", "^", "D", "v")
    for k, m in enumerate(methods):
        r = path[m]
        lam = r["lambdas"]
        (line,) = acc_ax.plot(lam, r["test_accuracy"], marker=markers[k], label=METHOD_TITLES[m])
        acc_ax.fill_between(lam, r["test_accuracy_low"], r["test_accuracy_high"],
                            color=line.get_color(), alpha=0.12)  # fmt: skip
        zero_ax.plot(lam, r["zero_noise_input_weights"], marker=markers[k],
                     color=line.get_color(), label=f"{METHOD_TITLES[m]}: noise inputs")  # fmt: skip
        zero_ax.plot(lam, r["zero_signal_input_weights"], marker=markers[k], ls="--",
                     color=line.get_color(), mfc="none", label="signal inputs")  # fmt: skip
        norm_ax.plot(lam, np.maximum(r["l2_norm"], 1e-6), marker=markers[k],
                     color=line.get_color())  # fmt: skip
    total = path[methods[0]]["input_weights_total"] // 2
    for ax, title in ((acc_ax, "held-out accuracy"),
                      (zero_ax, f"input weights exactly 0 (of {total} each)"),
                      (norm_ax, "L2 norm of all weights")):  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("penalty strength λ")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    norm_ax.set_yscale("log")
    if not any(np.any(path[m][k]) for m in methods
               for k in ("zero_noise_input_weights", "zero_signal_input_weights")):  # fmt: skip
        zero_ax.text(0.5, 0.5, "no weight lands exactly on 0\nwith these methods",
                     transform=zero_ax.transAxes, ha="center", va="center", fontsize=9,
                     bbox={"facecolor": "white", "edgecolor": "0.7"})  # fmt: skip
    acc_ax.legend(fontsize=8)
    zero_ax.legend(fontsize=7)
    return fig
