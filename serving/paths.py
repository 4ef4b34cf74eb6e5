"""Where the shipped models live, without importing ONNX Runtime (``--help`` shows these)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP_MODEL = ROOT / "models" / "mnist_cnn.onnx"  # `python -m cnn export`: the MAP estimate
# The served default: the MAP model plus its last-layer posterior predictive and an abstain
# score, one graph (`python -m cnn posterior`); outputs logits, probabilities, uncertainty.
DEFAULT_MODEL = ROOT / "models" / "mnist_cnn_bayes.onnx"
INT8_MODEL = ROOT / "models" / "mnist_cnn_int8.onnx"
