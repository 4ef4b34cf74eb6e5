"""Figures of the optimizer race: loss curves, and paths drawn over a function's contours."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from cnn.labs.config import NAMES

LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


def _style(k: int) -> dict[str, Any]:
    """Distinct dash + marker per optimizer, so lines that coincide still read apart."""
    return {"ls": LINE_STYLES[k % len(LINE_STYLES)], "marker": MARKERS[k % len(MARKERS)]}


def race_sweep_figure(ball: dict[str, dict[str, Any]]) -> Figure:
    """Left: median validation accuracy per learning rate (band: min to max over seeds), the
    chosen rate circled. Right: training BCE at each optimizer's own best rate."""
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    ax, loss_ax = fig.subplots(1, 2)
    for k, (name, r) in enumerate(ball.items()):
        sw = r["sweep"]
        (line,) = ax.plot(sw["lrs"], sw["val_accuracy_median"], label=NAMES[name], ms=4,
                          **_style(k))  # fmt: skip
        ax.fill_between(sw["lrs"], sw["val_accuracy_low"], sw["val_accuracy_high"],
                        color=line.get_color(), alpha=0.12)  # fmt: skip
        ax.plot(r["best_lr"], r["val_accuracy"], "o", ms=10, mfc="none", color=line.get_color())
        curve = np.maximum(np.asarray(r["curve"], dtype=float), 1e-8)
        loss_ax.plot(curve, color=line.get_color(), ls=_style(k)["ls"], lw=1.5,
                     label=f"{NAMES[name]}, lr {r['best_lr']:g}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"Learning-rate sweep, median of {next(iter(ball.values()))['seeds']} seeds",
                 fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("full-batch step (1,000 ball points)")
    loss_ax.set_ylabel("training loss (binary cross-entropy),\nmedian over seeds")
    loss_ax.set_title("Each optimizer at its own best rate", fontsize=10)
    loss_ax.grid(alpha=0.3, which="both")
    loss_ax.legend(fontsize=7)
    return fig


def rprop_figure(rb: dict[str, Any]) -> Figure:
    """Training BCE per epoch, full batch vs mini-batches, for RProp and a control optimizer."""
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    names = [k for k, v in rb.items() if isinstance(v, dict)]
    for ax, name in zip(axes, names, strict=True):
        for k, mode in enumerate(("full_batch", "mini_batch")):
            r = rb[name][mode]
            how = "full batch" if k == 0 else f"mini-batches of {rb['batch_size']}"
            label = f"{how}: test accuracy {r['test_accuracy']:.1%}"
            ax.plot(np.maximum(r["curve"], 1e-8), label=label, ms=3, **_style(k))
        ax.set_yscale("log")
        ax.set_xlabel("epoch (pass over the 1,000 training points)")
        ax.set_title(f"{NAMES[name]}, lr {rb[name]['lr']:g}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("training loss (binary cross-entropy),\nmedian over seeds")
    return fig


def trajectories_figure(fn, paths: dict[str, np.ndarray]) -> Figure:
    """Left: each optimizer's path from the start (o) over log-spaced contours, the minimum a
    star. Right: distance to the minimum per step, which tells apart paths that overlap."""
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    ax, dist_ax = fig.subplots(1, 2, width_ratios=[1.25, 1])
    xs = np.linspace(*fn.xlim, 300)
    ys = np.linspace(*fn.ylim, 300)
    gx, gy = np.meshgrid(xs, ys)
    z = fn.f(gx, gy) + 1e-6
    levels = np.logspace(np.log10(max(z.min(), 1e-3)), np.log10(z.max()), 25)
    ax.contourf(gx, gy, z, levels=levels, norm=LogNorm(), cmap="Greys", alpha=0.6)
    ax.contour(gx, gy, z, levels=levels, norm=LogNorm(), colors="0.5", linewidths=0.4)
    for name, p in paths.items():
        ax.plot(p[:, 0], p[:, 1], lw=1.5, label=NAMES.get(name, name))
        ax.plot(p[-1, 0], p[-1, 1], "o", ms=4, color=ax.lines[-1].get_color())
    ax.plot(*fn.start, "ko", mfc="white", ms=8)
    ax.plot(*fn.minimum, "k*", ms=14)
    ax.set_xlim(*fn.xlim)
    ax.set_ylim(*fn.ylim)
    steps = len(next(iter(paths.values()))) - 1
    ax.set_title(
        f"{fn.name.capitalize()}: {steps} steps from {fn.start}; minimum at {fn.minimum} (star)"
    )
    ax.legend(fontsize=9, ncol=2, loc="best")
    for name, p in paths.items():
        dist_ax.plot(
            np.linalg.norm(p - np.array(fn.minimum), axis=1) + 1e-12, label=NAMES.get(name, name)
        )
    dist_ax.set_yscale("log")
    dist_ax.set_xlabel("step")
    dist_ax.set_ylabel("distance to the minimum")
    dist_ax.grid(alpha=0.3, which="both")
    return fig
