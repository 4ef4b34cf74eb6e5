"""Test accuracy of an exported ONNX model (through ONNX Runtime) or of a training checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnn.data import load_mnist


def onnx_logits(model_path: str | Path, pixels: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Logits from an ONNX file for float32 [N,1,28,28] pixels in [0,1]."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own types for protobuf/graph errors
        raise ValueError(
            f"{model_path} is not a readable ONNX model ({str(exc).splitlines()[0]}); "
            "export one with `python -m cnn export --checkpoint OUT/checkpoint.pt`."
        ) from exc
    name = session.get_inputs()[0].name
    return np.concatenate(
        [session.run(None, {name: pixels[i : i + batch]})[0] for i in range(0, len(pixels), batch)]
    )


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
    test = load_mnist("test")
    pixels = test.images[:, None].astype(np.float32) / 255.0
    logits = (
        onnx_logits(path, pixels) if path.suffix == ".onnx" else checkpoint_logits(path, pixels)
    )
    correct = int((logits.argmax(1) == test.labels).sum())
    return {
        "model": str(path),
        "test_accuracy": correct / len(test),
        "correct": correct,
        "total": len(test),
    }
