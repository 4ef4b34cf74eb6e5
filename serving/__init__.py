"""ONNX Runtime inference for drawn digits: preprocessing, batch prediction, INT8, benchmarks.

The names below are imported on first use (PEP 562), so ``python -m serving --help`` and the
light modules (``serving.cli_groups``) do not pay for ONNX Runtime and SciPy.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "DEFAULT_MODEL": "serving.predictor",
    "INT8_MODEL": "serving.predictor",
    "BatchPrediction": "serving.predictor",
    "DigitResult": "serving.predictor",
    "ModelError": "serving.predictor",
    "Predictor": "serving.predictor",
    "predict_image": "serving.predictor",
    "PreprocessError": "serving.preprocess",
    "to_mnist": "serving.preprocess",
}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'serving' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
