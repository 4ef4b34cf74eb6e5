"""ONNX Runtime inference for drawn digits: preprocessing, batch prediction, INT8, benchmarks."""

from serving.predictor import (
    DEFAULT_MODEL,
    INT8_MODEL,
    BatchPrediction,
    DigitResult,
    ModelError,
    Predictor,
    predict_image,
)
from serving.preprocess import PreprocessError, to_mnist

__all__ = [
    "DEFAULT_MODEL",
    "INT8_MODEL",
    "BatchPrediction",
    "DigitResult",
    "ModelError",
    "PreprocessError",
    "Predictor",
    "predict_image",
    "to_mnist",
]
