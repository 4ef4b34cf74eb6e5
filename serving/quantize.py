"""Static INT8 quantization with ONNX Runtime's tools, calibrated on MNIST training images.

Static (not dynamic) because convolutions dominate this model and only static quantization
turns them into integer convolutions; activation ranges come from real training digits.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from serving.files import atomic_write, same_file, sha256_of
from serving.graph_head import head_nodes
from serving.quantize_config import QuantizeConfig
from serving.session import (
    DEFAULT_MODEL,
    PROBABILITIES,
    ModelError,
    ModelRunError,
    check_outputs,
    logits_output,
    open_session,
    run_session,
)

# Operators that only a quantized graph holds: quantizing one again breaks it ("two nodes with
# same node name") and would overwrite a good INT8 file with an invalid one.
QUANTIZED_OPS = {
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
}


METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}


class MnistCalibration(CalibrationDataReader):
    """Feeds float32 [batch,1,28,28] training digits to the calibrator, one batch per call."""

    def __init__(
        self,
        images: np.ndarray,
        input_name: str,
        batch: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.pixels = images[:, None].astype(np.float32) / 255.0
        self.input_name, self.batch, self.progress = input_name, batch, progress
        self._batches = self._iterate()

    def _iterate(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self.pixels), self.batch):
            if self.progress:
                self.progress(min(start + self.batch, len(self.pixels)), len(self.pixels))
            yield {self.input_name: self.pixels[start : start + self.batch]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def rewind(self) -> None:
        self._batches = self._iterate()


def calibration_images(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` training images drawn without replacement by ``seed`` (same seed, same file)."""
    pick = np.random.default_rng(seed).choice(
        len(images), size=min(count, len(images)), replace=False
    )
    return images[np.sort(pick)]


def quantize_model(
    train_images: np.ndarray,
    config: QuantizeConfig = QuantizeConfig(),
    test: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Write the INT8 model to ``config.out``; with ``test`` (images, labels), compare accuracy.

    Returns the output path, its sha256 and, with ``test``, both models' test accuracy (which
    is also written into the INT8 file's metadata as ``test_accuracy``).
    """
    check_request(config)
    session = open_session(config.model)  # fails early and clearly on a bad fp32 model
    reader = MnistCalibration(
        calibration_images(train_images, config.calibration_images, config.seed),
        session.get_inputs()[0].name,
        config.batch,
        progress,
    )
    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        try:
            quant_pre_process(str(config.model), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(quantized),
                reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=config.per_channel,
                reduce_range=config.reduce_range,
                calibrate_method=METHODS[config.method],
                # A Bayesian graph's posterior head stays fp32 (serving/graph_head.py says why).
                nodes_to_exclude=head_nodes(onnx.load(str(prepared))),
            )
        except Exception as exc:  # noqa: BLE001 - calibration runs the model: any failure
            text = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise ModelRunError(
                f"{config.model} failed while being calibrated ({text}); nothing was written"
            ) from exc
        model = onnx.load(str(quantized))
    result: dict[str, object] = {"out": str(config.out)}
    extra = {}
    if test is not None:
        result["fp32_test_accuracy"] = test_accuracy(session, *test)
        int8 = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        result["int8_test_accuracy"] = extra["test_accuracy"] = test_accuracy(int8, *test)
        _check_loss(result["fp32_test_accuracy"], result["int8_test_accuracy"], config)
    _set_metadata(model, config, extra)

    def verify(written: Path) -> None:
        """The temp file itself must load, pass the signature check and keep its accuracy."""
        checked = open_session(written)
        if test is not None:
            measured = test_accuracy(checked, *test)
            if measured != result["int8_test_accuracy"]:
                raise ModelError(
                    f"the INT8 model read back from disk scores {measured:.4%}, not "
                    f"{result['int8_test_accuracy']:.4%}: {config.out} left unchanged"
                )

    Path(config.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(config.out), lambda f: f.write(model.SerializeToString()), check=verify)
    result["sha256"] = sha256_of(config.out)
    return result


def check_request(config: QuantizeConfig) -> None:
    """Refuse, before any work, what would destroy a model file or produce a broken one."""
    if config.method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {config.method!r}")
    model, out = Path(config.model), Path(config.out)
    if model.is_file() and is_quantized(model):
        raise ValueError(
            f"{model} is already quantized (it holds quantization operators): quantize the fp32 "
            f"model instead (--model {DEFAULT_MODEL}); nothing was written"
        )
    if same_file(model, out):
        raise ValueError(
            f"--out {out} is the --model file: quantizing would overwrite the model it reads. "
            "Pass another --out (the INT8 model is a separate file)"
        )
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name such as {out / 'int8.onnx'}")
    folder = out.absolute().parent
    while not folder.exists():  # the folder is created later: its nearest ancestor must allow it
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"--out {out}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: permission denied in {folder}; pick a writable location")


def is_quantized(path: str | Path) -> bool:
    """True if the ONNX file holds quantization operators or says it was quantized."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - not readable: open_session reports it properly
        return False
    ops = {node.op_type for node in model.graph.node}
    return bool(ops & QUANTIZED_OPS) or any(p.key == "quantization" for p in model.metadata_props)


def _check_loss(fp32: float, int8: float, config: QuantizeConfig) -> None:
    if fp32 - int8 > config.max_accuracy_loss:
        raise ValueError(
            f"the INT8 model loses {100 * (fp32 - int8):.2f} percentage points of test accuracy "
            f"(fp32 {fp32:.2%}, int8 {int8:.2%}; the limit is "
            f"{100 * config.max_accuracy_loss:.2f}): {config.out} left unchanged. Try another "
            "--method, more --calibration-images, or raise --max-loss"
        )


def test_accuracy(session: ort.InferenceSession, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` (uint8 [N,28,28]) whose predicted digit equals the label: the
    argmax of a Bayesian graph's ``probabilities`` (what the Predictor reports), else of the
    logits."""
    name, output = session.get_inputs()[0].name, logits_output(session).name  # by name
    if any(o.name == PROBABILITIES for o in session.get_outputs()):
        output = PROBABILITIES
    correct = 0
    for i in range(0, len(images), 500):
        x = images[i : i + 500, None].astype(np.float32) / 255.0
        (logits,) = run_session(session, [output], {name: x}, "the model")
        check_outputs({output: logits}, len(x), "the model")
        correct += int((logits.argmax(1) == labels[i : i + 500]).sum())
    return correct / len(images)


def _set_metadata(model: onnx.ModelProto, config: QuantizeConfig, extra: dict) -> None:
    """Keep the fp32 model's metadata and say how this file was made (and from which fp32)."""
    source = onnx.load(str(config.model), load_external_data=False)
    props = {p.key: p.value for p in source.metadata_props}
    props.pop("test_accuracy", None)  # that was the fp32 model's; only a measured one goes in
    props.update(
        {
            "quantization": (
                f"static QDQ U8S8, per_channel={config.per_channel}, "
                f"reduce_range={config.reduce_range}, calibration={config.method} on "
                f"{config.calibration_images} MNIST training images (seed {config.seed})"
            ),
            "fp32_sha256": sha256_of(config.model),
            **{k: f"{v:.4f}" for k, v in extra.items()},
        }
    )
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
