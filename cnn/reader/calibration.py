"""Calibration metrics of predicted probabilities (NumPy only): NLL, Brier, reliability, ECE.

Their own module so that the comparison (``uncertainty.py``) and its figures
(``uncertainty_plots.py``) both import them and neither imports the other.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15


def nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float(-np.log(p).mean())


def brier(probabilities: np.ndarray, labels: np.ndarray) -> float:
    onehot = np.eye(probabilities.shape[1])[labels]
    return float(((probabilities - onehot) ** 2).sum(1).mean())


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS):
    """(bin confidence, bin accuracy, bin count) over equal-width confidence bins."""
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore"):
        conf = np.bincount(index, confidence, bins) / count
        acc = np.bincount(index, correct, bins) / count
    return conf, acc, count


def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: sum over bins of |accuracy - confidence| x bin share."""
    conf, acc, count = reliability(probabilities, labels, bins)
    used = count > 0
    return float((np.abs(acc - conf)[used] * count[used]).sum() / count.sum())
