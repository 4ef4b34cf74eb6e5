"""The embedded HTTP server, for real: `python -m serving serve` on a free loopback port.

Real PNG/JPEG bodies are compared with the in-process predictor (the same record the CLI
prints), every kind of bad input gets its 4xx with one line, a client that hangs up mid-body
harms no one, and a bounded concurrent burst has no errors.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from serving.images import read_image
from serving.loadtest import LoadConfig, run_loadtest, spawn_server
from serving.predictor import Predictor, predict_image, predict_pixels
from serving.records import prediction_record

ROOT = Path(__file__).resolve().parents[2]
TIMING = ("seconds", "file")  # differ by design: wall time, and the upload's name


@pytest.fixture(scope="module")
def server() -> str:
    with spawn_server(["--engine", "embedded", "--max-body-mb", "2"]) as url:
        yield url


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(intra_op_threads=1)  # the server's session settings


@pytest.fixture(scope="module")
def images(tmp_path_factory, mnist_test) -> list[Path]:
    """Digits as people send them: a canvas export, ink on paper, a JPEG photo, raw MNIST."""
    folder = tmp_path_factory.mktemp("http-images")
    paths = [ROOT / "examples" / "digit_3.png"]
    for i in range(6):
        digit = mnist_test.images[i]
        paper = 250 - np.kron(digit, np.ones((6, 6), np.uint8)) * 0.9
        Image.fromarray(paper.astype(np.uint8)).save(folder / f"paper{i}.png")
        Image.fromarray(digit).save(folder / f"mnist{i}.png")
        paths += [folder / f"paper{i}.png", folder / f"mnist{i}.png"]
    photo = np.stack([255 - np.kron(mnist_test.images[7], np.ones((9, 9), np.uint8))] * 3, 2)
    Image.fromarray(photo).save(folder / "photo.jpg", quality=85)
    Image.new("L", (200, 200)).save(folder / "empty.png")  # no digit: digit null, still 200
    return [*paths, folder / "photo.jpg", folder / "empty.png"]


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


def test_png_bodies_match_the_in_process_predictor(server, predictor, images):
    digits = []
    for path in images:
        expected = prediction_record(str(path), predict_image(read_image(path), predictor))
        kind = "image/jpeg" if path.suffix == ".jpg" else "image/png"
        raw = httpx.post(
            f"{server}/predict", content=path.read_bytes(), headers={"content-type": kind}
        )
        upload = httpx.post(f"{server}/predict", files={"file": (path.name, path.read_bytes())})
        assert raw.status_code == upload.status_code == 200, raw.text
        assert _strip(raw.json()) == _strip(expected), path.name
        assert upload.json()["file"] == path.name
        assert _strip(upload.json()) == _strip(expected), path.name
        assert set(raw.json()) == set(expected)  # the CLI's record, no more, no less
        digits.append(raw.json()["digit"])
    assert digits[0] == 3 and digits[-1] is None
    assert sum(d is not None for d in digits) == len(images) - 1


def test_pixels_body_matches_predict_pixels(server, predictor, mnist_test):
    pixels = mnist_test.images[:20].astype(np.float32) / 255
    expected = predict_pixels(list(pixels), predictor)
    correct = 0
    for i in range(len(pixels)):
        body = {"pixels": pixels[i].tolist()}
        got = httpx.post(f"{server}/predict", json=body).json()
        want = prediction_record("pixels", expected[i])
        assert _strip(got) == _strip(want)
        correct += got["digit"] == mnist_test.labels[i]
    assert correct >= 19


def test_batch_endpoint_keeps_order_and_reports_bad_items(server, predictor, images):
    files = [("files", (p.name, p.read_bytes())) for p in images[:5]]
    files.insert(2, ("files", ("notes.txt", b"not an image")))
    response = httpx.post(f"{server}/predict/batch", files=files)
    assert response.status_code == 200
    records = response.json()
    assert [r["file"] for r in records] == [f[1][0] for f in files]
    assert (
        "PNG" in records[2]["error"]
        and "notes.txt" in records[2]["error"]
        and records[2]["digit"] is None
    )
    for path, record in zip(images[:5], records[:2] + records[3:], strict=True):
        expected = predict_image(read_image(path), predictor)
        assert record["digit"] == expected.digit
        np.testing.assert_allclose(record["probabilities"], expected.probabilities, atol=2e-6)

    pixels = np.random.default_rng(0).random((3, 28, 28)).round(3)
    records = httpx.post(f"{server}/predict/batch", json={"pixels": pixels.tolist()}).json()
    assert [r["file"] for r in records] == ["pixels[0]", "pixels[1]", "pixels[2]"]
    assert all(len(r["probabilities"]) == 10 for r in records)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _pixels_json(value: str) -> bytes:
    row = ", ".join(["0.5"] * 27 + [value])
    return ("{" + f'"pixels": [{", ".join([f"[{row}]"] * 28)}]' + "}").encode()


GOOD_PNG = (ROOT / "examples" / "digit_3.png").read_bytes()
BAD_INPUTS = {
    # name: (path, body, content type, status, words the one-line reason must contain)
    "empty body": ("/predict", b"", "image/png", 400, "empty body"),
    "not an image": ("/predict", b"hello there", "image/png", 422, "PNG"),
    "truncated png": ("/predict", GOOD_PNG[: len(GOOD_PNG) // 2], "image/png", 422, "upload"),
    "over the size limit": ("/predict", b"\0" * (2 * 2**20 + 1), "image/png", 413, "limit"),
    "decompression bomb": (
        "/predict",
        _png(Image.new("1", (10_000, 10_000))),
        "image/png",
        422,
        "10000x10000",
    ),
    "too small to be a drawing": (
        "/predict",
        _png(Image.new("L", (4, 4))),
        "image/png",
        422,
        "4x4",
    ),
    "invalid json": ("/predict", b'{"pixels": [', "application/json", 400, "not valid JSON"),
    "json without pixels": ("/predict", b'{"image": 1}', "application/json", 422, '"pixels"'),
    "wrong pixel shape": (
        "/predict",
        json.dumps({"pixels": np.zeros((28, 27)).tolist()}).encode(),
        "application/json",
        422,
        "shape [28, 27]",
    ),
    "pixels not numbers": (
        "/predict",
        json.dumps({"pixels": [["a"] * 28] * 28}).encode(),
        "application/json",
        422,
        "numbers",
    ),
    "nan pixel": ("/predict", _pixels_json("NaN"), "application/json", 422, "NaN"),
    "infinite pixel": ("/predict", _pixels_json("Infinity"), "application/json", 422, "infinity"),
    "pixel out of range": ("/predict", _pixels_json("255"), "application/json", 422, "[0, 1]"),
    "unsupported type": ("/predict", b"3", "text/plain", 415, "text/plain"),
    "batch over the item limit": (
        "/predict/batch",
        json.dumps({"pixels": np.zeros((257, 28, 28), np.uint8).tolist()}).encode(),
        "application/json",
        413,
        "257 inputs",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_its_4xx_with_one_line(server, case):
    path, body, kind, status, words = BAD_INPUTS[case]
    response = httpx.post(f"{server}{path}", content=body, headers={"content-type": kind})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert words in detail


def test_multipart_mistakes(server):
    two = [("file", ("a.png", GOOD_PNG)), ("file", ("b.png", GOOD_PNG))]
    response = httpx.post(f"{server}/predict", files=two)
    assert response.status_code == 422 and "/predict/batch" in response.json()["detail"]
    no_file = b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--b--\r\n'
    response = httpx.post(
        f"{server}/predict",
        content=no_file,
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 422 and "no file" in response.json()["detail"]


def test_health_model_and_docs(server, accuracy_bar):
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    info = httpx.get(f"{server}/model").json()
    claimed = float(Predictor().metadata["test_accuracy"])  # what the shipped file records
    assert info["engine"] == "embedded" and info["test_accuracy"] == pytest.approx(claimed)
    assert info["test_accuracy"] >= accuracy_bar  # README's published bar (tests/conftest.py)
    assert info["inputs"][0]["name"] == "pixels" and info["inputs"][0]["shape"][1:] == [1, 28, 28]
    assert info["limits"]["max_body_bytes"] == 2 * 2**20
    assert info["process_rss_bytes"] > 10 * 2**20
    schema = httpx.get(f"{server}/openapi.json").json()
    assert {"/predict", "/predict/batch", "/healthz", "/model"} <= set(schema["paths"])
    assert httpx.get(f"{server}/docs").status_code == 200


def test_clients_that_hang_up_mid_body_harm_no_one(server):
    host, port = server.removeprefix("http://").split(":")
    for _ in range(20):
        with socket.create_connection((host, int(port))) as s:
            s.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                b"Content-Length: 100000\r\n\r\n" + GOOD_PNG[:500]
            )  # then closes, 99.5 KB short
    response = httpx.post(
        f"{server}/predict", content=GOOD_PNG, headers={"content-type": "image/png"}
    )
    assert response.status_code == 200 and response.json()["digit"] == 3


def test_concurrent_burst_has_no_errors(server):
    config = LoadConfig(url=server, concurrency=(32,), requests=400, max_seconds=60)
    result = run_loadtest(config)
    level = result["levels"][0]
    assert level["errors"] == 0, level["first_error"]
    assert level["ok"] == 400 and not level["stopped_by_time_limit"]
    png = run_loadtest(LoadConfig(url=server, concurrency=(8,), requests=80, body="png"))
    assert png["levels"][0]["errors"] == 0


def test_serve_with_a_bad_model_says_so_in_one_line(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not onnx")
    run = subprocess.run(
        [sys.executable, "-m", "serving", "serve", "--model", str(bad), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and "not a readable ONNX model" in run.stderr
    assert "Traceback" not in run.stderr


def test_remote_predictor_reads_like_the_in_process_path(server, predictor, mnist_test):
    from serving.client import RemotePredictor, ServerError

    remote = RemotePredictor(server)
    assert remote.info()["engine"] == "embedded"
    for digit in mnist_test.images[:5]:
        gray = np.kron(digit, np.ones((10, 10), np.uint8))
        canvas = np.dstack([gray, gray, gray, np.full_like(gray, 255)])  # RGBA, like the canvas
        expected, got = predict_image(canvas, predictor), remote.predict_image(canvas)
        assert got.digit == expected.digit and got.pixels is None and got.seconds > 0
        np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=2e-6)
    with pytest.raises(ServerError, match="HTTP 422"):
        remote.predict_image(np.zeros((4, 4), np.uint8))
    with pytest.raises(ServerError, match="unreachable"):
        RemotePredictor("http://127.0.0.1:9").predict_image(canvas)
    with pytest.raises(ServerError, match="not a server URL"):
        RemotePredictor("localhost8000")


def _canvas_value(gray: np.ndarray) -> dict:
    """What the drawable canvas sends the page: white-on-black RGBA as a PNG data URL."""
    import base64

    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    url = "data:image/png;base64," + base64.b64encode(_png(Image.fromarray(rgba))).decode()
    drawing = {"raw": {"objects": [{"type": "path"}], "background": "#000000"}, "data": url}
    return {"drawing": drawing, "backgroundFit": None}


@pytest.mark.slow
def test_app_sends_drawings_to_the_server_named_in_the_environment(server, monkeypatch):
    from PIL import ImageDraw
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DIGIT_SERVER_URL", server)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.sidebar.text_input  # the URL is the operator's, not a visitor's (issue 19)
    assert any(server in c.value for c in at.sidebar.caption)
    stroke = Image.new("L", (280, 280))
    ImageDraw.Draw(stroke).line([(140, 50), (140, 230)], fill=255, width=20)
    at.session_state[f"canvas-{at.session_state['canvas_version']}"] = _canvas_value(
        np.asarray(stroke)
    )
    at.run()
    assert not at.exception and not at.error, at.error
    assert [h.value for h in at.subheader if h.value.startswith("Prediction")] == ["Prediction: 1"]
    assert not [im for im in at.image if "What the model saw" in (im.captions or [""])[0]]


def test_ctrl_c_stops_the_server_cleanly():
    import signal

    from serving.loadtest import free_port, wait_until_ready

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "serving", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, timeout_s=120)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert f"on http://127.0.0.1:{port}" in out and "Traceback" not in err


def test_healthz_is_503_until_the_model_is_loaded():
    import asyncio

    from serving.http_app import LocalBackend, ServerConfig, create_app

    async def ask(app) -> tuple[int, int, dict]:
        transport = httpx.ASGITransport(app=app)  # in-process: no lifespan, so nothing loads
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            health = await client.get("/healthz")
            answer = await client.post(
                "/predict", content=GOOD_PNG, headers={"content-type": "image/png"}
            )
            return health.status_code, answer.status_code, answer.json()

    health, status, answer = asyncio.run(ask(create_app(ServerConfig())))
    assert health == 503 and status == 503 and "loading" in answer["detail"]
    health, status, answer = asyncio.run(ask(create_app(backend=LocalBackend(ServerConfig()))))
    assert health == 200 and status == 200 and answer["digit"] == 3


def test_server_config_refuses_nonsense():
    from serving.http_app import ServerConfig

    for field in ("threads", "max_body_bytes", "max_pixels", "max_batch_items", "top_k"):
        with pytest.raises(ValueError, match=field):
            ServerConfig(**{field: 0})


# Every limit probed on both sides: N accepted and N + 1 refused (in-process, the real app and
# model through starlette's TestClient; small limits where the default's N would be slow).


def _client(**limits):
    from fastapi.testclient import TestClient

    from serving.http_app import LocalBackend, ServerConfig, create_app

    app = create_app(backend=LocalBackend(ServerConfig(**limits)))
    return TestClient(app, raise_server_exceptions=False)  # a crash shows as its 500


@pytest.fixture(scope="module")
def default_client():
    return _client()


def _pixels_body(pixels: np.ndarray, size: int | None = None) -> bytes:
    """JSON {"pixels": ...}, padded with trailing whitespace (valid JSON) to ``size`` bytes."""
    body = json.dumps({"pixels": pixels.tolist()}).encode()
    return body if size is None else body + b" " * (size - len(body))


def test_batch_of_256_items_is_read_and_257_refused(default_client):
    pixels = np.zeros((257, 28, 28), np.float32)
    pixels[:, 4:24, 12:16] = 1  # a "1" in every item
    ok = default_client.post("/predict/batch", json={"pixels": pixels[:256].tolist()})
    assert ok.status_code == 200, ok.text
    assert len(ok.json()) == 256 and ok.json()[-1]["file"] == "pixels[255]"
    over = default_client.post("/predict/batch", json={"pixels": pixels.tolist()})
    assert over.status_code == 413 and "257 inputs, over the limit of 256" in over.json()["detail"]


def test_multipart_file_count_at_and_over_the_limit():
    client = _client(max_batch_items=3)
    files = [("files", (f"{i}.png", GOOD_PNG)) for i in range(5)]
    ok = client.post("/predict/batch", files=files[:3])
    assert ok.status_code == 200 and [r["digit"] for r in ok.json()] == [3, 3, 3]
    over = client.post("/predict/batch", files=files[:4])
    assert over.status_code == 413 and "4 inputs, over the limit of 3" in over.json()["detail"]
    # Further over, the multipart parser itself stops reading (starlette's max_files).
    far = client.post("/predict/batch", files=files)
    assert far.status_code in (400, 413) and "\n" not in far.json()["detail"], far.text


def test_body_of_exactly_the_limit_is_read_and_one_byte_more_refused():
    limit = 20_000
    client = _client(max_body_bytes=limit)
    pixels = np.zeros((28, 28))
    pixels[4:24, 12:16] = 1
    for send in (lambda b: b, lambda b: iter([b[: len(b) // 2], b[len(b) // 2 :]])):
        # with a Content-Length, and chunked (no length: the server counts as it reads)
        ok = client.post(
            "/predict",
            content=send(_pixels_body(pixels, limit)),
            headers={"content-type": "application/json"},
        )
        assert ok.status_code == 200 and ok.json()["digit"] == 1, ok.text
        over = client.post(
            "/predict",
            content=send(_pixels_body(pixels, limit + 1)),
            headers={"content-type": "application/json"},
        )
        assert over.status_code == 413
        assert "over the limit of 20,000 bytes" in over.json()["detail"]
    # The declared length alone decides, before any byte is read (a client announcing a huge
    # upload is answered at once): a 2-byte body declared as N + 1 bytes is refused, as N not.
    json_type = {"content-type": "application/json"}
    declared = client.post(
        "/predict", content=b"{}", headers={**json_type, "content-length": "20001"}
    )
    assert declared.status_code == 413 and "body of 20,001 bytes" in declared.json()["detail"]
    declared = client.post(
        "/predict", content=b"{}", headers={**json_type, "content-length": "20000"}
    )
    assert declared.status_code == 422 and '"pixels" field' in declared.json()["detail"]


def test_spawned_server_reads_max_body_mb_as_mebibytes(server):
    """`--max-body-mb 2` is 2 * 2**20 bytes: that many are read, one more refused."""
    pixels = np.zeros((28, 28))
    for size, status in ((2 * 2**20, 200), (2 * 2**20 + 1, 413)):
        response = httpx.post(
            f"{server}/predict",
            content=_pixels_body(pixels, size),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == status, (size, response.text[:200])


def test_megapixels_at_and_over_the_limit():
    client = _client(max_pixels=10_000)
    for (w, h), status in (((100, 100), 200), ((137, 73), 422), ((10_001, 1), 422)):
        image = Image.new("L", (w, h))  # 10,000 pixels; 10,001 (137 x 73), as a line too
        image.paste(255, (w // 2 - 1, 0, w // 2 + 1, h))
        response = client.post(
            "/predict", content=_png(image), headers={"content-type": "image/png"}
        )
        assert response.status_code == status, ((w, h), response.text)
        if status == 422:
            assert f"{w}x{h} pixels; the limit is 0.01 megapixels" in response.json()["detail"]
    info = _client().get("/model").json()
    assert info["limits"]["max_pixels"] == 40_000_000  # the default: 40 megapixels


def test_image_sides_at_and_over_the_preprocessing_bounds(default_client):
    """Sides from 8 to 10,000 pixels are read; 7 and 10,001 are refused with the reason."""
    for (w, h), status in (((8, 8), 200), ((7, 8), 422), ((10_000, 8), 200), ((10_001, 8), 422)):
        image = Image.new("L", (w, h))
        image.paste(255, (w // 2 - 1, 0, w // 2 + 1, h))
        response = default_client.post(
            "/predict", content=_png(image), headers={"content-type": "image/png"}
        )
        assert response.status_code == status, ((w, h), response.text)
        if status == 422:
            assert f"image is {h}x{w}; sides must lie between 8 and 10000" in response.text


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.0, 200), (1.0, 200), (-0.01, 422), (-1.0, 422), (1.01, 422), (255.0, 422)],
)
def test_pixel_values_on_both_sides_of_0_and_1(default_client, value, status):
    """In [0, 1] is read; below 0 or above 1 is a 422 with the reason, never a 500."""
    pixels = np.zeros((28, 28))
    pixels[4:24, 12:16] = 1
    pixels[0, 0] = value
    response = default_client.post("/predict", json={"pixels": pixels.tolist()})
    assert response.status_code == status, response.text
    if status == 422:
        assert "pixels must lie in [0, 1]" in response.json()["detail"]
    else:
        assert response.json()["digit"] == 1
    batch = default_client.post("/predict/batch", json={"pixels": [pixels.tolist()] * 2})
    assert batch.status_code == status, batch.text


@pytest.mark.parametrize(
    ("path", "shape", "status"),
    [
        ("/predict", (28, 28), 200),
        ("/predict", (28, 27), 422),
        ("/predict", (27, 28), 422),
        ("/predict", (29, 28), 422),
        ("/predict", (28, 29), 422),
        ("/predict", (1, 28, 28), 422),  # a batch sent to the one-digit endpoint
        ("/predict/batch", (28, 28), 200),
        ("/predict/batch", (1, 28, 28), 200),
        ("/predict/batch", (2, 28, 27), 422),
        ("/predict/batch", (2, 27, 28), 422),
        ("/predict/batch", (1, 1, 28, 28), 422),
    ],
)
def test_pixel_shapes_on_both_sides(default_client, path, shape, status):
    response = default_client.post(path, json={"pixels": np.zeros(shape).tolist()})
    assert response.status_code == status, response.text
    if status == 422:
        assert f"pixels have shape {list(shape)}" in response.json()["detail"]


def test_top_k_from_1_to_10():
    from serving.http_app import ServerConfig

    for k in (1, 10):
        assert ServerConfig(top_k=k).top_k == k
    for k in (0, 11):
        with pytest.raises(ValueError, match="top_k"):
            ServerConfig(top_k=k)
