"""``python -m serving quantize``'s settings, without ONNX (``--help`` shows them at once)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.paths import DEFAULT_MODEL, INT8_MODEL

# How activation ranges are chosen from the calibration data (serving.quantize maps each name
# to ONNX Runtime's CalibrationMethod).
METHOD_NAMES = ("minmax", "entropy", "percentile")


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
    # The INT8 file is written only if it loses at most this much test accuracy (0.001 = 0.1
    # percentage points, the project's target); checked on the written temp file.
    max_accuracy_loss: float = 0.001
