"""Shared fixtures: real MNIST (from MNIST_DIR, else ../shared/data/mnist), a seeded rng."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
if "MNIST_DIR" not in os.environ and SHARED_MNIST.exists():
    os.environ["MNIST_DIR"] = str(SHARED_MNIST)


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
