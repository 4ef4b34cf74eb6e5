"""Training on a real MNIST subset: it learns, it resumes after a real interrupt, it exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from cnn.export import export_onnx
from cnn.train import TrainConfig, load_checkpoint_model, train

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("short")
    train(TrainConfig(epochs=2, limit=6000, out=str(out), device="cpu"), progress=False)
    return out


def test_short_training_on_a_subset_beats_90_percent(short_run: Path):
    metrics = json.loads((short_run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert metrics["test_accuracy"] > 0.90
    assert metrics["device"] == "cpu"


def _cli(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cnn",
        "train",
        "--epochs",
        "3",
        "--limit",
        "1024",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def _checkpoint_epoch(path: Path) -> int:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except Exception:  # not written yet
        return 0


# `python -m cnn train` with a real SIGINT sent to itself the moment epoch 1's checkpoint is on
# disk: Ctrl-C as epoch 2 begins, every time (polling for the file from outside could race a
# short run). SIGINT's default handler first, as in a terminal: a test run started in the
# background by a shell inherits SIGINT as ignored, and then nothing would interrupt.
CTRL_C_AFTER_EPOCH_1 = """
import os, runpy, signal, sys
import cnn.train
signal.signal(signal.SIGINT, signal.default_int_handler)
save = cnn.train.save_checkpoint
def save_then_ctrl_c(path, state):
    save(path, state)
    if state["epoch"] == 1:
        os.kill(os.getpid(), signal.SIGINT)
cnn.train.save_checkpoint = save_then_ctrl_c
sys.argv = ["cnn", *sys.argv[1:]]
runpy.run_module("cnn", run_name="__main__")
"""


def test_resume_after_ctrl_c_continues_exactly(tmp_path: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # same threads in both runs -> same floats
    straight = tmp_path / "straight"
    subprocess.run(_cli(straight), check=True, env=env, cwd=ROOT)

    broken = tmp_path / "broken"
    command = [sys.executable, "-c", CTRL_C_AFTER_EPOCH_1, *_cli(broken)[3:]]
    proc = subprocess.run(
        command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True, timeout=300
    )
    assert proc.returncode == 130, proc.stderr
    assert "--resume" in proc.stderr and "Traceback" not in proc.stderr
    assert _checkpoint_epoch(broken / "checkpoint.pt") == 1

    subprocess.run(_cli(broken, "--resume"), check=True, env=env, cwd=ROOT)
    a, _ = load_checkpoint_model(straight / "checkpoint.pt")
    b, state = load_checkpoint_model(broken / "checkpoint.pt")
    assert state["epoch"] == 3
    assert [e["epoch"] for e in state["history"]] == [1, 2, 3]
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_resume_refuses_other_settings(short_run: Path):
    with pytest.raises(ValueError, match="made with epochs=2"):
        train(TrainConfig(epochs=5, limit=6000, out=str(short_run), device="cpu", resume=True))


def test_export_matches_pytorch_on_real_images(short_run: Path, tmp_path: Path, mnist_test):
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    report = export_onnx(short_run / "checkpoint.pt", out, check_images=1000)
    assert report["check_images"] == 1000 and report["max_abs_diff"] <= 1e-4
    proto = onnx.load(out)
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert float(meta["test_accuracy"]) > 0.9
    assert json.loads(meta["normalization"]) == {
        "mean": 0.1307,
        "std": 0.3081,
        "inside_graph": True,
    }
    assert "cnn" in meta["architecture"] and meta["training_command"]

    # Dynamic batch: sizes never seen at export time, raw [0,1] pixels in, logits out.
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("pixels", "tensor(float)", [1, 28, 28])
    assert outp.name == "logits" and outp.shape[1:] == [10]
    model, _ = load_checkpoint_model(short_run / "checkpoint.pt")
    for n in (1, 7):
        x = mnist_test.images[:n, None].astype(np.float32) / 255
        got = session.run(None, {"pixels": x})[0]
        with torch.no_grad():
            np.testing.assert_allclose(got, model(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_model_rebuilt_from_onnx_weights(short_run: Path, tmp_path: Path):
    from cnn.export import model_from_onnx

    out = tmp_path / "m.onnx"
    export_onnx(short_run / "checkpoint.pt", out, check_images=10)
    rebuilt = model_from_onnx(out)
    model, _ = load_checkpoint_model(short_run / "checkpoint.pt")
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x))
