"""The same app on Ray Serve: `python -m serving serve --engine ray` on a free loopback port.

One local Ray for the whole module (it takes ~20 s to start on 2 cores): PNG bodies equal the
in-process predictor, bad input gets the same 4xx, a burst has no errors, @serve.batch really
batches past Serve's default cap of 5, and the committed Serve config matches the code.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

pytest.importorskip(
    "ray.serve", reason="Ray Serve is not installed: pip install -e '.[ray]' (CI installs it)"
)

from serving.images import read_image  # noqa: E402
from serving.loadtest import LoadConfig, run_loadtest, spawn_server  # noqa: E402
from serving.predictor import Predictor, predict_image  # noqa: E402
from serving.preprocess import BLOT  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MAX_BATCH = 16
ROW = "[" + ", ".join(["NaN"] + ["0"] * 27) + "]"
NAN_PIXELS = ('{"pixels": [' + ", ".join([ROW] * 28) + "]}").encode()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_server() -> str:
    args = ["--engine", "ray", "--max-batch-size", str(MAX_BATCH), "--batch-wait-ms", "20"]
    with spawn_server(args) as url:
        yield url


@pytest.fixture(scope="module")
def images(tmp_path_factory, mnist_test) -> list[Path]:
    folder = tmp_path_factory.mktemp("ray-images")
    paths = [ROOT / "examples" / "digit_3.png"]
    for i in range(5):
        paper = 250 - np.kron(mnist_test.images[i], np.ones((5, 5), np.uint8)) * 0.9
        Image.fromarray(paper.astype(np.uint8)).save(folder / f"paper{i}.png")
        paths.append(folder / f"paper{i}.png")
    return paths


def test_png_bodies_match_the_in_process_predictor(ray_server, images):
    predictor = Predictor(intra_op_threads=1)
    for path in images:
        expected = predict_image(read_image(path), predictor)
        response = httpx.post(
            f"{ray_server}/predict",
            content=path.read_bytes(),
            headers={"content-type": "image/png"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["digit"] == expected.digit, path.name
        # A batched run may sum in another order than a single one: equal to float precision.
        np.testing.assert_allclose(record["probabilities"], expected.probabilities, atol=2e-6)


def test_a_blot_gets_its_reason_through_the_batcher(ray_server, blot, tmp_path):
    """Ink without a digit (serving.preprocess.NoDigit) crosses @serve.batch with its reason."""
    Image.fromarray(blot).save(tmp_path / "blot.png")
    response = httpx.post(
        f"{ray_server}/predict",
        content=(tmp_path / "blot.png").read_bytes(),
        headers={"content-type": "image/png"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    record = response.json()
    assert (record["digit"], record["abstain"], record["reason"]) == (None, True, BLOT)


def test_bad_input_gets_the_same_4xx(ray_server):
    cases = [
        (b"", "image/png", 400, "empty body"),
        (b"hello", "image/png", 422, "PNG"),
        (b'{"pixels": [[0.5]]}', "application/json", 422, "shape [1, 1]"),
        (NAN_PIXELS, "application/json", 422, "NaN"),
        (b"3", "text/plain", 415, "text/plain"),
    ]
    for body, kind, status, words in cases:
        response = httpx.post(
            f"{ray_server}/predict", content=body, headers={"content-type": kind}, timeout=30
        )
        assert response.status_code == status, (body[:20], response.text)
        detail = response.json()["detail"]
        assert words in detail and "\n" not in detail


def test_batching_goes_past_serves_default_cap_of_five(ray_server):
    pixels = np.random.default_rng(0).random((2 * MAX_BATCH, 28, 28)).round(3)
    response = httpx.post(
        f"{ray_server}/predict/batch", json={"pixels": pixels.tolist()}, timeout=60
    )
    assert response.status_code == 200
    assert len(response.json()) == 2 * MAX_BATCH
    info = httpx.get(f"{ray_server}/model", timeout=30).json()
    assert info["engine"] == "ray"
    assert info["batching"] == {
        "batching": True,
        "max_batch_size": MAX_BATCH,
        "batch_wait_ms": 20.0,
    }
    assert info["max_batch_size_seen"] == MAX_BATCH  # > 5: max_ongoing_requests was raised


def test_concurrent_burst_has_no_errors(ray_server):
    config = LoadConfig(url=ray_server, concurrency=(32,), requests=300, max_seconds=120)
    level = run_loadtest(config)["levels"][0]
    assert level["errors"] == 0, level["first_error"]
    assert level["ok"] == 300


def test_committed_serve_config_matches_the_code():
    import yaml

    from serving.http_app import ServerConfig
    from serving.ray_serve import BatchConfig, deployment_options

    config = yaml.safe_load((ROOT / "serving" / "serve_config.yaml").read_text())
    (application,) = config["applications"]
    assert application["import_path"] == "serving.ray_serve:app"
    (deployment,) = application["deployments"]
    options = deployment_options(ServerConfig(), BatchConfig(), replicas=1)
    assert deployment.pop("name") == "DigitService"
    assert deployment == options  # regenerate the file (see its header) when this fails
    assert deployment["max_ongoing_requests"] >= 2 * BatchConfig().max_batch_size
