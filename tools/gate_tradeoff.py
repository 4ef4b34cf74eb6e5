"""What a looser abstain threshold would buy: the app's shapes against digits abstained.

Why: the served gate abstains above the uncertainty that 1.2% of drawn validation digits
exceed. Moving that rate moves every figure at once; this prints them side by side for a few
rates, from the graph's own ``uncertainty`` output (the threshold scales it: at another rate
the graph would abstain where uncertainty >= the rate's quantile on the calibration set).
Evaluation only: nothing is fitted; MNIST test, 2,000 test digits drawn like the canvas
(seed 1), and cnn.reader.app_shapes' pen drawings (100 writers each).

    PYTHONPATH=. python tools/gate_tradeoff.py --model models/mnist_cnn_bayes.onnx
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from cnn.reader.app_shapes import SHAPES, app_drawings
from cnn.reader.nondigits import drawn_digits, to_pixels
from cnn.reader.pipeline import drawn_pixels
from serving.mnist import load_mnist
from serving.predictor import Predictor


def _run(predictor: Predictor, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction = predictor.predict(pixels)
    return prediction.probabilities, prediction.uncertainty


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/mnist_cnn_bayes.onnx")
    parser.add_argument("--rates", default="0.012,0.015,0.02", help="drawn validation shares")
    args = parser.parse_args(argv)
    predictor = Predictor(args.model)
    if not predictor.bayesian:
        parser.error(f"{args.model} has no uncertainty output: pass the Bayesian graph")
    _, calibration = _run(predictor, drawn_pixels("validation", 5000, 0))
    test = load_mnist("test")
    _, mnist = _run(predictor, test.images.astype(np.float32) / 255)
    _, drawn = _run(predictor, drawn_digits(test.images, test.labels, 2000, 1).pixels)
    shapes = {}
    for name in (*SHAPES, "flagged 1"):
        found = app_drawings(name, 100)
        shapes[name] = _run(predictor, to_pixels(found, [0] * len(found)).pixels)
    names = [f"{n} abstained" for n in SHAPES]
    print(
        f"| rate | threshold | MNIST abstained | drawn test abstained | {' | '.join(names)} "
        "| flagged 1 read as 1 |"
    )
    print("|" + " --- |" * (5 + len(SHAPES)))
    for rate in (float(r) for r in args.rates.split(",")):
        threshold = float(np.quantile(calibration, 1 - rate))
        row = [
            f"{rate:.1%}",
            f"{threshold:.2f}",
            f"{(mnist >= threshold).mean():.2%}",
            f"{(drawn >= threshold).mean():.2%}",
        ]
        row += [f"{(shapes[n][1] >= threshold).mean():.0%}" for n in SHAPES]
        probabilities, uncertainty = shapes["flagged 1"]
        read = (uncertainty < threshold) & (probabilities.argmax(1) == 1)
        row.append(f"{read.mean():.0%}")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
