"""The fixed train/validation split of MNIST's 60,000 training images.

Every choice made while watching held-out data (epochs, recipes, the posterior's prior
precision, temperature, abstain threshold) is made on these 5,000 validation images; the test
set is evaluated once, at the end. The split is fixed by its own seed, independent of the
training seed, so every ensemble member and every posterior sees the same validation images.
"""

from __future__ import annotations

import numpy as np

VALIDATION_SIZE = 5_000
SPLIT_SEED = 0


def train_validation_indices(
    n: int = 60_000, validation_size: int = VALIDATION_SIZE, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), both sorted, disjoint, covering range(n)."""
    if not 0 <= validation_size < n:
        raise ValueError(f"validation_size must lie in [0, {n}), got {validation_size}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[validation_size:]), np.sort(order[:validation_size])
