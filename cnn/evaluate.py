"""Test accuracy of an exported ONNX model (through ONNX Runtime) or of a training checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnn.data import load_mnist


def open_onnx_model(model_path: str | Path):
    """An ONNX Runtime session, checked against the digit-model contract (input float32
    [N,1,28,28], output ``logits`` float [N,10]): another model would "score" nonsense.

    The contract lives in serving.session, which the app and the CLIs also load models with.
    """
    from serving.session import open_session

    return open_session(model_path)  # ModelError (a ValueError): one line, names the file


def onnx_logits(model_path: str | Path, pixels: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Logits from an ONNX file for float32 [N,1,28,28] pixels in [0,1], checked as they come."""
    from serving.session import check_outputs, logits_output, run_session

    session = open_onnx_model(model_path)
    name, output = session.get_inputs()[0].name, logits_output(session).name
    chunks = []
    for i in range(0, len(pixels), batch):
        x = pixels[i : i + batch]
        (logits,) = run_session(session, [output], {name: x}, model_path)
        check_outputs({output: logits}, len(x), model_path)
        chunks.append(logits)
    return np.concatenate(chunks)


def checkpoint_logits(path: str | Path, pixels: np.ndarray, batch: int = 1000) -> np.ndarray:
    import torch

    from cnn.train import load_checkpoint_model

    model, _ = load_checkpoint_model(path)
    with torch.no_grad():
        return torch.cat(
            [model(torch.from_numpy(pixels[i : i + batch])) for i in range(0, len(pixels), batch)]
        ).numpy()


def evaluate_model(path: str | Path) -> dict[str, Any]:
    """Accuracy on the 10,000 MNIST test images; ``.onnx`` runs in ONNX Runtime."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; export one with `python -m cnn export` or pass --model."
        )
    onnx_file = path.suffix.lower() == ".onnx"  # model.ONNX too
    if onnx_file:
        open_onnx_model(path)  # a wrong model is refused before MNIST is read
    test = load_mnist("test")  # only the two test files are needed
    pixels = test.images[:, None].astype(np.float32) / 255.0
    logits = onnx_logits(path, pixels) if onnx_file else checkpoint_logits(path, pixels)
    correct = int((logits.argmax(1) == test.labels).sum())
    return {
        "model": str(path),
        "test_accuracy": correct / len(test),
        "correct": correct,
        "total": len(test),
    }
