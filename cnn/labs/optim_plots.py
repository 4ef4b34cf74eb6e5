"""Figures of the optimizer race: loss curves, and paths drawn over a function's contours."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure


def race_curves_figure(curves: dict[str, list[float]]) -> Figure:
    """Training loss (BCE, log scale) per full-batch step for every optimizer."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for name, losses in curves.items():
        ax.plot(np.maximum(losses, 1e-12), label=name, lw=1.6)
    ax.set_yscale("log")
    ax.set_xlabel("step (full batch of 1,000 ball points)")
    ax.set_ylabel("training BCE")
    ax.set_title("BLOCK model (tanh, Glorot normal) on the 10-D ball data")
    ax.grid(alpha=0.3, which="both")
    ax.legend(ncol=2, fontsize=9)
    return fig


def trajectories_figure(fn, paths: dict[str, np.ndarray]) -> Figure:
    """Left: each optimizer's path from the start (o) over log-spaced contours, the minimum a
    star. Right: distance to the minimum per step, which tells apart paths that overlap."""
    fig = Figure(figsize=(14, 6), layout="constrained")
    ax, dist_ax = fig.subplots(1, 2, width_ratios=[1.25, 1])
    xs = np.linspace(*fn.xlim, 300)
    ys = np.linspace(*fn.ylim, 300)
    gx, gy = np.meshgrid(xs, ys)
    z = fn.f(gx, gy) + 1e-6
    levels = np.logspace(np.log10(max(z.min(), 1e-3)), np.log10(z.max()), 25)
    ax.contourf(gx, gy, z, levels=levels, norm=LogNorm(), cmap="Greys", alpha=0.6)
    ax.contour(gx, gy, z, levels=levels, norm=LogNorm(), colors="0.5", linewidths=0.4)
    for name, p in paths.items():
        ax.plot(p[:, 0], p[:, 1], lw=1.5, label=name)
        ax.plot(p[-1, 0], p[-1, 1], "o", ms=4, color=ax.lines[-1].get_color())
    ax.plot(*fn.start, "ko", mfc="white", ms=8)
    ax.plot(*fn.minimum, "k*", ms=14)
    ax.set_xlim(*fn.xlim)
    ax.set_ylim(*fn.ylim)
    steps = len(next(iter(paths.values()))) - 1
    ax.set_title(f"{fn.name}: {steps} steps from {fn.start}; minimum at {fn.minimum} (star)")
    ax.legend(fontsize=9, ncol=2, loc="best")
    for name, p in paths.items():
        dist_ax.plot(np.linalg.norm(p - np.array(fn.minimum), axis=1) + 1e-12, label=name)
    dist_ax.set_yscale("log")
    dist_ax.set_xlabel("step")
    dist_ax.set_ylabel("distance to the minimum")
    dist_ax.grid(alpha=0.3, which="both")
    return fig
