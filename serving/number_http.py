"""POST /read-number: the HTTP half of serving/number.py, on the embedded server and Ray Serve.

Same bodies and limits as POST /predict (a raw image body or one multipart file), the same
record as `python -m serving read-number --json`. The whole reading runs in one worker thread
(the preprocessing lanes of serving.http_app): cutting touching digits makes several model calls,
each depending on the last, so it calls the backend's session directly instead of queueing each
call for Ray Serve's batching.
"""

from __future__ import annotations

import io
from typing import Any

from fastapi import HTTPException, Request

from serving.http_app import Backend, Item, in_lane, named_reason, read_items
from serving.images import ImageReadError, read_image
from serving.number import number_record, read_number
from serving.preprocess import PreprocessError

ROUTE = "/read-number"
SUMMARY = "read a drawn number, digit by digit"
RECORD_KEYS = ("file", "number", "digits", "abstain", "reason", "seconds")
DIGIT_KEYS = ("digit", "confidence", "abstain", "uncertainty", "box")


async def read_number_record(request: Request, backend: Backend) -> dict[str, Any]:
    """The number record of the posted image, or HTTPException (400/413/415/422)."""
    items = await read_items(request, backend.config, batch=False)
    (item,) = items
    if item.data is None:
        raise HTTPException(
            422, f"{ROUTE} reads an image of a number (PNG, JPEG, ...), not 28x28 pixels"
        )
    try:
        return await in_lane(item, _read, backend)
    except (ImageReadError, PreprocessError) as exc:
        raise HTTPException(422, named_reason(item, exc)) from None


def _read(item: Item, backend: Backend) -> dict[str, Any]:
    config = backend.config
    image = read_image(io.BytesIO(item.data or b""), name=item.name, max_pixels=config.max_pixels)
    return number_record(item.name, read_number(image, backend.predictor))


def model_info() -> dict[str, Any]:
    """What GET /model says about this route."""
    return {
        "route": ROUTE,
        "body": "an image of a number (raw body or one multipart file), as for /predict",
        "record": list(RECORD_KEYS),
        "digit_record": list(DIGIT_KEYS),
        "box": "[x0, y0, x1, y1] in the image's pixels, x1 and y1 exclusive",
        "number_null_when": "empty drawing (reason 'empty'), a digit abstained on or read "
        "below the confidence bar, or touching digits no cut reads clearly",
    }


def body_doc() -> dict[str, Any]:
    """Request bodies for the OpenAPI docs: an image, raw or as one multipart file."""
    binary = {"type": "string", "format": "binary"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "image/png": {"schema": binary},
                "image/jpeg": {"schema": binary},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": binary}}
                },
            },
        }
    }
