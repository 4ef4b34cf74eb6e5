"""Static INT8 quantization with ONNX Runtime's tools, calibrated on MNIST training images.

Static (not dynamic) because convolutions dominate this model and only static quantization
turns them into integer convolutions; activation ranges come from real training digits.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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

from cnn.files import atomic_write
from serving.session import DEFAULT_MODEL, INT8_MODEL, open_session


@dataclass(frozen=True)
class QuantizeConfig:
    """Defaults follow ONNX Runtime's advice for x86 CPUs (QDQ, U8 activations, S8 weights)."""

    model: Path = DEFAULT_MODEL
    out: Path = INT8_MODEL
    calibration_images: int = 2000  # training images, drawn with ``seed``
    batch: int = 100
    seed: int = 0
    method: str = "minmax"  # minmax | entropy | percentile
    per_channel: bool = True  # per-output-channel weight scales: keeps accuracy at ~no cost here
    # 7-bit weights: avoids int16 saturation of U8S8 products on CPUs without VNNI (the file is
    # shipped to unknown CPUs).
    reduce_range: bool = True


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
    if config.method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {config.method!r}")
    session = open_session(config.model)  # fails early and clearly on a bad fp32 model
    reader = MnistCalibration(
        calibration_images(train_images, config.calibration_images, config.seed),
        session.get_inputs()[0].name,
        config.batch,
        progress,
    )
    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
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
        )
        model = onnx.load(str(quantized))
    result: dict[str, object] = {"out": str(config.out)}
    extra = {}
    if test is not None:
        result["fp32_test_accuracy"] = test_accuracy(session, *test)
        int8 = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        result["int8_test_accuracy"] = extra["test_accuracy"] = test_accuracy(int8, *test)
    _set_metadata(model, config, extra)
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(model.SerializeToString()))
    open_session(config.out)  # the result must load and pass the signature check
    result["sha256"] = sha256(config.out)
    return result


def test_accuracy(session: ort.InferenceSession, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` (uint8 [N,28,28]) whose argmax logit equals the label."""
    name = session.get_inputs()[0].name
    correct = 0
    for i in range(0, len(images), 500):
        x = images[i : i + 500, None].astype(np.float32) / 255.0
        correct += int((session.run(None, {name: x})[0].argmax(1) == labels[i : i + 500]).sum())
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
            "fp32_sha256": sha256(config.model),
            **{k: f"{v:.4f}" for k, v in extra.items()},
        }
    )
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
