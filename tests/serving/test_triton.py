"""export-triton: the repository layout, and config.pbtxt checked against the model's signature."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from serving.session import DEFAULT_MODEL, ModelError
from serving.triton import TritonConfig, export_triton

ROOT = Path(__file__).resolve().parents[2]
TYPES = {"tensor(float)": "TYPE_FP32"}


def parse_tensors(text: str, section: str) -> list[dict]:
    """The entries of an input [...] / output [...] block of config.pbtxt."""
    block = re.search(rf"^{section} \[\n(.*?)\n\]", text, re.S | re.M).group(1)
    return [
        {"name": name, "data_type": kind, "dims": [int(d) for d in dims.split(",")]}
        for name, kind, dims in re.findall(
            r'name: "([^"]+)", data_type: (\w+), dims: \[ ([^\]]*) \]', block
        )
    ]


def test_shipped_model_repository_matches_the_onnx_signature(tmp_path):
    import onnxruntime as ort

    folder = export_triton(TritonConfig(out=tmp_path / "repo"))
    assert folder == tmp_path / "repo" / "digits"
    assert (folder / "1" / "model.onnx").read_bytes() == DEFAULT_MODEL.read_bytes()
    text = (folder / "config.pbtxt").read_text()
    assert 'name: "digits"' in text and 'backend: "onnxruntime"' in text
    assert re.search(r"^max_batch_size: 256$", text, re.M)
    assert "dynamic_batching {" in text and "max_queue_delay_microseconds: 500" in text

    session = ort.InferenceSession(str(folder / "1" / "model.onnx"))
    for section, args in (("input", session.get_inputs()), ("output", session.get_outputs())):
        expected = [
            # A [batch] output (one score per image) is declared [1] and reshaped to [].
            {"name": a.name, "data_type": TYPES[a.type], "dims": list(a.shape[1:]) or [1]}
            for a in args
        ]
        assert parse_tensors(text, section) == expected
    assert parse_tensors(text, "input") == [
        {"name": "pixels", "data_type": "TYPE_FP32", "dims": [1, 28, 28]}
    ]
    assert parse_tensors(text, "output")[0] == {
        "name": "logits",
        "data_type": "TYPE_FP32",
        "dims": [10],
    }


def _three_output_model(path: Path) -> None:
    """A tiny digit model with the extra outputs a Bayesian export adds (one is [batch])."""
    weights = np.zeros((784, 10), np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["pixels"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
            helper.make_node("ReduceMax", ["logits"], ["uncertainty"], axes=[1], keepdims=0),
        ],
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10]),
            helper.make_tensor_value_info("uncertainty", TensorProto.FLOAT, ["batch"]),
        ],
        [helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_every_output_is_listed_and_initializers_are_not_inputs(tmp_path):
    _three_output_model(tmp_path / "tiny.onnx")
    config = TritonConfig(model=tmp_path / "tiny.onnx", out=tmp_path / "repo", max_batch_size=16)
    text = (export_triton(config) / "config.pbtxt").read_text()
    assert [t["name"] for t in parse_tensors(text, "input")] == ["pixels"]
    assert parse_tensors(text, "output") == [
        {"name": "logits", "data_type": "TYPE_FP32", "dims": [10]},
        {"name": "probabilities", "data_type": "TYPE_FP32", "dims": [10]},
        {"name": "uncertainty", "data_type": "TYPE_FP32", "dims": [1]},
    ]
    assert "dims: [ 1 ], reshape: { shape: [ ] }" in text
    assert "preferred_batch_size: [ 8, 16 ]" in text


def test_not_a_digit_model_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    with pytest.raises(ModelError):
        export_triton(TritonConfig(model=bad, out=tmp_path / "repo"))
    assert not (tmp_path / "repo").exists()
    run = subprocess.run(
        [sys.executable, "-m", "serving", "export-triton", "--model", str(bad), "--out", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # "x" lands in tmp_path; serving is found without the editable install too
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
        timeout=60,
    )
    assert (
        run.returncode == 2 and run.stderr.startswith("error: ") and "Traceback" not in run.stderr
    )


def test_cli_writes_the_layout(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "serving", "export-triton", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "digits" / "config.pbtxt").is_file()
    assert "tritonserver --model-repository" in run.stdout


def test_default_repository_lies_in_the_ignored_runs_folder():
    """Without --out nothing lands in the working tree that git would list as new."""
    out = TritonConfig().out
    assert out.parent == ROOT / "runs"
    check = subprocess.run(["git", "check-ignore", "-q", str(out / "digits" / "config.pbtxt")],
                           cwd=ROOT)  # fmt: skip
    assert check.returncode == 0, f"{out} is not git-ignored"
