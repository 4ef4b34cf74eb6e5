"""The figures of ``python -m cnn uncertainty``: reliability diagram, confidence histogram, and
the trade-off between calibration on digits and confidence on non-digits."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cnn.reader.calibration import ECE_BINS, ece, reliability  # noqa: E402


def reliability_diagram(methods, sets, out: Path) -> str:
    """Accuracy vs confidence on MNIST test, 15 bins, one line per method (zoomed on 0.8-1)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for m in methods:
        probs = m.outputs["test"][0]
        conf, acc, count = reliability(probs, sets.test_labels, ECE_BINS)
        used = count > 0
        label = f"{m.name} (ECE {ece(probs, sets.test_labels):.4f})"
        for ax in axes:
            ax.plot(conf[used], acc[used], marker="o", ms=3, label=label)
    for ax, low in zip(axes, (0.0, 0.8), strict=True):
        ax.plot([low, 1], [low, 1], "k--", lw=1)
        ax.set(xlim=(low, 1.0), ylim=(low, 1.0), xlabel="confidence (max probability)")
    axes[0].set(ylabel="accuracy", title="Reliability on MNIST test (15 bins)")
    axes[1].set(title="zoom: confidence 0.8-1")
    axes[0].legend(fontsize=7, loc="upper left")
    return _save(fig, out)


def confidence_histogram(methods, sets, out: Path) -> str:
    """Confidence of drawn test digits vs non-digits, per method; plus the served uncertainty."""
    fig, axes = plt.subplots(1, len(methods) + 1, figsize=(5 * (len(methods) + 1), 3.8))
    bins = np.linspace(0, 1, 41)
    for ax, m in zip(axes, methods, strict=False):
        digits = m.outputs["drawn_test"][0].max(1)
        nondigits = np.concatenate([m.outputs[f"nd_{k}"][0].max(1) for k in sets.nondigits])
        ax.hist(digits, bins, alpha=0.6, density=True, label=f"drawn digits ({len(digits)})")
        ax.hist(nondigits, bins, alpha=0.6, density=True, label=f"non-digits ({len(nondigits)})")
        ax.set(title=m.name, xlabel="confidence (max probability)", yscale="log")
        ax.legend(fontsize=8)
    served = methods[-1]
    digits = -served.outputs["drawn_test"][1]
    nondigits = -np.concatenate([served.outputs[f"nd_{k}"][1] for k in sets.nondigits])
    nondigits = np.concatenate([nondigits, *(-served.outputs[f"ho_{k}"][1] for k in sets.heldout)])
    top = float(np.quantile(nondigits, 0.95))
    edges = np.linspace(min(digits.min(), -1), max(top, 2), 50)
    ax = axes[-1]
    ax.hist(np.clip(digits, None, edges[-1]), edges, alpha=0.6, density=True, label="drawn digits")
    ax.hist(np.clip(nondigits, None, edges[-1]), edges, alpha=0.6, density=True, label="non-digits")
    ax.axvline(1.0, color="k", ls="--", lw=1, label="abstain line")
    ax.set(title="served uncertainty (clipped at right)", xlabel="uncertainty")
    ax.legend(fontsize=8)
    return _save(fig, out)


def tradeoff_plot(sweep: list[dict], rows: dict[str, dict], out: Path) -> str:
    """Test NLL against the share of non-digits *shown* (answered, not abstained) at >= 99%:
    every method a point (each with its own abstain rule), the served predictive's two knobs
    (temperature, prior precision) curves behind the served gate, the target corner shaded."""
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    map_nll = rows["MAP (softmax)"]["nll"]
    top = 3 * map_nll  # the interesting part: NLL within 3x the MAP's
    curves = (
        ("T", "temperature T (marglik prior)", "T={:.2f}", (-6, 6)),
        ("prior", "prior precision (T = 1)", "{:.0f}", (4, -11)),
    )
    for knob, label, fmt, offset in curves:
        part = [r for r in sweep if r["knob"] == knob]
        x = [100 * r["nondigit_shown99"] for r in part]
        y = [r["test_nll"] for r in part]
        ax.plot(x, y, "-o", ms=4, label=f"served predictive, {label} swept")
        for r, xi, yi in zip(part, x, y, strict=True):
            if yi <= top:
                ax.annotate(
                    fmt.format(r["value"]),
                    (xi, yi),
                    fontsize=7,
                    xytext=offset,
                    textcoords="offset points",
                )
    for name, r in rows.items():
        if not name.startswith("feature density"):  # its probabilities are the MAP's
            ax.plot(100 * r["nondigit_shown99"], r["nll"], "s", ms=7, label=name)
    ax.fill_between(
        [0, 5], 0, map_nll, color="tab:green", alpha=0.2, label="target: ≤ 5% and NLL ≤ MAP's"
    )
    ax.set(
        xlabel="non-digits shown (answered) at ≥ 99% confidence (%)",
        ylabel="MNIST test NLL (lower is better)",
        title="Digit calibration vs non-digits shown at ≥ 99%, after each method's abstain rule",
        xlim=(0, None),
        ylim=(0, top),
    )
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, out)


def _save(fig, out: Path) -> str:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return str(out)
