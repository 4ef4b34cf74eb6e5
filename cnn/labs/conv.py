"""NumPy reference convolution and max-pooling with TensorFlow's VALID/SAME padding rule.

Written out so the course's worked examples can be checked by hand; the tests compare every
function with ``torch.nn.functional``. Convolution here is cross-correlation (no kernel flip),
as in TensorFlow and PyTorch and in the course's examples.

TensorFlow's rule for one axis of length ``n``, window ``k``, stride ``s``:

- VALID: no padding, ``out = ceil((n - k + 1) / s)``; inputs past the last full window are dropped.
- SAME: ``out = ceil(n / s)``; pad ``total = max((out - 1) * s + k - n, 0)`` zeros, ``total // 2``
  before and the rest after (the odd one goes to the end, unlike PyTorch's symmetric padding).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Padding = Literal["VALID", "SAME"]
PADDINGS: tuple[str, ...] = ("VALID", "SAME")

# The course's horizontal Sobel kernel (responds to left/right intensity changes).
SOBEL_HORIZONTAL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)


def _check(n: int, k: int, stride: int, padding: str) -> str:
    padding = padding.upper()
    if padding not in PADDINGS:
        raise ValueError(f"padding must be 'VALID' or 'SAME', got {padding!r}")
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    if k < 1:
        raise ValueError(f"window size must be positive, got {k}")
    if padding == "VALID" and k > n:
        raise ValueError(f"VALID padding needs a window ({k}) no larger than the input ({n})")
    return padding


def output_size(n: int, k: int, stride: int = 1, padding: Padding = "VALID") -> int:
    """Length of one output axis under TensorFlow's rule."""
    padding = _check(n, k, stride, padding)
    return math.ceil(n / stride) if padding == "SAME" else math.ceil((n - k + 1) / stride)


def same_padding(n: int, k: int, stride: int = 1) -> tuple[int, int]:
    """(before, after) zeros TensorFlow's SAME adds to an axis of length ``n``."""
    total = max((output_size(n, k, stride, "SAME") - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def windows_1d(n: int, k: int, stride: int = 1, padding: Padding = "VALID") -> list[range]:
    """Input positions each output covers (negative or >= n: padding), e.g. the course's
    13-wide input with a 6-wide filter and stride 5."""
    before = same_padding(n, k, stride)[0] if _check(n, k, stride, padding) == "SAME" else 0
    return [
        range(i * stride - before, i * stride - before + k)
        for i in range(output_size(n, k, stride, padding))
    ]


def dropped_inputs(n: int, k: int, stride: int = 1, padding: Padding = "VALID") -> list[int]:
    """Input positions that no window covers (VALID can drop the tail)."""
    covered = {i for w in windows_1d(n, k, stride, padding) for i in w}
    return [i for i in range(n) if i not in covered]


def _pad2d(x: np.ndarray, kh: int, kw: int, stride: int, padding: str, value: float):
    """Pad the last two axes of ``x`` for SAME; VALID leaves it as it is."""
    if _check(x.shape[-2], kh, stride, padding) == "VALID":
        _check(x.shape[-1], kw, stride, padding)
        return x
    pads = [(0, 0)] * (x.ndim - 2)
    pads += [same_padding(x.shape[-2], kh, stride), same_padding(x.shape[-1], kw, stride)]
    return np.pad(x, pads, constant_values=value)


def conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int = 1,
    padding: Padding = "VALID",
    bias: np.ndarray | float | None = None,
) -> np.ndarray:
    """Cross-correlate ``x`` with ``kernel``: the sum of window * kernel at every stride step.

    Shapes: ``x`` [H, W] with ``kernel`` [kh, kw] -> [H', W']; or ``x`` [C, H, W] with
    ``kernel`` [F, C, kh, kw] -> [F, H', W'] (one output channel per filter, each filter one
    kernel per input channel, summed, plus one bias per filter, as the course describes).
    """
    x, kernel = np.asarray(x, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    single = x.ndim == 2
    if single:
        if kernel.ndim != 2:
            raise ValueError(f"a 2-D input needs a 2-D kernel, got kernel shape {kernel.shape}")
        x, kernel = x[None], kernel[None, None]
    if x.ndim != 3 or kernel.ndim != 4 or kernel.shape[1] != x.shape[0]:
        raise ValueError(
            f"expected x [C,H,W] and kernel [F,C,kh,kw] with matching C; got x {x.shape}, "
            f"kernel {kernel.shape}"
        )
    kh, kw = kernel.shape[-2:]
    xp = _pad2d(x, kh, kw, stride, padding, 0.0)
    win = sliding_window_view(xp, (kh, kw), axis=(-2, -1))[:, ::stride, ::stride]
    out = np.einsum("chwij,fcij->fhw", win, kernel)
    if bias is not None:
        out = (
            out
            + np.broadcast_to(np.asarray(bias, dtype=np.float64), (out.shape[0],))[:, None, None]
        )
    return out[0] if single else out


def max_pool2d(
    x: np.ndarray, size: int = 2, stride: int | None = None, padding: Padding = "VALID"
) -> np.ndarray:
    """Max over ``size`` x ``size`` windows of the last two axes; SAME pads with -inf, so a
    padded cell never wins (as in TensorFlow). ``stride`` defaults to ``size``."""
    stride = size if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    xp = _pad2d(x, size, size, stride, padding, -np.inf)
    win = sliding_window_view(xp, (size, size), axis=(-2, -1))
    return win[..., ::stride, ::stride, :, :].max(axis=(-2, -1))


def sobel_response(image: np.ndarray) -> np.ndarray:
    """The horizontal Sobel kernel over a digit (SAME, so the map keeps the image's size)."""
    return conv2d(np.asarray(image, dtype=np.float64), SOBEL_HORIZONTAL, 1, "SAME")
