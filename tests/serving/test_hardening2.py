"""Hardening round 2 (issue 19), the serving side: small hostile images cost what a drawing
costs, big ones are decoded at reduced size, float TIFFs are read right, hostile models are
refused at load or fail in one line, and every output that is an input is refused."""

from __future__ import annotations

import io
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageDraw

from serving import preprocess
from serving.images import DECODE_SIDE, ImageReadError, read_image
from serving.preprocess import DEFAULT, to_mnist

ROOT = Path(__file__).resolve().parents[2]
MAP_MODEL = ROOT / "models" / "mnist_cnn.onnx"


def _png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def hairline_page() -> bytes:
    """3 KB: a 1-pixel line on a 1024-pixel white page (took 5 s of CPU to preprocess)."""
    page = Image.new("L", (1024, 1024), 255)
    ImageDraw.Draw(page).line([(100, 512), (924, 512)], fill=0, width=1)
    return _png(page, optimize=True)


def binary_noise() -> bytes:
    """132 KB of 1-bit noise on 1024x1024 (took a minute)."""
    noise = np.random.default_rng(0).random((1024, 1024)) > 0.5
    return _png(Image.fromarray(noise), optimize=True)


@pytest.fixture
def pen_work(monkeypatch) -> list[int]:
    """Operations of every pen adjustment (grey dilation/erosion) to_mnist runs."""
    calls: list[int] = []
    for name in ("grey_dilation", "grey_erosion"):
        real = getattr(preprocess.ndimage, name)

        def spy(x, *args, _real=real, footprint=None, **kwargs):
            calls.append(int(np.size(x)) * int(np.sum(footprint)))
            return _real(x, *args, footprint=footprint, **kwargs)

        monkeypatch.setattr(preprocess.ndimage, name, spy)
    return calls


@pytest.mark.parametrize("make", [hairline_page, binary_noise])
def test_hostile_small_images_cost_what_a_drawing_costs(make, pen_work):
    """The work is bounded by the output: the old code ran a 1024-pixel crop through a disk of
    radius 41 (400 million operations) for the hairline, 8 billion for the noise."""
    pixels = to_mnist(read_image(io.BytesIO(make())))
    assert pixels is None or pixels.shape == (28, 28)
    assert pen_work and max(pen_work) <= DEFAULT.max_pen_work, pen_work


def test_drawings_keep_their_pen_adjustment_unreduced(pen_work):
    """A fine pen on the canvas (the costliest normal case) stays under the budget, unreduced."""
    canvas = Image.new("L", (280, 280))
    ImageDraw.Draw(canvas).line([(140, 40), (140, 240)], fill=255, width=5)
    ImageDraw.Draw(canvas).line([(100, 80), (140, 40)], fill=255, width=5)
    assert to_mnist(np.asarray(canvas)) is not None
    assert pen_work and max(pen_work) < DEFAULT.max_pen_work / 4


def _big_16_bit_png() -> bytes:
    page = Image.new("I;16", (4000, 4000), 65535)
    ImageDraw.Draw(page).line([(2000, 800), (2000, 3200)], fill=0, width=200)
    return _png(page)


def test_a_big_16_bit_png_is_decoded_at_reduced_size():
    """The old failure: a 76 KB 39-megapixel 16-bit PNG peaked at 851 MB (float64 copies of
    every pixel). Measured here by numpy's allocations: 214 MB before, 56 MB after for 16 MP."""
    data = _big_16_bit_png()
    tracemalloc.start()
    try:
        image = read_image(io.BytesIO(data))
        pixels = to_mnist(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert image.dtype == np.uint16 and image.shape == (DECODE_SIDE, DECODE_SIDE)
    assert pixels is not None and pixels.shape == (28, 28)
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MB"
    full = read_image(io.BytesIO(data), max_side=None)
    assert full.shape == (4000, 4000)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_reduced_photo_is_still_turned_upright(fmt: str):
    """Reduced before EXIF orientation is applied (a transposed 40 MP copy costs 160 MB)."""
    photo = Image.new("L", (3000, 1000), 255)
    ImageDraw.Draw(photo).rectangle([0, 0, 300, 999], fill=0)  # dark band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    buffer = io.BytesIO()
    photo.save(buffer, format=fmt, exif=exif.tobytes())
    upright = read_image(io.BytesIO(buffer.getvalue()))
    assert max(upright.shape) <= DECODE_SIDE and upright.shape[0] > upright.shape[1]
    assert upright[:50].mean() < 60 and upright[-50:].mean() > 200  # the band is now on top
    small = read_image(io.BytesIO(buffer.getvalue()), max_side=None)
    assert small.shape == (3000, 1000)


def _digit_one(size: int = 280) -> np.ndarray:
    canvas = Image.new("L", (size, size))
    ImageDraw.Draw(canvas).line([(size // 2, 40), (size // 2, size - 40)], fill=255, width=20)
    return np.asarray(canvas)


def _tiff(pixels: np.ndarray) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="TIFF")
    buffer.seek(0)
    return buffer


def test_a_float_tiff_in_0_1_is_read_as_it_is():
    """The old failure: PIL's RGB conversion clipped 0..1 floats to black: "no digit"."""
    drawing = _digit_one()
    image = read_image(_tiff(drawing.astype(np.float32) / 255), name="scan.tif")
    assert image.dtype == np.float32 and image.max() == 1.0
    np.testing.assert_allclose(to_mnist(image), to_mnist(drawing), atol=1e-6)


@pytest.mark.parametrize("scale", [255.0, -1.0])
def test_a_float_tiff_outside_0_1_is_refused_in_one_line(scale: float):
    with pytest.raises(ImageReadError, match=r"scan.tif: float gray image with values in .*0\.\.1"):
        read_image(_tiff(_digit_one().astype(np.float32) * scale), name="scan.tif")


# ---- hostile models: refused at load, or one line when they fail at run time ---------------


def _io():
    x = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 1, 28, 28])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])
    return x, y


def _logits_nodes(extra: str):
    # logits = Flatten(pixels)[:, :10] + extra (a scalar)
    return [
        helper.make_node("Flatten", ["pixels"], ["flat"]),
        helper.make_node("Slice", ["flat", "start", "stop", "axis"], ["first10"]),
        helper.make_node("Add", ["first10", extra], ["logits"]),
    ]


def _inits(**more):
    base = {
        "start": np.array([0], np.int64),
        "stop": np.array([10], np.int64),
        "axis": np.array([1], np.int64),
    }
    base.update(more)
    return [numpy_helper.from_array(v, k) for k, v in base.items()]


def _save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def loop_model(path, steps=10**15):
    body = helper.make_graph(
        [
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, []),
        ],
        [numpy_helper.from_array(np.array(0.0, np.float32), "one")],
    )
    x, y = _io()
    nodes = [
        helper.make_node("Loop", ["trips", "cond", "zero"], ["acc"], body=body),
        *_logits_nodes("acc"),
    ]
    inits = _inits(
        trips=np.array(steps, np.int64), cond=np.array(True), zero=np.array(0.0, np.float32)
    )
    return _save(helper.make_graph(nodes, "g", [x], [y], inits), path)


def huge_memory_model(path, shape=(20000, 20000, 100)):
    x, y = _io()
    nodes = [
        helper.make_node(
            "ConstantOfShape",
            ["shape"],
            ["big"],
            value=numpy_helper.from_array(np.array([1.0], np.float32)),
        ),
        helper.make_node("ReduceMax", ["big"], ["peak"], keepdims=0),
        *_logits_nodes("peak"),
    ]
    inits = _inits(shape=np.array(shape, np.int64))
    return _save(helper.make_graph(nodes, "g", [x], [y], inits), path)


def batch_bomb_model(path):
    """Fine for one image, asks for N x 10^11 floats for a batch of N > 1: passes the test run."""
    x, y = _io()
    nodes = [
        helper.make_node("Shape", ["pixels"], ["pshape"]),
        helper.make_node("Slice", ["pshape", "start", "one_i", "axis0"], ["n"]),
        helper.make_node("Sub", ["n", "one_i"], ["nm1"]),
        helper.make_node("Mul", ["nm1", "huge"], ["count"]),
        helper.make_node("Add", ["count", "one_i"], ["count1"]),
        helper.make_node(
            "ConstantOfShape",
            ["count1"],
            ["big"],
            value=numpy_helper.from_array(np.array([1.0], np.float32)),
        ),
        helper.make_node("ReduceMax", ["big"], ["peak"], keepdims=0),
        *_logits_nodes("peak"),
    ]
    inits = _inits(
        one_i=np.array([1], np.int64),
        axis0=np.array([0], np.int64),
        huge=np.array([40 * 10**9], np.int64),
    )
    return _save(helper.make_graph(nodes, "g", [x], [y], inits), path)


@pytest.mark.parametrize(
    "make, reason",
    [
        (loop_model, "holds Loop operators, which can run without end"),
        (huge_memory_model, "failed a test run on one image .it asked for 160 GB of memory"),
    ],
)
def test_a_model_that_hangs_or_asks_for_160_gb_is_refused_at_load(tmp_path, make, reason):
    """The old failures: a Loop of 10^15 steps hung `serving predict` forever; 160 GB at run
    time gave a 22-27-line traceback in serve, evaluate, quantize, bench and robustness."""
    from serving.session import ModelError, open_session

    path = make(tmp_path / "hostile.onnx")
    with pytest.raises(ModelError, match=reason):
        open_session(path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "serving",
            "predict",
            str(ROOT / "examples" / "digit_3.png"),
            "--model",
            str(path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and done.stderr.count("\n") == 1, done.stderr
    assert "hostile.onnx" in done.stderr and "onnxruntime" not in done.stderr.split("(")[0]


def test_the_time_limit_stops_a_model_the_operator_check_misses(tmp_path, monkeypatch):
    """Second line of defence: a slow graph is stopped by the test run's time limit."""
    from serving import session

    monkeypatch.setattr(session, "UNBOUNDED_OPS", frozenset())
    monkeypatch.setattr(session, "TEST_RUN_LIMIT_S", 0.5)
    with pytest.raises(session.ModelRunError, match=r"no answer within 0.5 s"):
        session.open_session(loop_model(tmp_path / "slow.onnx", steps=10**12))


def test_a_model_that_fails_only_on_batches_fails_in_one_line(tmp_path, mnist_test):
    """Passes the one-image test run, asks for 40 GB per extra image: evaluate, bench,
    robustness, quantize and the HTTP server get a ModelRunError line, not a traceback."""
    from serving.predictor import Predictor
    from serving.session import ModelRunError

    path = batch_bomb_model(tmp_path / "batch.onnx")
    predictor = Predictor(path)
    assert predictor.predict(mnist_test.images[:1]).logits.shape == (1, 10)
    with pytest.raises(ModelRunError, match=r"batch.onnx failed while running .it asked for"):
        predictor.predict(mnist_test.images[:4])
    done = subprocess.run(
        [sys.executable, "-m", "cnn", "evaluate", "--model", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "it asked for" in done.stderr and "[E:onnxruntime" not in done.stderr


# ---- HTTP: limits as README promises them, one line, no traceback --------------------------
GOOD_PNG = (ROOT / "examples" / "digit_3.png").read_bytes()


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from serving.http_app import LocalBackend, ServerConfig, create_app

    backend = LocalBackend(ServerConfig(model=MAP_MODEL))
    return TestClient(create_app(backend=backend), raise_server_exceptions=False)


def test_300_multipart_files_get_413_as_readme_promises(client):
    """The old failure: starlette's own max_files refusal came back as 400."""
    files = [("files", (f"{i}.png", GOOD_PNG)) for i in range(300)]
    reply = client.post("/predict/batch", files=files)
    assert reply.status_code == 413, reply.text
    assert reply.json()["detail"] == "more than 256 files, over the limit of 256; send fewer"


@pytest.mark.parametrize("value", [0.0, 1.0, 0.5])
def test_uniform_json_pixels_are_no_digit(client, value: float):
    """The old failure: all-ones pixels read as "2" at 88%. All one value is no digit, as a
    uniform image file is (digit null)."""
    reply = client.post("/predict", json={"pixels": np.full((28, 28), value).tolist()})
    assert reply.status_code == 200 and reply.json()["digit"] is None, reply.text
    one = np.zeros((28, 28))
    one[4:24, 12:16] = 1
    assert client.post("/predict", json={"pixels": one.tolist()}).json()["digit"] == 1


def test_a_client_that_disconnects_mid_body_is_one_line():
    """The old failure: ClientDisconnect escaped as 60 lines of traceback in the server log."""
    import anyio
    from fastapi import HTTPException
    from starlette.requests import Request

    from serving.http_app import _bounded_body

    messages = iter(
        [{"type": "http.request", "body": b'{"pix', "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> dict:
        return next(messages)

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(HTTPException) as refused:
        anyio.run(_bounded_body, request, 10_000)
    assert refused.value.status_code == 400 and "disconnected" in refused.value.detail


@pytest.fixture(scope="module")
def bare_client():
    from fastapi.testclient import TestClient

    from serving.loadtest import bare_app

    return TestClient(bare_app(MAP_MODEL), raise_server_exceptions=False)


@pytest.mark.parametrize(
    "body, kind, status, detail",
    [
        (b'{"pixels": [[NaN]]}', "application/json", 422, "shape [1, 1]"),
        ("nan", "application/json", 422, "NaN or infinity"),
        ("five", "application/json", 422, "must lie in [0, 1]"),
        (b'{"pixels": [[0.5, 0.5]]}', "application/json", 422, "expected [28, 28]"),
        (GOOD_PNG, "image/png", 400, "not valid JSON"),
        (b"{}", "application/json", 422, '"pixels" field'),
    ],
)
def test_the_bare_engine_validates_like_the_embedded_one(bare_client, body, kind, status, detail):
    """The old failure: 500 with a traceback for NaN, a wrong shape or a PNG; 5.0 accepted."""
    if body == "nan":
        body = b'{"pixels": [' + b",".join([b"[" + b",".join([b"NaN"] * 28) + b"]"] * 28) + b"]}"
    elif body == "five":
        body = orjson_body(np.full((28, 28), 5.0))
    reply = bare_client.post("/predict", content=body, headers={"content-type": kind})
    assert reply.status_code == status and detail in reply.json()["detail"], reply.text
    one = np.zeros((28, 28))
    one[4:24, 12:16] = 1
    assert bare_client.post("/predict", content=orjson_body(one)).json()["digit"] == 1


def orjson_body(pixels: np.ndarray) -> bytes:
    import json

    return json.dumps({"pixels": pixels.tolist()}).encode()


# ---- loadtest: loopback means every address of the name --------------------------------------


def test_loadtest_resolves_the_name_and_checks_every_address(monkeypatch):
    """The old failure: any name starting with "127." passed (127.attacker.example)."""
    import socket

    from serving import loadtest

    real = socket.getaddrinfo
    fake = {
        "127.attacker.example": ["203.0.113.5"],
        "both.example": ["127.0.0.1", "198.51.100.7"],
        "loop.example": ["127.0.0.1", "::1"],
    }

    def resolve(host, *args, **kwargs):
        if host in fake:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in fake[host]]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(loadtest.socket, "getaddrinfo", resolve)
    for url in ("http://127.attacker.example:8000", "http://both.example", "http://10.1.2.3"):
        with pytest.raises(ValueError, match="not on this machine"):
            loadtest.LoadConfig(url=url)
    for url in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        loadtest.LoadConfig(url=url)
    loadtest.LoadConfig(url="http://loop.example:8000")
    with pytest.raises(ValueError, match="cannot resolve"):
        loadtest.LoadConfig(url="http://no-such-host.invalid")


# ---- the app: the digit server is the operator's choice; remote replies are never shown -----


@pytest.fixture
def secret_service():
    """A real HTTP service that answers every request with its internals (500, or 404)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Leaky(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            status = 404 if self.path.startswith("/model") else 500
            body = b"INTERNAL-SECRET: db password hunter2"
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Leaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_remote_reply_is_never_shown(secret_service):
    """The old failure: "HTTP 500: INTERNAL-SECRET..." (the first 200 characters of any reply)."""
    from serving.client import RemotePredictor, ServerError

    remote = RemotePredictor(secret_service)
    for call in (remote.info, lambda: remote.predict_image(np.zeros((28, 28), np.uint8))):
        with pytest.raises(ServerError) as refused:
            call()
        assert "SECRET" not in str(refused.value) and "HTTP " in str(refused.value)


@pytest.mark.slow
def test_the_app_has_no_server_field_for_visitors(monkeypatch):
    """The old failure: a sidebar field let any visitor point the app's server at any URL."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.delenv("DIGIT_SERVER_URL", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.sidebar.text_input
    assert not [c for c in at.sidebar.caption if "read by the server" in c.value]


def test_big_images_take_the_heavy_lane_drawings_the_light_one():
    """Drawings never queue behind big images: the lane is chosen from the header alone."""
    from serving.http_app import LIGHT_PIXELS
    from serving.images import header_pixels

    assert header_pixels(hairline_page()) == 1024 * 1024 > LIGHT_PIXELS
    assert 0 < header_pixels(GOOD_PNG) <= LIGHT_PIXELS
    canvas = _png(Image.new("RGBA", (280, 280)))
    assert header_pixels(canvas) == 280 * 280 <= LIGHT_PIXELS
    assert header_pixels(b"not an image") == 0


# ---- the CLI: bad numbers are argparse's one line, not a wrong answer or a traceback ---------


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--threads", "0"], "argument --threads: must be >= 1, got 0"),
        (["--top-k", "0"], "argument --top-k: must be >= 1, got 0"),
        (["--top-k", "-3"], "argument --top-k: must be >= 1, got -3"),
        (["--top-k", "11"], "argument --top-k: there are 10 digits"),
        (["--max-megapixels", "nan"], "argument --max-megapixels: must be a finite number > 0"),
    ],
)
def test_predict_refuses_bad_numbers_in_one_line(flags, says, capsys):
    """The old failures: --threads 0 blamed the model file, --top-k 0 and -3 were accepted,
    --max-megapixels nan said "cannot convert float NaN to integer"."""
    from serving.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(ROOT / "examples" / "digit_3.png"), *flags])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and says in err and "Traceback" not in err, err


@pytest.mark.slow
def test_the_hostile_benchmark_runs_end_to_end():
    """`python -m serving loadtest --hostile N`, shrunk: every hostile image gets an answer line
    from `serving predict`, and the drawing's requests all succeed beside a hostile client."""
    from serving.hostile import HOSTILE_NAMES, format_report, run_hostile

    result = run_hostile(None, clients=1, requests=5, serve_args=[], repeats=1)
    outputs = {row["image"]: row["output"] for row in result["predict"]}
    for name in HOSTILE_NAMES:
        assert outputs[name].startswith(name) and "error" not in outputs[name], outputs
    assert result["http"]["drawing_errors"] == 0 and result["http"]["hostile_requests"] >= 1
    assert "p99 under attack / quiet" in format_report(result)


# ---- export-triton: outputs that are inputs, --out a file -----------------------------------


def test_export_triton_refuses_to_copy_a_model_onto_itself(tmp_path: Path):
    """The old failure: shutil.SameFileError's traceback when --model was the destination."""
    from serving.triton import TritonConfig, export_triton

    config = TritonConfig(model=MAP_MODEL, out=tmp_path / "repo", kind="KIND_CPU")
    placed = export_triton(config) / "1" / "model.onnx"
    (tmp_path / "link.onnx").symlink_to(placed)
    for model in (
        placed,
        tmp_path / "link.onnx",
        tmp_path / "repo" / ".." / "repo" / "digits" / "1" / "model.onnx",
    ):
        with pytest.raises(ValueError, match="would destroy the input"):
            export_triton(TritonConfig(model=model, out=tmp_path / "repo", kind="KIND_CPU"))
    assert placed.read_bytes() == MAP_MODEL.read_bytes()


def test_export_triton_out_an_existing_file_is_one_line(tmp_path: Path):
    """The old failure: NotADirectoryError's traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "serving",
            "export-triton",
            "--out",
            str(blocker),
            "--model",
            str(MAP_MODEL),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"{blocker} is a file, not a folder" in done.stderr
    assert blocker.read_text() == "x"
