"""Export a trained checkpoint to ONNX and prove the file computes what PyTorch computes.

Contract: input ``pixels`` float32 [batch, 1, 28, 28] in [0, 1], ink high, dynamic batch;
normalization is inside the graph; output ``logits`` float32 [batch, 10].
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.numpy_helper
import torch

from cnn.checkpoint import check_output_file
from cnn.data import MNIST_MEAN, MNIST_STD, load_mnist
from cnn.files import atomic_write, refuse_input_as_output
from cnn.model import ARCHITECTURE
from cnn.train import load_checkpoint_model

INPUT_NAME, OUTPUT_NAME = "pixels", "logits"
PARITY_TOLERANCE = 1e-4


def _onnx_program_bytes(model: torch.nn.Module) -> bytes:
    example = torch.rand(2, 1, 28, 28)
    batch = torch.export.Dim("batch", min=1, max=65536)
    # The exporter logs a warning per missing torchvision op; irrelevant for this model.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"x": {0: batch}},
            dynamo=True,
            external_data=False,
            verbose=False,
            opset_version=18,
        )
        return path.read_bytes()


def export_onnx(
    checkpoint: str | Path, out: str | Path, check_images: int = 1000
) -> dict[str, Any]:
    """Write the ONNX file with metadata; raise if the checker or the parity check fails."""
    import onnxruntime as ort

    refuse_input_as_output(out, {"--checkpoint": checkpoint})
    check_output_file(out)
    model, state = load_checkpoint_model(checkpoint)
    proto = onnx.load_from_string(_onnx_program_bytes(model))
    history = state["history"]
    test = load_mnist("test")
    x_test = test.images[:, None].astype(np.float32) / 255.0
    test_record = state.get("test") or {}
    if test_record.get("images") != len(test):  # unfinished or --test-limit run: measure it now
        with torch.no_grad():
            logits = torch.cat(
                [model(torch.from_numpy(x_test[i : i + 1000])) for i in range(0, len(x_test), 1000)]
            )
        test_record = {"accuracy": float((logits.argmax(1).numpy() == test.labels).mean())}
    metadata = {
        "architecture": ARCHITECTURE,
        "test_accuracy": f"{test_record['accuracy']:.4f}",
        "validation_accuracy": f"{history[-1].get('validation_accuracy', float('nan')):.4f}",
        "test_evaluated": "once, after training (never used for any choice)",
        "normalization": json.dumps({"mean": MNIST_MEAN, "std": MNIST_STD, "inside_graph": True}),
        "input_contract": "float32 [batch,1,28,28], pixels in [0,1], ink high (MNIST polarity)",
        "training_command": state["config"]["command"],
        "epochs": str(state["epoch"]),
        "seed": str(state["config"]["seed"]),
        "recipe": str(state["config"].get("recipe", "default")),
        "adam_beta1": str(state["config"].get("beta1", 0.9)),
        "trained_on": state.get("device", "unknown"),
    }
    onnx.helper.set_model_props(proto, metadata)
    proto.doc_string = "The course's MNIST digit CNN (bayes-cnn-lab)."
    onnx.checker.check_model(proto, full_check=True)

    x = x_test[:check_images]
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    max_diff = float(np.abs(got - expected).max())
    if max_diff > PARITY_TOLERANCE:
        raise ValueError(f"ONNX output differs from PyTorch by {max_diff:.2e} > {PARITY_TOLERANCE}")

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(proto.SerializeToString()))
    return {"max_abs_diff": max_diff, "check_images": len(x), "metadata": metadata}


def read_onnx(path: str | Path) -> onnx.ModelProto:
    """The ONNX file, weights inside it; ValueError with one line naming it when it is not one.

    External data is never followed: an exported model keeps its weights inside the file, and a
    crafted one could point them anywhere (``../../etc/passwd``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"model file {path} does not exist; export one with `python -m cnn export`"
        )
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf/onnx raise many kinds for a broken file
        text = " ".join(str(exc).split())[:200]
        raise ValueError(
            f"{path} is not a readable ONNX model ({type(exc).__name__}: {text}); re-export it "
            "with `python -m cnn export` or pass another --model"
        ) from exc
    if any(uses_external_data(t) for t in proto.graph.initializer):
        raise ValueError(
            f"{path} keeps its weights in other files (ONNX external data), which is refused; "
            "re-export it with `python -m cnn export` (one self-contained file)"
        )
    return proto


def uses_external_data(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL


def model_from_onnx(path: str | Path) -> torch.nn.Module:
    """Rebuild the PyTorch model from an exported file's weights (e.g. to draw feature maps)."""
    from cnn.model import DigitCNN

    model = DigitCNN()
    weights = {i.name: i for i in read_onnx(path).graph.initializer}
    expected = model.state_dict()
    missing = [name for name in expected if name not in weights]
    if missing:
        raise ValueError(f"{path} is not an export of DigitCNN (no {', '.join(missing)}).")
    try:
        state = {
            name: torch.from_numpy(onnx.numpy_helper.to_array(weights[name]).copy())
            for name in expected
        }
        model.load_state_dict(state)
    except (ValueError, RuntimeError, TypeError) as exc:  # wrong shapes, types or sizes
        text = " ".join(str(exc).split())[:200]
        raise ValueError(f"{path} is not an export of DigitCNN ({text}).") from exc
    return model.eval()
