"""Batch prediction of digits with ONNX Runtime, and the one-call path from a drawing to a digit."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.special import softmax

from serving.preprocess import NOTHING_TO_READ, NoDigit, find_digit
from serving.session import (
    DEFAULT_MODEL,
    INT8_MODEL,
    PROBABILITIES,
    UNCERTAINTY,
    ModelError,
    ModelOutputError,
    check_outputs,
    check_uncertainty,
    logits_output,
    metadata,
    open_session,
    run_session,
)

__all__ = [
    "DEFAULT_MODEL",
    "INT8_MODEL",
    "BatchPrediction",
    "DigitResult",
    "ModelError",
    "ModelOutputError",
    "NOTHING_TO_READ",
    "Predictor",
    "predict_image",
    "predict_pixels",
]
CHUNK = 512  # images per session.run: bounds activation memory for big batches
# The one answer to a drawing with nothing to read (blank canvas, all-zero or all-ink pixels),
# the same in the CLI, HTTP (single and batch) and the app: digit None, abstain True, and
# NOTHING_TO_READ (serving.preprocess's SPECK or BLOT when there is ink but no digit in it).


@dataclass(frozen=True)
class BatchPrediction:
    """Logits of N images and what follows from them (plus a Bayesian model's extra outputs)."""

    logits: np.ndarray  # float32 [N, 10]
    # A Bayesian graph's (`python -m cnn posterior`) posterior predictive and uncertainty; None
    # for a plain MAP export.
    predictive: np.ndarray | None = None  # float32 [N, 10]
    uncertainty: np.ndarray | None = None  # float32 [N]; >= abstain_threshold: abstain
    abstain_threshold: float | None = None

    @property
    def probabilities(self) -> np.ndarray:
        """The posterior predictive if the model has one, else the softmax of the logits;
        float64 [N, 10] (rows sum to 1)."""
        if self.predictive is not None:
            p = self.predictive.astype(np.float64)
            return p / p.sum(axis=1, keepdims=True)
        return softmax(self.logits.astype(np.float64), axis=1)

    @property
    def digits(self) -> np.ndarray:
        """The most probable digit per image (the best guess, even when abstaining), int64 [N]."""
        return (self.logits if self.predictive is None else self.predictive).argmax(axis=1)

    @property
    def abstain(self) -> np.ndarray:
        """bool [N]: 'not sure this is a digit' (always False for a model without uncertainty)."""
        if self.uncertainty is None or self.abstain_threshold is None:
            return np.zeros(len(self.logits), dtype=bool)
        return self.uncertainty >= self.abstain_threshold

    def top_k(self, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """The k most probable digits per image and their probabilities, both [N, k], best first."""
        if not 1 <= k <= self.logits.shape[1]:
            raise ValueError(f"k must lie between 1 and {self.logits.shape[1]}, got {k}")
        probabilities = self.probabilities
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        return order, np.take_along_axis(probabilities, order, axis=1)

    def __len__(self) -> int:
        return len(self.logits)


class Predictor:
    """An ONNX Runtime session over a digit model, opened and checked once, shareable."""

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        intra_op_threads: int | None = None,
        spinning: bool = True,
    ) -> None:
        self.model_path = Path(model_path)
        self.session = open_session(self.model_path, intra_op_threads, spinning)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = logits_output(self.session).name  # by name: models may add outputs
        self.metadata = metadata(self.session)
        # A Bayesian graph also returns its posterior predictive and an uncertainty score.
        names = {o.name for o in self.session.get_outputs()}
        self.bayesian = {PROBABILITIES, UNCERTAINTY} <= names
        self.abstain_threshold = (
            float(self.metadata.get("abstain_threshold", "inf")) if self.bayesian else None
        )
        self._outputs = [self.output_name] + ([PROBABILITIES, UNCERTAINTY] if self.bayesian else [])

    def predict(self, pixels: np.ndarray) -> BatchPrediction:
        """pixels: float [N,1,28,28] or [N,28,28] (a single [28,28] too) in [0, 1], ink high."""
        x = _as_batch(pixels)
        parts = []
        for i in range(0, len(x), CHUNK):
            chunk = x[i : i + CHUNK]
            out = run_session(
                self.session, self._outputs, {self.input_name: chunk}, self.model_path
            )
            check_outputs(
                dict(zip(self._outputs[:2], out, strict=False)), len(chunk), self.model_path
            )
            if self.bayesian:
                check_uncertainty(out[2], len(chunk), self.model_path)
            parts.append(out)
        if not parts:
            return BatchPrediction(np.zeros((0, 10), np.float32))
        logits, *extra = (np.concatenate(column) for column in zip(*parts, strict=True))
        if not self.bayesian:
            return BatchPrediction(logits)
        return BatchPrediction(logits, extra[0], extra[1], self.abstain_threshold)

    def __repr__(self) -> str:
        return f"Predictor({str(self.model_path)!r})"


@dataclass(frozen=True)
class DigitResult:
    """What a drawing was read as; ``digit`` is None when there was nothing to read."""

    digit: int | None
    probabilities: np.ndarray | None  # float64 [10]
    pixels: np.ndarray | None  # float32 [28, 28]: what the model saw
    # Timed apart: on a big canvas preprocessing costs far more than the sub-millisecond model.
    preprocess_seconds: float  # to_mnist: crop, scale, centre
    model_seconds: float  # ONNX Runtime + softmax; 0.0 when there was nothing to read
    # A Bayesian model's feature-surprise score (None for a plain model) and its verdict.
    uncertainty: float | None = None
    abstain: bool = False  # "not sure this is a digit": digit is then only the best guess
    # Why there is no answer when there is none (an empty drawing); None when one was read.
    reason: str | None = None

    @property
    def seconds(self) -> float:
        """Preprocessing + model."""
        return self.preprocess_seconds + self.model_seconds


NO_DIGIT = DigitResult(None, None, None, 0.0, 0.0, None, True, NOTHING_TO_READ)


def predict_image(image: np.ndarray, predictor: Predictor) -> DigitResult:
    """Preprocess one drawing/photo (see serving.preprocess.to_mnist) and predict its digit."""
    start = time.perf_counter()
    pixels = find_digit(image)
    preprocessed = time.perf_counter()
    return replace(predict_pixels([pixels], predictor)[0], preprocess_seconds=preprocessed - start)


def predict_pixels(
    pixels: Sequence[np.ndarray | NoDigit | None], predictor: Predictor
) -> list[DigitResult]:
    """The model half of predict_image for many inputs at once, in one session.run.

    Each item is what find_digit returned (float32 [28, 28], or NoDigit with its reason), or
    to_mnist's None (nothing to read). Why a list: the HTTP service preprocesses each request on
    its own and batches only the model (Ray Serve's dynamic batching). preprocess_seconds is 0
    here; model_seconds is this call's.
    """
    start = time.perf_counter()
    results = [
        replace(NO_DIGIT, reason=item.reason) if isinstance(item, NoDigit) else NO_DIGIT
        for item in pixels
    ]
    found = [i for i, item in enumerate(pixels) if isinstance(item, np.ndarray)]
    if not found:
        return results
    prediction = predictor.predict(np.stack([pixels[i] for i in found]))
    probabilities, digits = prediction.probabilities, prediction.digits
    abstain, uncertainty = prediction.abstain, prediction.uncertainty
    seconds = time.perf_counter() - start
    for row, i in enumerate(found):
        results[i] = DigitResult(
            int(digits[row]),
            probabilities[row],
            pixels[i],
            0.0,
            seconds,
            None if uncertainty is None else float(uncertainty[row]),
            bool(abstain[row]),
        )
    return results


def _as_batch(pixels: np.ndarray) -> np.ndarray:
    x = np.asarray(pixels)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(
            f"pixels must be [N,1,28,28] or [N,28,28], got shape {np.shape(pixels)}; "
            "turn drawings into MNIST form with serving.preprocess.to_mnist first"
        )
    if x.dtype == np.uint8:
        return (x / np.float32(255)).astype(np.float32)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"pixels must be float in [0, 1] (or uint8), got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise ValueError("pixels must be finite and lie in [0, 1] (ink high, as MNIST / 255)")
    return np.ascontiguousarray(x)
