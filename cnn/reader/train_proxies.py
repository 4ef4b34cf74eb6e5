"""The non-digit proxies the shipped trunk is TRAINED beside (``cnn train --outlier-exposure``).

The reader's gate trains its "is it a digit?" head on frozen features (``cnn.reader.gate``,
proxies of seed 0); the trunk itself learns to keep non-digits apart when it sees proxies beside
every batch (``cnn/outlier_exposure.py``). These are drawn by the same generators
(``cnn.reader.proxies``: no evaluation set's generator or font) from another seed, in a fixed
mixture of its own: the first proxies' kinds and weights scaled to 70%, Latin letters in the
proxies' fonts 20% (an S, a Z, an A: a trunk trained on digits alone maps them onto a 5, a 2, a
4), ring doodles 10%. Stored as uint8 [N, 28, 28] (a quarter of float32's size).

    python -m cnn proxies --out runs/proxies/train.npy     # 20,000, ~2 minutes on one core

The file's sha256 is recorded in the run's metrics.json (``outlier_exposure_sha256``), so a
retrained trunk can be checked against the proxies it was meant to see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnn.files import sha256_of

COUNT = 20_000
SEED = 1  # the gate's proxies use seed 0: never the same drawings
_FIRST = np.array([0.15, 0.15, 0.08, 0.12, 0.1, 0.08, 0.12, 0.2])  # the v1 mixture's weights
# "1": what the shipped trunk was trained beside. "2": the gate's own version-3 mixture
# (cnn.reader.proxies.KINDS/WEIGHTS: with 10% look-alike S s Z z and more Latin letters); a
# trunk trained beside it read the drawn S no better (docs/BENCHMARKS.md), so "1" stays.
MIXTURES: dict[str, dict[str, float]] = {
    "1": {
        **dict(
            zip(
                ("shuffled", "overlaid", "crop", "polygon", "zigzag", "grid", "arcs", "glyph"),
                (_FIRST / _FIRST.sum() * 0.7).tolist(),
                strict=True,
            )
        ),
        "latin": 0.2,
        "doodle": 0.1,
    },
    "2": dict(
        zip(
            ("shuffled", "overlaid", "crop", "polygon", "zigzag", "grid", "arcs", "glyph")
            + ("latin", "lookalike", "doodle"),
            (
                np.array([3000, 3000, 1600, 2400, 2000, 1600, 2400, 4000, 4000, 3000, 3000])
                / 30_000
            ).tolist(),
            strict=True,
        )
    ),
}
SHIPPED_MIXTURE = "1"
MIXTURE = MIXTURES[SHIPPED_MIXTURE]


def training_proxies(
    count: int = COUNT, seed: int = SEED, progress: bool = False, mixture: str = SHIPPED_MIXTURE
) -> np.ndarray:
    """``count`` proxies in MNIST form, uint8 [count, 28, 28], ink high (deterministic)."""
    from tqdm import tqdm

    from cnn.reader.proxies import MAKERS, one_like
    from serving.preprocess import to_mnist

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if mixture not in MIXTURES:
        raise ValueError(f"unknown mixture {mixture!r}; choose one of {', '.join(MIXTURES)}")
    kinds, weights = list(MIXTURES[mixture]), np.array(list(MIXTURES[mixture].values()))
    rng = np.random.default_rng([seed, 0x0E])
    out = np.zeros((count, 28, 28), np.uint8)
    done = 0
    with tqdm(total=count, desc="proxies", disable=not progress) as bar:
        while done < count:
            x = to_mnist(MAKERS[str(rng.choice(kinds, p=weights))](rng))
            if x is not None and not one_like(x):
                out[done] = np.round(np.clip(x, 0, 1) * 255)
                done += 1
                bar.update()
    return out


def write_training_proxies(
    out: Path | str,
    count: int = COUNT,
    seed: int = SEED,
    progress: bool = True,
    mixture: str = SHIPPED_MIXTURE,
) -> str:
    """Write the proxies to ``out`` (.npy, atomically); return the file's sha256."""
    out = Path(out)
    if out.suffix != ".npy":
        raise ValueError(f"--out {out}: give a .npy file name, e.g. runs/proxies/train.npy")
    pixels = training_proxies(count, seed, progress, mixture)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.npy")
    np.save(partial, pixels)
    partial.replace(out)
    return sha256_of(out)
