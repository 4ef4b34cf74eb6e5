"""Training settings: the recipes and ``TrainConfig``, without torch, so that
``python -m cnn train --help`` can show the defaults at once (cnn/train.py re-exports them)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from typing import Any

from cnn.splits import VALIDATION_SIZE

# The course's handout: Adam lr 1e-4, batch 50, 20,000 steps, dropout 0.5, no augmentation, no
# schedule. "default" is this project's recipe (one-cycle to a 20x larger peak, augmentation).
RECIPES: dict[str, dict[str, Any]] = {
    "default": dict(
        epochs=12, steps=None, batch_size=128, lr=2e-3, schedule="onecycle", augment=True
    ),
    "course": dict(
        epochs=None, steps=20_000, batch_size=50, lr=1e-4, schedule="constant", augment=False
    ),
}
# Settings a resumed run must share with the checkpoint it continues.
RESUME_KEYS = (
    "recipe", "epochs", "steps", "seed", "batch_size", "lr", "schedule", "beta1", "limit",
    "augment", "dropout", "validation_size", "outlier_exposure", "oe_weight", "oe_batch",
)  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    epochs: int | None = 12  # None: derived from ``steps``
    steps: int | None = None  # total optimizer steps; overrides epochs when set
    out: str = "runs/mnist"
    device: str = "auto"
    seed: int = 0
    recipe: str = "default"
    batch_size: int = 128  # global: split over torchrun's processes
    lr: float = 2e-3  # constant rate, or the peak of the one-cycle schedule
    schedule: str = "onecycle"  # onecycle | constant
    beta1: float = 0.9  # Adam's β1, as in the course; one-cycle never cycles it
    dropout: float = 0.5
    augment: bool = True
    validation_size: int = VALIDATION_SIZE
    limit: int | None = None  # use only the first N images of the training part
    test_limit: int | None = None  # evaluate on the first N test images (quick runs)
    resume: bool = False
    overwrite: bool = False
    log_every: int = 10  # steps between entries of the training-loss curve
    compile: bool = False  # capture the step with torch.compile (CUDA graphs on CUDA)
    compile_backend: str = "inductor"  # aot_eager/eager: the capture path without codegen
    # Outlier exposure: a .npy of non-digit proxies (float [N, 28, 28] in [0, 1], ink high, e.g.
    # cnn.reader.proxies) seen beside every batch by an auxiliary "is it a digit?" output on fc1
    # (cnn.train.OE_HEAD): it shapes the trunk's features; the exported network is unchanged.
    outlier_exposure: str | None = None
    oe_weight: float = 0.5  # weight of the auxiliary loss beside the digits' cross-entropy
    oe_batch: int = 64  # proxies per step
    command: str = field(default_factory=lambda: shlex.join(["python", "-m", "cnn", *sys.argv[1:]]))


def recipe_config(recipe: str = "default", **overrides: Any) -> TrainConfig:
    """A named recipe's settings, with any explicit (non-None) overrides on top."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    settings = {**RECIPES[recipe], **{k: v for k, v in overrides.items() if v is not None}}
    if overrides.get("epochs") is not None and overrides.get("steps") is None:
        settings["steps"] = None  # an explicit --epochs wins over the recipe's step count
    return TrainConfig(recipe=recipe, **settings)
