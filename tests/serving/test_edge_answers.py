"""Nothing to read gets one answer everywhere (issue 20, item 5): a blank canvas, all-zero pixels
and all-ink pixels give digit null, abstain true and a reason, in the CLI's JSON, the HTTP
service (single and batch, image and pixel bodies) and the app's path (predict_image)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from PIL import Image

from serving.__main__ import main
from serving.loadtest import spawn_server
from serving.predictor import NOTHING_TO_READ, Predictor, predict_image

ANSWER = {"digit": None, "abstain": True, "reason": NOTHING_TO_READ, "uncertainty": None}


def _answer(record: dict) -> dict:
    return {key: record.get(key) for key in ANSWER}


@pytest.fixture(scope="module")
def blanks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blank")
    paths = {
        "canvas": folder / "canvas.png",  # the app's untouched canvas: transparent RGBA
        "ink": folder / "ink.png",  # all ink
    }
    Image.new("RGBA", (280, 280)).save(paths["canvas"])
    Image.new("L", (280, 280), 255).save(paths["ink"])
    return paths


def test_blank_answers_agree_across_cli_http_and_app(blanks, capsys):
    assert main(["predict", "--json", str(blanks["canvas"]), str(blanks["ink"])]) == 0
    cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [_answer(r) for r in cli] == [ANSWER, ANSWER]

    predictor = Predictor()
    for path in blanks.values():
        app = predict_image(np.asarray(Image.open(path)), predictor)  # what the draw page calls
        assert (app.digit, app.abstain, app.reason) == (None, True, NOTHING_TO_READ)

    with spawn_server(["--engine", "embedded"]) as url:
        for path in blanks.values():
            single = httpx.post(
                f"{url}/predict", content=path.read_bytes(), headers={"content-type": "image/png"}
            )
            assert single.status_code == 200 and _answer(single.json()) == ANSWER
        for pixels in (np.zeros((28, 28)), np.ones((28, 28))):
            single = httpx.post(f"{url}/predict", json={"pixels": pixels.tolist()})
            assert single.status_code == 200 and _answer(single.json()) == ANSWER
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in blanks.values()]
        batch = httpx.post(f"{url}/predict/batch", files=files)
        assert batch.status_code == 200 and [_answer(r) for r in batch.json()] == [ANSWER] * 2
