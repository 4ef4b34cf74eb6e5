"""Figures of the convolution lab (matplotlib Figures, no pyplot state)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnn.labs.conv import windows_1d


def _matrix(ax, m: np.ndarray, title: str, cmap: str = "Blues") -> None:
    """A small matrix drawn as a heat map with its numbers written in the cells."""
    m = np.asarray(m, dtype=float)
    ax.imshow(m, cmap=cmap, vmin=min(m.min(), 0), vmax=max(m.max(), 1e-9) * 1.6)
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=9)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def worked_examples_figure(examples: Sequence) -> Figure:
    """One row per course example: input, kernel (or window), our output vs the course's."""
    fig = Figure(figsize=(9, 2.3 * len(examples)), layout="constrained")
    axes = fig.subplots(len(examples), 3, squeeze=False)
    for row, ex in zip(axes, examples, strict=True):
        _matrix(row[0], np.array(ex.x), f"{ex.title}: input")
        if ex.kernel is not None:
            _matrix(row[1], np.array(ex.kernel), "kernel", cmap="Oranges")
        else:
            row[1].axis("off")
            row[1].text(0.5, 0.5, f"max over {ex.size}x{ex.size}", ha="center", va="center")
        verdict = "= course" if ex.matches() else "DIFFERS from course"
        _matrix(row[2], ex.compute(), f"{ex.padding}, stride {ex.stride} {verdict}", "Greens")
    return fig


def padding_1d_figure(n: int = 13, k: int = 6, stride: int = 5) -> Figure:
    """The course's 1-D picture: which inputs each window covers under VALID and SAME."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    for ax, padding in zip(fig.subplots(2, 1), ("VALID", "SAME"), strict=True):
        wins = windows_1d(n, k, stride, padding)
        lo, hi = min(w.start for w in wins + [range(0, n)]), max(w.stop for w in wins + [range(n)])
        for i in range(lo, hi):
            inside = 0 <= i < n
            covered = any(i in w for w in wins)
            color = "white" if not inside else ("#cfe2f3" if covered else "#f4cccc")
            ax.add_patch(Rectangle((i, 0), 1, 1, fc=color, ec="gray"))
            ax.text(
                i + 0.5, 0.5, str(i + 1) if inside else "pad", ha="center", va="center", fontsize=8
            )
        for j, w in enumerate(wins):
            y = -0.4 - 0.35 * j
            ax.plot([w.start + 0.05, w.stop - 0.05], [y, y], lw=3)
            ax.text(w.stop + 0.1, y, f"out {j + 1}", va="center", fontsize=8)
        ax.set_xlim(lo - 0.5, hi + 2)
        ax.set_ylim(-0.5 - 0.35 * len(wins), 1.2)
        ax.axis("off")
        ax.set_title(
            f"{padding}: width {n}, filter {k}, stride {stride} -> {len(wins)} outputs"
            + (" (red inputs dropped)" if padding == "VALID" else ""),
            fontsize=9,
        )
    return fig


def sobel_figure(image: np.ndarray, response: np.ndarray) -> Figure:
    """A digit and its horizontal-Sobel response: red where the left side has more ink than the
    right (a stroke's right edge), blue the reverse."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    a.imshow(image, cmap="gray_r")
    a.set_title("digit")
    _matrix(b, np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]]), "horizontal Sobel", "Oranges")
    lim = np.abs(response).max() or 1.0
    im = c.imshow(response, cmap="RdBu_r", vmin=-lim, vmax=lim)
    c.set_title("response (SAME)")
    fig.colorbar(im, ax=c, shrink=0.8)
    for ax in (a, c):
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def feature_maps_figure(maps: np.ndarray, layer: str, cols: int = 16) -> Figure:
    """All channels of one layer's feature maps, 16 per row: 12 inches wide like the other lab
    figures, so conv1's 32 maps take 2 rows and conv2's 64 take 4 (not a page each)."""
    rows = math.ceil(len(maps) / cols)
    cell = 12 / cols
    fig = Figure(figsize=(12, rows * cell + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(maps):
            ax.imshow(maps[i], cmap="viridis")
    fig.suptitle(f"{layer} + ReLU feature maps ({len(maps)} x {maps.shape[1]}x{maps.shape[2]})")
    return fig


def message_figure(text: str) -> Figure:
    """A figure that says why the real one is missing (e.g. no trained checkpoint yet)."""
    fig = Figure(figsize=(8, 1.6))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11, color="darkred")
    return fig
