"""POST /read-number on the embedded server (and on Ray Serve, slow): the CLI's record for the
same image, raw or multipart; bad bodies get a 4xx with one line; /model and the OpenAPI docs
list the route."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from serving.loadtest import spawn_server
from serving.number import number_record, read_number
from serving.predictor import Predictor

TIMING = ("seconds",)


@pytest.fixture(scope="module")
def server() -> str:
    with spawn_server(["--engine", "embedded", "--max-body-mb", "2"]) as url:
        yield url


@pytest.fixture(scope="module")
def number_png(mnist_test) -> tuple[bytes, np.ndarray]:
    """Three MNIST test digits side by side on a 560x280 canvas, as PNG bytes."""
    strip = np.hstack([np.pad(d, ((0, 0), (2, 2))) for d in mnist_test.images[:3]])
    canvas = np.zeros((280, 560), np.uint8)
    big = np.asarray(Image.fromarray(strip).resize((strip.shape[1] * 5, 140)))
    canvas[70:210, 20 : 20 + big.shape[1]] = big
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue(), canvas


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


def expected_record(canvas: np.ndarray, name: str) -> dict:
    return number_record(name, read_number(canvas, Predictor(intra_op_threads=1)))


def check_route(url: str, number_png, truth: str) -> None:
    body, canvas = number_png
    raw = httpx.post(f"{url}/read-number", content=body, headers={"content-type": "image/png"})
    assert raw.status_code == 200, raw.text
    assert _strip(raw.json()) == _strip(expected_record(canvas, "upload"))
    assert raw.json()["number"] == truth
    form = httpx.post(f"{url}/read-number", files={"file": ("n.png", body, "image/png")})
    assert form.status_code == 200 and form.json()["file"] == "n.png"
    assert form.json()["number"] == truth


def check_bad_bodies(url: str) -> None:
    pixels = {"pixels": np.zeros((28, 28)).tolist()}
    cases = [
        (httpx.post(f"{url}/read-number", json=pixels), 422, "not 28x28 pixels"),
        (
            httpx.post(
                f"{url}/read-number", content=b"nope", headers={"content-type": "image/png"}
            ),
            422,
            "not an image file",
        ),
        (httpx.post(f"{url}/read-number", content=b""), 400, "empty body"),
        (
            httpx.post(f"{url}/read-number", content=b"x", headers={"content-type": "text/csv"}),
            415,
            "unsupported content type",
        ),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        detail = response.json()["detail"]
        assert words in detail and "\n" not in detail


def test_read_number_matches_the_cli_record(server, number_png, mnist_test):
    check_route(server, number_png, "".join(str(d) for d in mnist_test.labels[:3]))


def test_an_empty_canvas_is_empty(server):
    buffer = io.BytesIO()
    Image.new("L", (560, 280)).save(buffer, format="PNG")
    response = httpx.post(
        f"{server}/read-number", content=buffer.getvalue(), headers={"content-type": "image/png"}
    )
    assert response.status_code == 200
    record = response.json()
    assert record["number"] is None and record["reason"] == "empty" and record["abstain"]


def test_bad_bodies_get_one_line_4xx(server):
    check_bad_bodies(server)
    too_big = httpx.post(
        f"{server}/read-number",
        content=b"\0" * (3 * 2**20),
        headers={"content-type": "image/png"},
    )
    assert too_big.status_code == 413 and "over the limit" in too_big.json()["detail"]


def test_model_and_openapi_list_the_route(server):
    info = httpx.get(f"{server}/model").json()["read_number"]
    assert info["route"] == "/read-number"
    assert info["record"] == ["file", "number", "digits", "abstain", "reason", "seconds"]
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    content = paths["/read-number"]["post"]["requestBody"]["content"]
    assert {"image/png", "multipart/form-data"} <= set(content)


@pytest.mark.slow
def test_ray_serve_reads_numbers_the_same_way(number_png, mnist_test):
    pytest.importorskip("ray.serve", reason="Ray Serve is not installed (CI installs it)")
    with spawn_server(["--engine", "ray"]) as url:
        check_route(url, number_png, "".join(str(d) for d in mnist_test.labels[:3]))
        check_bad_bodies(url)
        assert httpx.get(f"{url}/model").json()["read_number"]["route"] == "/read-number"


def test_number_bench_times_the_routes_side_by_side():
    from serving.number_bench import NumberBenchConfig, run_bench

    result = run_bench(NumberBenchConfig(requests=3, warmup=0))
    assert result["number_read"] == "2024"
    routes = result["routes"]
    assert list(routes) == [
        "read-number, 4-digit drawing",
        "predict, same drawing",
        "predict, 1-digit drawing",
    ]
    assert routes["predict, 1-digit drawing"]["vs_predict_1_digit"] == 1.0
    assert all(r["median_ms"] > 0 for r in routes.values())
