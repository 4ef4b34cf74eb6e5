"""The reader commands' config dataclasses, apart from the work they configure.

Why: ``python -m cnn posterior|uncertainty|number-eval|adapt-eval --help`` show these defaults,
and the modules that do the work import torch, ONNX, SciPy or ONNX Runtime. This module imports
nothing heavier than dataclasses and pathlib; pipeline.py, uncertainty.py, number_eval.py and
adapt_eval.py re-export their config from here, so existing imports keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ABSTAIN_RATE = 0.012  # share of drawn validation digits the served graph's gate abstains on
ADAPT_COUNTS = (1, 2, 5, 10)  # labelled drawings per digit that adapt-eval teaches with


@dataclass(frozen=True)
class PosteriorConfig:
    """Defaults fit the shipped model in a few minutes on a laptop CPU."""

    model: Path = Path("models/mnist_cnn.onnx")  # the MAP export (`python -m cnn export`)
    out: Path = Path("models/mnist_cnn_bayes.onnx")
    # diag: the served quadratic form is one [1024, 10] product; kron's dense 1024x1024 eigenbasis
    # made the batch-1 graph 1.35-1.47x slower than the MAP graph (the budget is 1.25x).
    structure: str = "diag"
    density_variance: float = 0.90  # PCA directions kept: this share of the feature variance
    # Scores whose p-values enter the gate, and how they combine (min-p | fisher), compared in
    # docs/BENCHMARKS.md (conv2's Mahalanobis added nothing there; its whitened coordinates
    # still feed the OE head). min-p: one score alone can abstain. Under Fisher it could not:
    # a p-value is at least 1/(n + 1), so with two scores calling a drawn S typical (p ~ 0.15)
    # the OE head's smallest p-value stayed under the line, and S was shown as a 5.
    gate: tuple[str, ...] = ("density", "residual", "oe")
    combine: str = "min-p"
    residual_dims: int = 200  # ViM: principal directions of fc1 features kept out
    conv2_dims: int = 128  # conv2 features' PCA dimensions for the tied Mahalanobis
    proxies: int = 30_000  # generated non-digit proxies for the outlier-exposure head
    drawn_train: int = 5_000  # training digits drawn like the canvas, on the head's digit side
    # On drawn validation digits (targets: <= 2% of drawn digits, <= 1% of MNIST test digits,
    # which the gate finds slightly less typical than drawn ones relative to the threshold).
    abstain_rate: float = ABSTAIN_RATE
    drawn_validation: int = 5000  # validation digits drawn like the canvas: the calibration set
    temperature: bool = True  # fit a predictive temperature on the validation NLL
    check_images: int = 1000  # test images of the parity check
    limit: int | None = None  # fit on the first N training images only (smoke tests)
    cache: Path = Path("runs/posterior")  # features, keyed by the model file's hash
    seed: int = 0


@dataclass(frozen=True)
class UncertaintyConfig:
    """Sizes keep a full run to a few minutes on a laptop CPU once features are cached."""

    model: Path = Path("models/mnist_cnn.onnx")  # the MAP model
    bayes: Path = Path("models/mnist_cnn_bayes.onnx")  # the served Bayesian graph
    ensemble: tuple[Path, ...] = ()  # member ONNX files (the MAP model may be one of them)
    drawn: int = 2000  # drawn-like digits, validation and test each
    nondigits: int = 300  # drawings per non-digit set (own and held-out)
    heldout_digits: int = 1000  # pen digits by held-out writers (cnn.reader.heldout)
    mc_samples: int = 30  # MC dropout passes
    abstain_rate: float = ABSTAIN_RATE  # same rule as the served graph's threshold
    cache: Path = Path("runs/posterior")
    figures: Path | None = Path("docs")
    seed: int = 0


@dataclass(frozen=True)
class NumberEvalConfig:
    """How many numbers per canvas and the seed that picks writers, digits and gaps.
    development: writers of the development tag (tune the splitter on these), not the
    evaluation's (report only)."""

    count: int = 200
    seed: int = 0
    min_digits: int = 2
    max_digits: int = 4
    development: bool = False

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError("need 1 <= min_digits <= max_digits")


@dataclass(frozen=True)
class AdaptEvalConfig:
    model: Path = Path("models/mnist_cnn_bayes.onnx")
    writers: int = 2
    new_per_digit: int = 50  # new drawings per digit and writer (the evaluation)
    counts: tuple[int, ...] = ADAPT_COUNTS
    finetune_iterations: int = 100
    nondigits_per_set: int = 50  # held-out pen letters, shapes, scribbles, numbers, font glyphs
    figure: Path | None = Path("docs/adapt.png")
    timing: bool = True  # time a cold `python -m serving adapt` on 5 examples per digit
    seed: int = 0
