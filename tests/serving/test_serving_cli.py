"""python -m serving predict on real PNG/JPEG files written here; errors per file, not per run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from serving.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory, mnist_test):
    """Digits as people hand them over: dark ink on paper, a canvas export, a photo; junk too."""
    folder = tmp_path_factory.mktemp("images")
    images, labels = mnist_test.images, mnist_test.labels
    paper = np.full((400, 300), 245, dtype=np.uint8)
    paper[50:274, 30:254] = 245 - np.kron(images[0], np.ones((8, 8), np.uint8)) * 0.9
    Image.fromarray(paper).save(folder / "paper.png")

    canvas = np.zeros((280, 280, 4), dtype=np.uint8)
    canvas[..., :3] = (20, 60, 220)
    canvas[168:280, 168:280, 3] = np.kron(images[1], np.ones((4, 4), np.uint8))  # in a corner
    Image.fromarray(canvas).save(folder / "canvas.png")

    photo = np.stack([255 - np.kron(images[2], np.ones((10, 10), np.uint8))] * 3, axis=2)
    Image.fromarray(photo).save(folder / "photo.jpg", quality=85)

    Image.new("RGBA", (280, 280)).save(folder / "empty.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    return {
        "paper": (folder / "paper.png", int(labels[0])),
        "canvas": (folder / "canvas.png", int(labels[1])),
        "photo": (folder / "photo.jpg", int(labels[2])),
        "empty": (folder / "empty.png", None),
        "corrupt": (folder / "corrupt.png", None),
        "missing": (folder / "missing.png", None),
    }


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_one_line_per_file(files, capsys):
    names = ["paper", "canvas", "photo", "empty", "corrupt", "missing"]
    code, out, _ = run(["predict", "--json", *(str(files[n][0]) for n in names)], capsys)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # some files failed, the others were still predicted
    assert [rec["file"] for rec in lines] == [str(files[n][0]) for n in names]
    for name, rec in zip(names[:3], lines[:3], strict=True):
        assert rec["digit"] == files[name][1], name
        assert len(rec["probabilities"]) == 10
        assert sum(rec["probabilities"]) == pytest.approx(1.0, abs=1e-4)
        assert rec["top_k"][0][0] == rec["digit"]
        assert "error" not in rec
    empty = lines[3]
    assert empty["digit"] is None and empty["probabilities"] is None and "error" not in empty
    for rec in lines[4:]:
        assert rec["digit"] is None and rec["file"] in rec["error"]
    assert "not an image" in lines[4]["error"] and "no such file" in lines[5]["error"]


def test_predict_text(files, capsys):
    code, out, err = run(["predict", str(files["paper"][0]), str(files["empty"][0])], capsys)
    assert code == 0 and err == ""
    first, second = out.splitlines()
    assert first.startswith(f"{files['paper'][0]}: {files['paper'][1]} ")
    assert "no digit" in second


def test_bad_model_is_one_clear_line(files, tmp_path, capsys):
    bad = tmp_path / "model.onnx"
    bad.write_text("hello")
    code, out, err = run(["predict", "--model", str(bad), str(files["paper"][0])], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err and str(bad) in err


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "serving", "predict", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "--json" in result.stdout and "--model" in result.stdout and "--int8" in result.stdout
