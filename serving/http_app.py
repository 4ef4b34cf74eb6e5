"""The HTTP API for digit inference: one FastAPI app, a thin layer over serving.predictor.

The same app runs embedded (uvicorn, one process: ``python -m serving serve``) or on Ray Serve
(``serving.ray_serve``). Only the backend differs: it turns MNIST-form pixels into DigitResults
(``predict_pixels``), either in a worker thread or through Ray Serve's dynamic batching. Reading
the body, decoding images (serving.images), preprocessing (serving.preprocess) and the JSON record
(serving.records) are the same code the CLI uses, so POST /predict returns exactly the record that
``python -m serving predict --json`` prints for the same file.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import anyio
import numpy as np
import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from serving.images import ImageReadError, header_pixels, read_image
from serving.predictor import DigitResult, Predictor, predict_pixels
from serving.preprocess import DEFAULT as DEFAULT_PREPROCESS
from serving.preprocess import NoDigit, PreprocessError, find_digit
from serving.records import error_record, prediction_record
from serving.server_config import ServerConfig

IMAGE_TYPES = ("image/", "application/octet-stream")
PIXELS_HINT = 'send JSON {"pixels": [[...28 numbers...] x 28]} with values in [0, 1], ink high'


class Backend(Protocol):
    """Runs the model. Embedded: a worker thread; Ray Serve: a @serve.batch method."""

    config: ServerConfig
    predictor: Predictor
    engine: str

    async def run_model(
        self, pixels: Sequence[np.ndarray | NoDigit | None]
    ) -> list[DigitResult]: ...


class LocalBackend:
    """The embedded engine: one ONNX Runtime session, each request's model call in a thread."""

    engine = "embedded"

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.predictor = Predictor(config.model, config.threads, spinning=False)
        self.predictor.predict(np.zeros((1, 28, 28), np.float32))  # warm-up: first run allocates

    async def run_model(self, pixels: Sequence[np.ndarray | NoDigit | None]) -> list[DigitResult]:
        # ONNX Runtime releases the GIL: concurrent requests use every core.
        return await anyio.to_thread.run_sync(predict_pixels, pixels, self.predictor)


@dataclass
class Item:
    """One input of a request: an uploaded image, or pixels already in MNIST form."""

    name: str
    data: bytes | None = None
    pixels: np.ndarray | None = None


def create_app(config: ServerConfig | None = None, backend: Backend | None = None) -> FastAPI:
    """The app. Without a backend it loads a LocalBackend at startup (GET /healthz waits for it)."""
    config = backend.config if backend is not None else (config or ServerConfig())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.backend is None:
            app.state.backend = await anyio.to_thread.run_sync(LocalBackend, config)
        yield

    app = FastAPI(
        title="Digit reader",
        description="The course's MNIST CNN (ONNX Runtime) behind HTTP: POST an image of a "
        "hand-drawn digit, or 28x28 pixels, and get the digit and its probabilities.",
        version="1",
        lifespan=lifespan,
    )
    app.state.backend = backend
    app.state.config = config

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never a traceback to the client: one line, the details stay in the server's log.
        return JSONResponse({"detail": f"internal error: {_one_line(exc)}"}, status_code=500)

    @app.get("/healthz", summary="200 once the model is loaded, 503 before")
    async def healthz(request: Request) -> JSONResponse:
        if request.app.state.backend is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/model", summary="the model's metadata, input contract and the server's limits")
    async def model(request: Request) -> dict[str, Any]:
        return model_info(_backend(request))

    @app.post("/predict", summary="read one digit", openapi_extra=_body_doc(batch=False))
    async def predict(request: Request) -> JSONResponse:
        backend = _backend(request)
        items = await read_items(request, backend.config, batch=False)
        record = (await predict_items(items, backend))[0]
        if "error" in record:
            raise HTTPException(422, record["error"])
        return JSONResponse(record)

    from serving import number_http  # a module of its own: it imports this one

    @app.post(number_http.ROUTE, summary=number_http.SUMMARY, openapi_extra=number_http.body_doc())
    async def read_number(request: Request) -> JSONResponse:
        return JSONResponse(await number_http.read_number_record(request, _backend(request)))

    @app.post("/predict/batch", summary="read many digits", openapi_extra=_body_doc(batch=True))
    async def predict_batch(request: Request) -> JSONResponse:
        backend = _backend(request)
        items = await read_items(request, backend.config, batch=True)
        return JSONResponse(await predict_items(items, backend))

    return app


async def predict_items(items: list[Item], backend: Backend) -> list[dict[str, Any]]:
    """One record per item, in order; an unreadable image gets its error record."""
    started = time.perf_counter()
    prepared = [await _prepare(item, backend.config) for item in items]
    preprocess_seconds = time.perf_counter() - started
    readable = [p for p in prepared if not isinstance(p, str)]
    results = iter(await backend.run_model(readable) if readable else [])
    records = []
    for item, pixels in zip(items, prepared, strict=True):
        if isinstance(pixels, str):
            records.append(error_record(item.name, pixels))
            continue
        result = replace(next(results), preprocess_seconds=preprocess_seconds)
        records.append(prediction_record(item.name, result, backend.config.top_k))
    return records


async def _prepare(item: Item, config: ServerConfig) -> np.ndarray | NoDigit | None | str:
    """MNIST-form pixels (NoDigit or None: no digit), or the one-line reason the image cannot be
    read."""
    if item.pixels is not None:
        return None if blank(item.pixels) else item.pixels
    try:
        return await in_lane(item, _decode_and_preprocess, config)
    except (ImageReadError, PreprocessError) as exc:
        return named_reason(item, exc)


async def in_lane(item: Item, work, *args):
    """``work(item, *args)`` in a worker thread of the preprocessing lane the item's size
    (read from its header) picks."""
    heavy = header_pixels(item.data or b"") > LIGHT_PIXELS
    return await anyio.to_thread.run_sync(work, item, *args, limiter=_limiters()[heavy])


def named_reason(item: Item, exc: Exception) -> str:
    """The one-line reason an item cannot be read, naming the item once."""
    message = str(exc)
    return message if item.name in message else f"{item.name}: {message}"


def blank(pixels: np.ndarray) -> bool:
    """All one value (all ink, all paper): no digit, as for a uniform image file. The model
    would still pick a class (all-ones pixels read as "2" at 88%)."""
    return float(pixels.max() - pixels.min()) < DEFAULT_PREPROCESS.min_contrast


# Images up to this many pixels (a canvas drawing, a cropped digit) take the light lane; bigger
# ones (photos, and a 1-pixel line on a 1024-pixel page) the heavy lane. Why two lanes: four
# clients sending big images filled every preprocessing slot and each drawing waited behind them.
LIGHT_PIXELS = 512 * 512
_lanes: tuple[anyio.CapacityLimiter, anyio.CapacityLimiter] | None = None


def _limiters() -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
    """(light, heavy): at most one image decoded and preprocessed per core at a time in the light
    lane, and per two cores in the heavy one (at least one each). Why a cap at all: 40 at once
    (anyio's default pool) are no faster on a few cores, and each thread keeps its own malloc
    arena of image buffers (measured: +47% server memory after 1,200 PNG requests at 64
    clients); the heavy lane's cap also bounds the memory of big decodes in flight."""
    global _lanes
    if _lanes is None:
        cores = max(1, os.cpu_count() or 1)
        _lanes = (anyio.CapacityLimiter(cores), anyio.CapacityLimiter(max(1, cores // 2)))
    return _lanes


def _decode_and_preprocess(item: Item, config: ServerConfig) -> np.ndarray | NoDigit:
    image = read_image(io.BytesIO(item.data or b""), name=item.name, max_pixels=config.max_pixels)
    return find_digit(image)


async def read_items(request: Request, config: ServerConfig, batch: bool) -> list[Item]:
    """The request's inputs, or HTTPException with a one-line reason (400/413/415/422)."""
    body = await _bounded_body(request, config.max_body_bytes)
    if not body:
        raise HTTPException(400, f"empty body: post an image (PNG, JPEG, ...), or {PIXELS_HINT}")
    kind = request.headers.get("content-type", "application/octet-stream").lower()
    if kind.startswith("application/json"):
        items = _json_items(body, batch)
    elif kind.startswith("multipart/form-data"):
        request._body = body  # starlette re-reads the cached body in form()
        items = await _form_items(request, config, batch)
    elif kind.startswith(IMAGE_TYPES):
        items = [Item("upload", data=body)]
    else:
        raise HTTPException(
            415,
            f"unsupported content type {kind!r}: send image/png, image/jpeg, multipart/form-data "
            "or application/json",
        )
    if len(items) > config.max_batch_items:
        raise HTTPException(
            413, f"{len(items)} inputs, over the limit of {config.max_batch_items}; send fewer"
        )
    return items


async def _bounded_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, _too_big(int(declared), limit))
    chunks, size = [], 0
    try:
        async for chunk in request.stream():  # a chunked body without a length is counted too
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, _too_big(size, limit))
            chunks.append(chunk)
    except ClientDisconnect:  # nobody to answer; without this, 60 lines of traceback in the log
        raise HTTPException(400, "the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _too_big(size: int, limit: int) -> str:
    return f"body of {size:,} bytes is over the limit of {limit:,} bytes; send a smaller image"


def _json_items(body: bytes, batch: bool) -> list[Item]:
    value = parse_json(body)
    if not isinstance(value, dict) or "pixels" not in value:
        raise HTTPException(422, f'JSON body needs a "pixels" field; {PIXELS_HINT}')
    pixels = pixels_array(value["pixels"], batch)
    if pixels.ndim == 2:
        return [Item("pixels", pixels=pixels)]
    return [Item(f"pixels[{i}]", pixels=p) for i, p in enumerate(pixels)]


def parse_json(body: bytes) -> Any:
    """orjson first: a 28x28 pixels body parses in ~0.05 ms instead of ~0.3 ms, a tenth of a
    request's server time. orjson refuses NaN/Infinity and explains less, so anything it
    refuses goes to the standard parser, which decides and gives the reason."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)  # accepts NaN / Infinity, which pixels_array refuses
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, f"body is not valid JSON ({_one_line(exc)}); {PIXELS_HINT}")


def pixels_array(value: Any, batch: bool) -> np.ndarray:
    """float32 [28, 28] (or [N, 28, 28] for a batch) in [0, 1], else HTTPException 422."""
    try:
        pixels = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):
        raise HTTPException(422, f"pixels must be nested lists of numbers; {PIXELS_HINT}")
    shapes = "[28, 28] or [N, 28, 28]" if batch else "[28, 28]"
    if pixels.shape[-2:] != (28, 28) or pixels.ndim not in ((2, 3) if batch else (2,)):
        raise HTTPException(422, f"pixels have shape {list(pixels.shape)}, expected {shapes}")
    if not np.isfinite(pixels).all():
        raise HTTPException(422, "pixels contain NaN or infinity; send finite values in [0, 1]")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 1):
        raise HTTPException(422, "pixels must lie in [0, 1] (ink high, like MNIST / 255)")
    return pixels


async def _form_items(request: Request, config: ServerConfig, batch: bool) -> list[Item]:
    try:
        form = await request.form(max_files=config.max_batch_items + 1, max_part_size=2**20)
    except Exception as exc:  # starlette raises its own MultiPartException / HTTPException
        if "too many files" in str(exc).lower():  # README promises 413 for too many inputs
            raise HTTPException(
                413,
                f"more than {config.max_batch_items} files, over the limit of "
                f"{config.max_batch_items}; send fewer",
            ) from None
        raise HTTPException(400, f"malformed multipart body ({_one_line(exc)})")
    files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise HTTPException(422, "multipart body has no file; send the image as a file field")
    if not batch and len(files) > 1:
        raise HTTPException(422, f"{len(files)} files sent; POST /predict/batch reads many")
    return [Item(f.filename or "upload", data=await f.read()) for f in files]


def model_info(backend: Backend) -> dict[str, Any]:
    """GET /model: what is served, its input contract, and the limits this server enforces."""
    from serving import number_http

    predictor, config = backend.predictor, backend.config
    session = predictor.session
    accuracy = predictor.metadata.get("test_accuracy")
    return {
        "model": predictor.model_path.name,
        "engine": backend.engine,
        "method": "ONNX Runtime (CPU) on the course's CNN; images preprocessed like MNIST "
        "(crop, 20x20 box, centre of mass at 14,14)",
        "test_accuracy": float(accuracy) if accuracy else None,
        "inputs": [_signature(arg) for arg in session.get_inputs()],
        "outputs": [_signature(arg) for arg in session.get_outputs()],
        "input_contract": "POST an image (PNG/JPEG/GIF/BMP/TIFF/WebP: raw body or multipart "
        f"file), or {PIXELS_HINT}",
        "metadata": predictor.metadata,
        "limits": {k: v for k, v in asdict(config).items() if k != "model"},
        "read_number": number_http.model_info(),
        "process_rss_bytes": process_rss_bytes(),
        **(backend.stats() if hasattr(backend, "stats") else {}),
    }


def _signature(arg: Any) -> dict[str, Any]:
    return {"name": arg.name, "type": arg.type, "shape": arg.shape}


def process_rss_bytes() -> int | None:
    """This process's resident memory (Linux /proc), for the load test's before/after."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


def _backend(request: Request) -> Backend:
    backend = request.app.state.backend
    if backend is None:
        raise HTTPException(503, "the model is still loading; retry in a moment")
    return backend


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _body_doc(batch: bool) -> dict[str, Any]:
    """Request bodies for the OpenAPI docs (the route reads the body itself)."""
    pixels = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    if batch:
        pixels = {"type": "array", "items": pixels}
    files = {"type": "array", "items": {"type": "string", "format": "binary"}}
    file_field = {"files": files} if batch else {"file": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {"schema": {"type": "object", "properties": file_field}},
                "application/json": {
                    "schema": {"type": "object", "properties": {"pixels": pixels}}
                },
            },
        }
    }
