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
from serving.preprocess import BLOT, SPECK

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


def test_ink_without_a_digit_says_why_the_same_everywhere(blot, tmp_path, capsys):
    """A scribbled-over blot and a speck are not "empty": each gets its own reason (the app
    shows it in place of "The canvas is empty"), the same in the CLI, HTTP and the app's path."""
    speck = np.zeros((1000, 1000), dtype=np.uint8)
    speck[500:503, 500:510] = 255
    expected = {"blot": BLOT, "speck": SPECK}
    paths = {}
    for name, image in (("blot", blot), ("speck", speck)):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(image).save(paths[name])
    answers = {n: {**ANSWER, "reason": reason} for n, reason in expected.items()}

    assert main(["predict", "--json", *(str(p) for p in paths.values())]) == 0
    cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [_answer(r) for r in cli] == [answers["blot"], answers["speck"]]

    predictor = Predictor()
    for name, path in paths.items():
        app = predict_image(np.asarray(Image.open(path)), predictor)
        assert (app.digit, app.abstain, app.reason) == (None, True, expected[name])

    with spawn_server(["--engine", "embedded"]) as url:
        for name, path in paths.items():
            single = httpx.post(
                f"{url}/predict", content=path.read_bytes(), headers={"content-type": "image/png"}
            )
            assert single.status_code == 200 and _answer(single.json()) == answers[name]
        digit = tmp_path / "one.png"
        one = np.zeros((280, 280), dtype=np.uint8)
        one[40:240, 130:146] = 255
        Image.fromarray(one).save(digit)
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in (*paths.values(), digit)]
        batch = httpx.post(f"{url}/predict/batch", files=files).json()
        assert [_answer(r) for r in batch[:2]] == [answers["blot"], answers["speck"]]
        assert batch[2]["digit"] == 1 and batch[2]["reason"] is None


def test_the_plain_cli_line_gives_the_reason_too(blanks, blot, tmp_path, capsys):
    Image.fromarray(blot).save(tmp_path / "blot.png")
    assert main(["predict", str(blanks["canvas"]), str(tmp_path / "blot.png")]) == 0
    canvas, blotted = capsys.readouterr().out.splitlines()
    assert canvas == f"{blanks['canvas']}: {NOTHING_TO_READ}"
    assert blotted == f"{tmp_path / 'blot.png'}: {BLOT}"
