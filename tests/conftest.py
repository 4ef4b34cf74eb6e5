"""Shared fixtures: real MNIST (from MNIST_DIR, else ../shared/data/mnist), a seeded rng, a blot."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
if "MNIST_DIR" not in os.environ and SHARED_MNIST.exists():
    os.environ["MNIST_DIR"] = str(SHARED_MNIST)

# The bar accuracy tests hold the shipped models to, ONE number: the test accuracy README.md
# publishes for models/mnist_cnn.onnx under "The shipped model" (99.57%, 9,957 / 10,000).
# When the models are retrained, update README.md and this together. The files served from it
# (the Bayesian graph, its INT8) may sit at most 0.1 percentage points below (the INT8 target).
PUBLISHED_TEST_ACCURACY = 0.9957


@pytest.fixture(scope="session")
def accuracy_bar() -> float:
    """What a served model must reach on the 10,000 MNIST test images: the published accuracy
    less 0.1 percentage points."""
    return PUBLISHED_TEST_ACCURACY - 0.001


@pytest.fixture(scope="session")
def blot() -> np.ndarray:
    """A 280x280 canvas (uint8, ink 255 on 0) scribbled over into one filled oval: ink, but no
    digit in it (serving.preprocess.BLOT)."""
    yy, xx = np.mgrid[:280, :280]
    return ((yy - 140) ** 2 / 90**2 + (xx - 140) ** 2 / 120**2 <= 1).astype(np.uint8) * 255


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def mnist_test():
    from cnn.data import load_mnist

    return load_mnist("test")


@pytest.fixture(scope="session")
def mnist_train():
    from cnn.data import load_mnist

    return load_mnist("train")
