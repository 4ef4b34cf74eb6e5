"""A client for a running digit server, shaped like the in-process path (predict_image).

The Streamlit app uses it when the operator sets a server URL (DIGIT_SERVER_URL): the
drawing goes to POST /predict as a PNG and the server's record comes back as a DigitResult, so
the page shows it the same way. The default stays in-process: no server needed.
"""

from __future__ import annotations

import io
import os
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from PIL import Image

from serving.predictor import DigitResult

ENV_VAR = "DIGIT_SERVER_URL"


class ServerError(RuntimeError):
    """The server is unreachable or refused the input; one line saying which and what to do."""


def server_url_from_env() -> str:
    """DIGIT_SERVER_URL, or "" (= run the model in-process)."""
    return os.environ.get(ENV_VAR, "").strip()


class RemotePredictor:
    """POSTs images to ``url``/predict; thread-safe (one pooled httpx client)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ServerError(f"{url!r} is not a server URL; use e.g. http://127.0.0.1:8000")
        self.url = url.strip().rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s)

    def info(self) -> dict[str, Any]:
        """GET /model: the model the server serves (its file, accuracy, engine, limits)."""
        return self._send("GET", "/model").json()

    def predict_image(self, image: np.ndarray) -> DigitResult:
        """Like serving.predictor.predict_image, run by the server. ``pixels`` is None (the
        record does not carry them); ``model_seconds`` is the server's preprocessing + model."""
        record = self._send(
            "POST", "/predict", content=_png(image), headers={"content-type": "image/png"}
        ).json()
        probabilities = record.get("probabilities")
        return DigitResult(
            digit=record.get("digit"),
            probabilities=None if probabilities is None else np.asarray(probabilities),
            pixels=None,
            preprocess_seconds=0.0,
            model_seconds=float(record.get("seconds") or 0.0),
            uncertainty=record.get("uncertainty"),  # a Bayesian model's (None otherwise)
            abstain=bool(record.get("abstain")),
            reason=record.get("reason"),
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError(
                f"digit server {self.url} unreachable ({type(exc).__name__}); start it with "
                "`python -m serving serve` or clear the server URL"
            ) from exc
        if response.status_code != 200:
            raise ServerError(f"digit server {self.url}: {_detail(response)}")
        return response

    def close(self) -> None:
        self._client.close()


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


# What a refusal means, in our words: the server's reply is never shown (a URL that pointed at
# another service would put its error page, secrets and all, on the app's page).
REFUSALS = {
    400: "the server could not read the request",
    413: "the image is over the server's size limit; crop or scale it down",
    415: "the server does not accept this kind of file",
    422: "the server could not read a digit image in it (see the server's log for why)",
    503: "the server is still loading its model; try again in a moment",
}


def _detail(response: httpx.Response) -> str:
    code = response.status_code
    return f"HTTP {code}: {REFUSALS.get(code, 'the request failed; the server log says why')}"
