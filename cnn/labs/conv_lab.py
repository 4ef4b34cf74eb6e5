"""The convolution lab: the course's worked examples, 1-D padding, Sobel, the CNN's feature maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnn.labs.config import DEFAULT_CHECKPOINT, ConvLabConfig
from cnn.labs.conv import (
    conv2d,
    dropped_inputs,
    max_pool2d,
    same_padding,
    sobel_response,
    windows_1d,
)
from cnn.labs.report import LabResult

_X1 = [[0, 1, 2, 1, 0], [4, 1, 0, 1, 0], [2, 0, 1, 1, 1], [1, 2, 3, 1, 0], [0, 4, 3, 2, 0]]
_K1 = [[0, 1, 0], [1, 0, 1], [2, 1, 0]]
_X2 = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]
_K2 = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]
_P1 = [[0, 1, 2, 1], [4, 1, 0, 1], [2, 0, 1, 1], [1, 2, 3, 1]]
# The pooling slide's 5x5 grid; it shows the first row of a 2x2/stride-2 SAME max-pool.
_P2 = [
    [2, 3, 0, 5, 2.5],
    [2, 1.5, 0.5, 0, 7],
    [1.5, 5, 5, 3, 2],
    [3, 5, 7, 1.5, 0],
    [2, 5, 2, 1.5, 2],
]


@dataclass(frozen=True)
class WorkedExample:
    """One example from the course; ``expected`` may be just the first output row (``rows=1``)."""

    title: str
    op: str  # "conv" or "maxpool"
    x: tuple
    kernel: tuple | None  # conv kernel; None for max-pool (window ``size``)
    stride: int
    padding: str
    expected: tuple
    size: int = 2

    def compute(self) -> np.ndarray:
        if self.op == "conv":
            return conv2d(np.array(self.x), np.array(self.kernel), self.stride, self.padding)
        return max_pool2d(np.array(self.x), self.size, self.stride, self.padding)

    def matches(self) -> bool:
        expected = np.array(self.expected, dtype=np.float64)
        got = self.compute()[: expected.shape[0]]
        return got.shape == expected.shape and bool(np.array_equal(got, expected))


def _t(rows) -> tuple:
    return tuple(tuple(r) for r in rows)


WORKED_EXAMPLES: tuple[WorkedExample, ...] = (
    WorkedExample("conv VALID", "conv", _t(_X1), _t(_K1), 1, "VALID",
                  _t([[9, 5, 4], [8, 8, 10], [8, 15, 12]])),
    WorkedExample("conv VALID stride 2", "conv", _t(_X1), _t(_K1), 2, "VALID",
                  _t([[9, 4], [8, 12]])),
    WorkedExample("conv SAME (first row)", "conv", _t(_X1), _t(_K1), 1, "SAME",
                  _t([[5, 11, 4, 3, 3]])),
    WorkedExample("conv SAME stride 2", "conv", _t(_X1), _t(_K1), 2, "SAME",
                  _t([[5, 4, 3], [5, 8, 3], [5, 9, 2]])),
    WorkedExample("conv sliding example", "conv", _t(_X2), _t(_K2), 1, "VALID",
                  _t([[12, 12, 17], [10, 17, 19], [9, 6, 14]])),
    WorkedExample("max-pool 2x2 stride 1", "maxpool", _t(_P1), None, 1, "VALID",
                  _t([[4, 2, 2], [4, 1, 1], [2, 3, 3]])),
    WorkedExample("max-pool 2x2 stride 2", "maxpool", _t(_P1), None, 2, "VALID",
                  _t([[4, 2], [2, 3]])),
    WorkedExample("max-pool 2x2 stride 2 SAME (first row)", "maxpool", _t(_P2), None, 2, "SAME",
                  _t([[3, 5, 7]])),
)  # fmt: skip


def padding_1d(n: int = 13, k: int = 6, stride: int = 5) -> dict[str, Any]:
    """The course's 1-D example: how many outputs VALID and SAME give, what VALID drops."""
    return {
        "input_width": n,
        "filter_width": k,
        "stride": stride,
        "valid_outputs": len(windows_1d(n, k, stride, "VALID")),
        # 0-based indices (kept for --json readers) and the same inputs counted from 1, as the
        # course's figure, the CLI and the app show them
        "valid_dropped_inputs": dropped_inputs(n, k, stride, "VALID"),
        "valid_dropped_positions": [i + 1 for i in dropped_inputs(n, k, stride, "VALID")],
        "same_outputs": len(windows_1d(n, k, stride, "SAME")),
        "same_padding_before_after": list(same_padding(n, k, stride)),
    }


def load_feature_model(checkpoint: Path | str = DEFAULT_CHECKPOINT):
    """(model, None) from a training checkpoint or an exported .onnx, or (None, why)."""
    from cnn.export import model_from_onnx
    from cnn.train import load_checkpoint_model

    if not Path(checkpoint).exists():
        return None, (
            f"No trained CNN at {checkpoint}: train one first with "
            f"`python -m cnn train --out {Path(checkpoint).parent}` to see its feature maps."
        )
    try:
        if str(checkpoint).endswith(".onnx"):
            model = model_from_onnx(checkpoint)
        else:
            model, _ = load_checkpoint_model(checkpoint)
    except Exception as exc:  # a torn or foreign file must not stop the rest of the lab
        return None, (
            f"Could not read a DigitCNN checkpoint from {checkpoint} ({type(exc).__name__}: "
            f"{exc}); point --checkpoint at OUT/checkpoint.pt of `python -m cnn train`."
        )
    return model, None


def feature_maps(model, image: np.ndarray) -> list[np.ndarray]:
    """The trained CNN's feature maps after conv1+ReLU [32,28,28] and conv2+ReLU [64,14,14]."""
    import torch

    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)[None, None]
    with torch.no_grad():
        return [m[0].numpy() for m in model.features(x)]


def conv_lab(config: ConvLabConfig = ConvLabConfig(), image: np.ndarray | None = None) -> LabResult:
    """Run the whole lab. ``image`` (uint8 28x28) defaults to MNIST test image ``digit_index``."""
    from cnn.labs import conv_plots

    label = None
    if image is None:
        from cnn.data import load_mnist

        test = load_mnist("test")
        if not 0 <= config.digit_index < len(test):
            raise ValueError(
                f"--digit-index must be in 0..{len(test) - 1}, got {config.digit_index}"
            )
        image, label = test.images[config.digit_index], int(test.labels[config.digit_index])
    sobel = sobel_response(image.astype(np.float64) / 255.0)
    model, why = load_feature_model(config.checkpoint)
    maps = feature_maps(model, image) if model is not None else None
    numbers: dict[str, Any] = {
        "worked_examples": [
            {"title": e.title, "stride": e.stride, "padding": e.padding,
             "expected": [list(r) for r in e.expected],
             "computed": e.compute().tolist(), "matches": e.matches()}
            for e in WORKED_EXAMPLES
        ],
        "padding_1d": padding_1d(),
        "sobel": {"digit_index": config.digit_index, "label": label,
                  "min": float(sobel.min()), "max": float(sobel.max())},
        "feature_maps": (
            {"checkpoint": config.checkpoint, "shapes": [list(m.shape) for m in maps],
             "mean_activation": [float(m.mean()) for m in maps],
             "fraction_zero": [float((m == 0).mean()) for m in maps]}
            if maps is not None else {"checkpoint": config.checkpoint, "missing": why}
        ),
    }  # fmt: skip
    figures = {
        "conv_worked_examples": conv_plots.worked_examples_figure(WORKED_EXAMPLES),
        "conv_padding_1d": conv_plots.padding_1d_figure(),
        "conv_sobel": conv_plots.sobel_figure(image, sobel),
    }
    if maps is not None:
        for i, m in enumerate(maps, start=1):
            figures[f"conv_feature_maps_conv{i}"] = conv_plots.feature_maps_figure(m, f"conv{i}")
    else:
        figures["conv_feature_maps_missing"] = conv_plots.message_figure(why)
    return LabResult("conv-lab", numbers, figures)
