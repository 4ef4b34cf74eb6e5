"""cnn evaluate checks the model against the digit-model contract and needs only the test files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
from onnx import TensorProto, helper

from cnn import data
from cnn.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "mnist_cnn.onnx"


def five_class_model(path: Path) -> Path:
    """A valid ONNX model [n,1,28,28] -> [n,5]: runs fine, but is not a digit model."""
    x = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 1, 28, 28])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 5])
    w = np.random.default_rng(0).normal(size=(784, 5)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["pixels"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "five",
        [x],
        [y],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def test_a_five_class_model_is_refused_with_one_line(tmp_path, capsys):
    assert main(["evaluate", "--model", str(five_class_model(tmp_path / "five.onnx"))]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and "Traceback" not in err
    assert "five.onnx is not a digit model: output logits is tensor(float) ['n', 5]" in err
    assert len(err.strip().splitlines()) == 1


def test_the_two_test_files_are_enough(tmp_path, monkeypatch, capsys):
    src = data.find_mnist_dir(download=False)
    for name in data.split_files("test"):
        shutil.copy(src / name, tmp_path / name)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    assert main(["evaluate", "--model", str(SHIPPED), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"] == 10_000 and result["test_accuracy"] > 0.98
