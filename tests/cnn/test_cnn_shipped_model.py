"""The model the project ships is the one the app serves: check it through ONNX Runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

from cnn.evaluate import evaluate_model
from cnn.train import CheckpointError, load_checkpoint_model

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "mnist_cnn.onnx"


def test_shipped_model_reaches_99_3_percent():
    result = evaluate_model(SHIPPED)
    assert result["total"] == 10_000
    assert result["test_accuracy"] >= 0.993


def test_shipped_model_metadata_and_contract():
    proto = onnx.load(SHIPPED)
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert float(meta["test_accuracy"]) >= 0.993
    assert meta["training_command"].startswith("python -m cnn train")
    assert json.loads(meta["normalization"])["inside_graph"] is True
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]


def test_evaluate_cli_prints_accuracy():
    done = subprocess.run(
        [sys.executable, "-m", "cnn", "evaluate", "--model", str(SHIPPED), "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(done.stdout)["test_accuracy"] >= 0.993


def test_evaluate_cli_missing_model_is_a_clear_error(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "cnn", "evaluate", "--model", str(tmp_path / "none.onnx")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("torn.onnx", SHIPPED.read_bytes()[:5000], "is not a readable ONNX model"),
        ("notes.pt", b"# not a checkpoint\n", "is not a DigitCNN training checkpoint"),
        ("zip.pt", b"PK\x03\x04" + bytes(200), "is not a DigitCNN training checkpoint"),
    ],
)
def test_evaluate_cli_names_a_file_that_is_not_a_model(tmp_path: Path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "cnn", "evaluate", "--model", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and str(path) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_foreign_pickle_is_not_taken_for_a_checkpoint(tmp_path: Path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="no training config"):
        load_checkpoint_model(path)
    torch.save({"config": {"dropout": 0.5}, "model": {"fc.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="config lacks epochs"):
        load_checkpoint_model(path)
    config = dict.fromkeys(("epochs", "seed", "batch_size", "lr", "augment", "command"), 0)
    state = {"config": {**config, "dropout": 0.5}, "epoch": 1, "history": []}
    torch.save({**state, "model": {"fc.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="weights of another network"):
        load_checkpoint_model(path)
