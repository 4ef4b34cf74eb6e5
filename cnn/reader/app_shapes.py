"""What a new visitor tries first in the app: a drawn A, S and smiley, and a 1 with a flag.

Issue 20 asks the app to say "Not sure this is a digit" for the first three and to read the
fourth as 1. This measures it the way the app does it: each drawing made with the app's round
pen on its 280x280 canvas (``cnn.reader.pen``, by ``count`` writers of ``pen.writer_style``:
slant, size, place, pen width and wobble vary), through the app's preprocessing
(``serving.preprocess.to_mnist``) and the served ONNX graph. A drawing counts as *abstained*
when the graph's ``uncertainty >= 1`` (the app's "Not sure this is a digit"), and as *shown at
>= 99%* when it is answered with a probability of at least 0.99.

EVALUATION ONLY: these drawings train and tune nothing (``cnn.reader.proxies`` does not use the
pen module). Run: ``python -m cnn app-shapes [--model PATH] [--count N]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

SHAPES = ("A", "S", "smiley")
WRITER_BASE = 7000  # writer_style seeds 7000.. : writers of this measurement only


@dataclass(frozen=True)
class ShapeResult:
    name: str
    drawings: int
    abstained: float  # share with uncertainty >= 1
    shown99: float  # share answered with probability >= 0.99
    read_as: dict[int, float]  # answered digit -> share of all drawings (answered ones only)


def app_drawings(name: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` 280x280 drawings of ``name`` ("A", "S", "smiley" or "flagged 1"), one writer
    each."""
    from cnn.reader import pen

    drawings = []
    for k in range(count):
        writer = pen.writer_style(WRITER_BASE + k)
        rng = np.random.default_rng([seed, WRITER_BASE + k, len(name)])
        if name == "flagged 1":
            drawings.append(pen.pen_digit(1, replace(writer, one_flag=True), rng))
        else:
            drawings.append(pen.pen_glyph(name, writer, rng))
    return drawings


def measure(
    model: Path | str = Path("models/mnist_cnn_bayes.onnx"), count: int = 100, seed: int = 0
) -> list[ShapeResult]:
    """Abstained / shown-at-99% / read-as shares of each shape and the flagged 1."""
    import onnxruntime as ort

    from cnn.reader.nondigits import to_pixels

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    results = []
    for name in (*SHAPES, "flagged 1"):
        drawings = app_drawings(name, count, seed)
        pixels = to_pixels(drawings, [0] * len(drawings)).pixels
        probabilities, uncertainty = session.run(
            ["probabilities", "uncertainty"], {"pixels": pixels[:, None]}
        )
        abstain = uncertainty >= 1
        confident = probabilities.max(1) >= 0.99
        digits = probabilities.argmax(1)[~abstain]
        read_as = {int(d): float((digits == d).sum() / count) for d in np.unique(digits)}
        results.append(
            ShapeResult(
                name,
                count,
                float(abstain.sum() / count),  # a drawing read as empty counts as not abstained
                float((confident & ~abstain).sum() / count),
                read_as,
            )
        )
    return results


def report(results: list[ShapeResult]) -> str:
    lines = [
        "| drawing | abstained | shown at >= 99% | answered as |",
        "| --- | ---: | ---: | --- |",
    ]
    for r in results:
        answered = ", ".join(
            f"{d}: {share:.0%}" for d, share in sorted(r.read_as.items(), key=lambda kv: -kv[1])
        )
        lines.append(f"| {r.name} | {r.abstained:.0%} | {r.shown99:.0%} | {answered or '-'} |")
    return "\n".join(lines)
