"""The JSON record of one prediction: what `python -m serving predict --json` prints per file and
what the HTTP service's POST /predict returns. One function, so the two can never drift apart."""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.predictor import NOTHING_TO_READ, DigitResult

DIGITS = 6  # decimals kept for probabilities and seconds


def prediction_record(name: str, result: DigitResult, k: int = 3) -> dict[str, Any]:
    """file, digit (None: nothing to read; else the best guess), probabilities (the posterior
    predictive of a Bayesian model), confidence (their max), top_k, abstain (True: "not sure
    this is a digit", and always True when there is nothing to read), uncertainty (>= 0; None
    for a plain model or nothing read), reason (why there is no answer; None when read),
    seconds."""
    record: dict[str, Any] = {
        "file": name,
        "digit": result.digit,
        "probabilities": None,
        "confidence": None,
        "top_k": None,
        "abstain": True if result.digit is None else None,
        "uncertainty": None,
        "reason": (result.reason or NOTHING_TO_READ) if result.digit is None else None,
        "seconds": round(result.seconds, DIGITS),
    }
    if result.digit is not None:
        probabilities = result.probabilities
        order = np.argsort(-probabilities, kind="stable")[:k]
        record.update(
            probabilities=[round(float(p), DIGITS) for p in probabilities],
            confidence=round(float(probabilities[result.digit]), DIGITS),
            top_k=[[int(d), round(float(probabilities[d]), DIGITS)] for d in order],
            abstain=bool(result.abstain),
            uncertainty=(
                None if result.uncertainty is None else max(round(result.uncertainty, 4), 0.0)
            ),
        )
    return record


def error_record(name: str, message: str) -> dict[str, Any]:
    """The record of an input that could not be read: the same keys a client checks first."""
    return {"file": name, "digit": None, "probabilities": None, "error": message}
