"""Figures of the initialization lab: the course's 2x2 grid, per-layer profiles over seeds
(median line, band from the smallest to the largest seed) and the "does it train?" curves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnn.labs.config import INIT_TITLES, PROFILE, PROFILE_TITLES

LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "v", "D", "P", "X")

PANELS = (("z", "Z-values"), ("weights", "Weights"), ("activations", "Activations"),
          ("gradients", "Gradients"))  # fmt: skip


def _layer_histograms(ax, arrays: Sequence[np.ndarray], title: str, bins: int = 60) -> None:
    """One mirrored histogram per layer (a violin made of exact bin counts, no smoothing)."""
    lo = min(float(a.min()) for a in arrays)
    hi = max(float(a.max()) for a in arrays)
    if hi <= lo:
        lo, hi = lo - 1e-12, hi + 1e-12
    edges = np.linspace(lo, hi, bins + 1)
    for i, a in enumerate(arrays):
        counts, _ = np.histogram(a.ravel(), edges)
        half = 0.42 * counts / max(counts.max(), 1)
        ax.fill_betweenx(edges[:-1], i - half, i + half, step="post", alpha=0.75, lw=0)
    ax.set_xticks(range(len(arrays)), [f"h{i + 1}" for i in range(len(arrays))])
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)


def epoch0_figure(e) -> Figure:
    """Z-values | weights over activations | gradients, per hidden layer, as in the course."""
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    for ax, (key, title) in zip(fig.subplots(2, 2).flat, PANELS, strict=True):
        _layer_histograms(ax, getattr(e, key), title)
    fig.suptitle(f"Activation: {e.activation} - Initializer: {INIT_TITLES[e.init]} - Epoch 0")
    return fig


def _style(k: int) -> dict[str, Any]:
    """Distinct dash + marker per line, so lines that coincide still read apart."""
    return {"ls": LINE_STYLES[k % len(LINE_STYLES)], "marker": MARKERS[k % len(MARKERS)]}


def profile_figure(profiles: dict[tuple[str, str], dict[str, np.ndarray]], n_seeds: int) -> Figure:
    """Per activation (rows) the four per-layer numbers (columns), one line per initializer:
    the median over seeds, shaded from the smallest to the largest seed."""
    acts = list(dict.fromkeys(a for a, _ in profiles))
    fig = Figure(figsize=(12, 2.9 * len(acts) + 0.7), layout="constrained")
    axes = fig.subplots(len(acts), len(PROFILE), squeeze=False)
    for row_axes, act in zip(axes, acts, strict=True):
        inits = [i for a, i in profiles if a == act]
        for ax, q in zip(row_axes, PROFILE, strict=True):
            for k, init in enumerate(inits):
                a = np.asarray(profiles[act, init][q])
                layers = np.arange(1, a.shape[1] + 1)
                (line,) = ax.plot(layers, np.median(a, 0), label=INIT_TITLES[init], ms=4,
                                  **_style(k))  # fmt: skip
                ax.fill_between(layers, a.min(0), a.max(0), color=line.get_color(), alpha=0.15)
            ax.set_yscale("log")
            ax.set_title(f"{act}: {PROFILE_TITLES[q]}", fontsize=9)
            ax.set_xticks(range(1, 6), [f"h{i}" for i in range(1, 6)])
            ax.grid(alpha=0.3, which="both")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(f"Epoch 0, per hidden layer: median over {n_seeds} seeds, band = min to max",
                 fontsize=11)  # fmt: skip
    return fig


def training_figure(runs: Sequence[dict[str, Any]]) -> Figure:
    """Training BCE per epoch (Keras-default SGD) for each initializer, one panel per
    activation; a run that diverged is named in the legend."""
    acts = list(dict.fromkeys(r["activation"] for r in runs))
    fig = Figure(figsize=(12, 3.4), layout="constrained")
    axes = fig.subplots(1, len(acts), squeeze=False)[0]
    for ax, act in zip(axes, acts, strict=True):
        for k, r in enumerate(x for x in runs if x["activation"] == act):
            losses = np.array([np.nan if v is None else v for v in r["loss_per_epoch"]])
            label = INIT_TITLES[r["init"]] + (" (diverged)" if r.get("diverged") else "")
            ax.plot(np.arange(len(losses)), losses, label=label, ms=4, **_style(k))
        ax.axhline(0.673, color="k", lw=0.8, ls=":")  # BCE of always guessing 59% positive
        shown = [v for r in runs if r["activation"] == act
                 for v in r["loss_per_epoch"] if v is not None and v < 10]  # fmt: skip
        ax.set_ylim(0, max([1.2, *shown]) * 1.05)  # a diverged run's 8,610 would flatten all
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_title(f"{act}: does it train?", fontsize=10)
        ax.set_xlabel("epoch (SGD, learning rate 0.01, batches of 32)")
        ax.set_ylabel("training loss (binary cross-entropy)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig
