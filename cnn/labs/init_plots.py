"""Figures of the initialization lab: the course's 2x2 grid and a per-layer std summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from cnn.labs.block import INIT_TITLES

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


def summary_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """Per-layer std of each quantity (columns) for every activation (rows), one line per init."""
    acts = list(dict.fromkeys(r["activation"] for r in rows))
    fig = Figure(figsize=(13, 3 * len(acts) + 0.6), layout="constrained")
    axes = fig.subplots(len(acts), 4, squeeze=False)
    for row_axes, act in zip(axes, acts, strict=True):
        for ax, (key, title) in zip(row_axes, PANELS, strict=True):
            for r in (r for r in rows if r["activation"] == act):
                std = r["std"][key]
                ax.plot(range(1, len(std) + 1), std, marker="o", label=INIT_TITLES[r["init"]])
            ax.set_yscale("log")
            ax.set_title(f"{act}: std of {title.lower()}", fontsize=10)
            ax.set_xticks(range(1, 6), [f"h{i}" for i in range(1, 6)])
            ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8)
    fig.suptitle("Epoch 0: per-layer spread for each activation x initializer")
    return fig
