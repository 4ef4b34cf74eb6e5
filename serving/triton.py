"""Export the model as a Triton Inference Server model repository, for GPU clusters.

Triton's layout: ``REPO/NAME/config.pbtxt`` and ``REPO/NAME/1/model.onnx`` (version 1). The
config names every input and output with its type and dims read from the ONNX model's own
signature (dims without the batch axis, which Triton adds when ``max_batch_size > 0``), so
extra outputs a newer export adds are listed too.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx

from serving.files import refuse_input_as_output
from serving.session import ModelError, open_session
from serving.triton_config import TritonConfig

# ONNX TensorProto element types -> Triton data types (the ones a digit model can have).
TRITON_TYPES = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
    onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.BOOL: "TYPE_BOOL",
}


@dataclass(frozen=True)
class Tensor:
    """One input or output as Triton sees it."""

    name: str
    data_type: str  # TYPE_FP32, ...
    dims: tuple[int, ...]  # without the batch axis; -1 for a variable dimension


def signature(model: onnx.ModelProto) -> tuple[list[Tensor], list[Tensor]]:
    """Inputs and outputs of the graph (initializers excluded), batch axis dropped."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [_tensor(v) for v in model.graph.input if v.name not in initializers]
    return inputs, [_tensor(v) for v in model.graph.output]


def _tensor(value: onnx.ValueInfoProto) -> Tensor:
    kind = value.type.tensor_type
    if kind.elem_type not in TRITON_TYPES:
        raise ModelError(f"{value.name}: ONNX element type {kind.elem_type} has no Triton type")
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim]
    return Tensor(value.name, TRITON_TYPES[kind.elem_type], tuple(dims[1:]))


def config_pbtxt(model: onnx.ModelProto, config: TritonConfig) -> str:
    """The text of config.pbtxt for Triton's ONNX Runtime backend with dynamic batching."""
    inputs, outputs = signature(model)
    cap = config.max_batch_size
    preferred = sorted({size for size in (8, 32, 128, cap) if size <= cap})
    lines = [
        f'name: "{config.name}"',
        'backend: "onnxruntime"',
        f"max_batch_size: {config.max_batch_size}",
        *_tensors("input", inputs),
        *_tensors("output", outputs),
        "dynamic_batching {",
        f"  preferred_batch_size: [ {_join(preferred)} ]",
        f"  max_queue_delay_microseconds: {config.queue_delay_us}",
        "}",
        f"instance_group [ {{ count: 1, kind: {config.kind} }} ]",
    ]
    return "\n".join(lines) + "\n"


def _tensors(section: str, tensors: list[Tensor]) -> list[str]:
    return [f"{section} [", ",\n".join(_entry(t) for t in tensors), "]"]


def _entry(t: Tensor) -> str:
    # One value per image ([batch], e.g. an uncertainty score): Triton wants at least one dim,
    # so it is declared [1] and reshaped to the model's [] per image.
    dims = _join(t.dims) if t.dims else "1"
    reshape = "" if t.dims else ", reshape: { shape: [ ] }"
    return f'  {{ name: "{t.name}", data_type: {t.data_type}, dims: [ {dims} ]{reshape} }}'


def _join(values: tuple[int, ...] | list[int]) -> str:
    return ", ".join(map(str, values))


def export_triton(config: TritonConfig) -> Path:
    """Write the repository; returns the model's folder (REPO/NAME). The model is checked first."""
    folder = Path(config.out) / config.name
    destination = folder / "1" / "model.onnx"
    refuse_input_as_output(destination, {"--model": config.model})
    refuse_input_as_output(folder / "config.pbtxt", {"--model": config.model})
    open_session(config.model)  # ModelError with a clear line if it is not a digit model
    model = onnx.load(str(config.model), load_external_data=False)
    text = config_pbtxt(model, config)
    try:
        (folder / "1").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config.model, destination)
        (folder / "config.pbtxt").write_text(text)
    except OSError as exc:  # --out (or a folder in it) is a file, not writable, disk full ...
        blocker = next((p for p in (config.out, folder, folder / "1") if p.is_file()), None)
        reason = f"{blocker} is a file, not a folder" if blocker else exc.strerror or str(exc)
        raise ValueError(
            f"cannot write the model repository {config.out} ({reason}); pass --out a folder "
            "(new or existing) that you can write to"
        ) from exc
    return folder
