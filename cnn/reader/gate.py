"""The abstain gate: "is this a digit at all?", answered by several scores turned into p-values.

Each score is fitted on MNIST *training* features only and is higher for a more unusual input
(pytorch-ood's detector convention):

- ``density``: -log p(fc1 features) under class-conditional Gaussians (DDU; ``ClassGaussians``);
- ``residual``: the norm of the fc1 features off their top principal directions (ViM's residual:
  the part of a feature vector no training digit has);
- ``conv2``: tied-covariance Mahalanobis distance to the nearest class mean of the conv2 features,
  reduced by PCA (earlier features: strokes and their layout, before fc1 mixes them);
- ``oe``: the logit of a small "is it a digit?" head on the frozen trunk's features (conv2 and
  fc1 coordinates the other scores compute anyway), trained with outlier exposure: digits
  against generated non-digit proxies. It is a separate output: the digit probabilities stay
  the posterior predictive.

Each score becomes a conformal p-value against drawn *validation* digits (the calibration set),
``p = (1 + #{calibration scores >= s}) / (n + 1)``; the p-values are combined (min-p or Fisher)
into one surprise ``S``, and the abstain threshold is the value of ``S`` that abstains on the
asked share of calibration digits (each judged against the others: leave-one-out p-values).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from cnn.model import DigitCNN, normalize

CONV2_FEATURES = 7 * 7 * 64
SCORE_ORDER = ("density", "residual", "conv2", "oe")  # the graph's p-value columns, in order


# --- the trunk's features ---------------------------------------------------------------------


@dataclass
class Trunk:
    """conv2 (after ReLU and pool, flattened: fc1's input) and fc1 (after ReLU) features."""

    conv2: np.ndarray  # float32 [N, 3136]
    fc1: np.ndarray  # float32 [N, 1024]

    def __len__(self) -> int:
        return len(self.fc1)


def trunk_forward(model: DigitCNN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(conv2 flat, fc1) of pixels [B, 1, 28, 28]: the same ops the served graph runs."""
    x = F.max_pool2d(F.relu(model.conv1(normalize(x))), 2)
    flat = F.max_pool2d(F.relu(model.conv2(x)), 2).flatten(1)
    return flat, F.relu(model.fc1(flat))


@torch.inference_mode()
def trunk_features(model: DigitCNN, pixels: np.ndarray, batch: int = 1000) -> Trunk:
    x = np.asarray(pixels, dtype=np.float32).reshape(-1, 1, 28, 28)
    parts = [
        trunk_forward(model, torch.from_numpy(x[i : i + batch])) for i in range(0, len(x), batch)
    ]
    if not parts:
        return Trunk(np.zeros((0, CONV2_FEATURES), np.float32), np.zeros((0, 1024), np.float32))
    return Trunk(*(torch.cat(column).numpy() for column in zip(*parts, strict=True)))


# --- the scores (higher = more unusual) ---------------------------------------------------------


def top_directions(
    x: np.ndarray, dims: int, sample: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, the top ``dims`` principal directions as columns [D, dims]) of rows ``x``.

    ``sample``: estimate them from this many rows (a 3,136 x 3,136 covariance of 55,000 rows
    costs a minute on two cores; 15,000 rows give the same top directions to within noise)."""
    if sample is not None and sample < len(x):
        x = np.asarray(x)[np.random.default_rng(seed).choice(len(x), sample, replace=False)]
    t = torch.from_numpy(np.asarray(x, np.float32))
    mean = t.double().mean(0)
    centred = t - mean.float()
    if dims * 8 < t.shape[1]:
        # A few of many directions (conv2: 128 of 3,136): randomized SVD, seconds instead of the
        # minutes a full 3,136 x 3,136 eigendecomposition takes on two busy cores.
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            _, _, v = torch.svd_lowrank(centred, q=dims + 32, niter=6)
        return mean.numpy(), v[:, :dims].double().contiguous().numpy()
    covariance = (centred.T @ centred).double() / max(len(t) - 1, 1)
    _, vectors = torch.linalg.eigh(covariance)
    return mean.numpy(), vectors.flip(1)[:, :dims].contiguous().numpy()


@dataclass
class Residual:
    """ViM's residual: || (I - P P^T)(phi - mean) || with P the top ``dims`` directions."""

    dims: int = 200

    def fit(self, feats: np.ndarray) -> Residual:
        self.mean_, self.basis_ = top_directions(feats, self.dims)
        return self

    def score(self, feats: np.ndarray) -> np.ndarray:
        c = np.asarray(feats, np.float64) - self.mean_
        return np.linalg.norm(c - (c @ self.basis_) @ self.basis_.T, axis=1)


@dataclass
class TiedMahalanobis:
    """Squared Mahalanobis distance to the nearest class mean, one covariance shared by all
    classes (Lee et al. 2018), in the top ``dims`` principal directions of the features.

    Fitted as one matrix: ``z = x @ transform_ - offset_`` is already whitened, and the score is
    ``min_c ||z - centres_[c]||^2``."""

    dims: int = 128
    ridge: float = 1e-3  # x the mean variance, added to the shared covariance
    sample: int | None = 15_000  # rows for the principal directions (see top_directions)

    def fit(self, feats: np.ndarray, labels: np.ndarray) -> TiedMahalanobis:
        mean, basis = top_directions(feats, self.dims, self.sample)
        z = (np.asarray(feats, np.float64) - mean) @ basis
        classes = np.unique(labels)
        means = np.stack([z[labels == c].mean(0) for c in classes])
        within = z - means[np.searchsorted(classes, labels)]
        covariance = within.T @ within / len(z)
        covariance += self.ridge * np.trace(covariance) / self.dims * np.eye(self.dims)
        whiten = np.linalg.inv(np.linalg.cholesky(covariance)).T  # W W^T = covariance^-1
        self.transform_ = basis @ whiten  # [D, dims]
        self.offset_ = mean @ self.transform_
        self.centres_ = means @ whiten  # [C, dims]
        return self

    def score(self, feats: np.ndarray) -> np.ndarray:
        z = np.asarray(feats, np.float64) @ self.transform_ - self.offset_
        d2 = (z**2).sum(1)[:, None] - 2 * z @ self.centres_.T + (self.centres_**2).sum(1)
        return d2.min(1)


def oe_inputs(trunk: Trunk, residual: Residual, conv2: TiedMahalanobis) -> np.ndarray:
    """What the digit head reads, [N, k + d + 1]: the fc1 features' coordinates in the residual's
    top directions, the whitened conv2 coordinates, and log(1 + residual norm). The served graph
    computes all three for the other scores already, so the head costs one small MLP."""
    c = np.asarray(trunk.fc1, np.float64) - residual.mean_
    z = np.asarray(trunk.conv2, np.float64) @ conv2.transform_ - conv2.offset_
    r = np.log1p(residual.score(trunk.fc1))[:, None]
    return np.hstack([c @ residual.basis_, z, r]).astype(np.float32)


class DigitHead(torch.nn.Module):
    """ "Is it a digit?" on frozen trunk features: standardize, one hidden layer, one logit
    (positive = not a digit). Standardization is part of the module, so the graph carries it."""

    def __init__(self, inputs: int, hidden: int, mean: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("inv_scale", torch.as_tensor(1 / scale, dtype=torch.float32))
        self.hidden = torch.nn.Linear(inputs, hidden)
        self.out = torch.nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.hidden((x - self.mean) * self.inv_scale)))[:, 0]


@torch.no_grad()
def average_heads(heads: list[DigitHead]) -> DigitHead:
    """One head whose logit is the mean of ``heads``' logits (same standardization): hidden
    units concatenated, output weights divided by their number, output biases averaged."""
    first = heads[0]
    if any(not torch.equal(h.mean, first.mean) for h in heads):
        raise ValueError("heads to average must share their standardization")
    merged = DigitHead(
        first.hidden.in_features,
        sum(h.hidden.out_features for h in heads),
        first.mean.numpy(),
        1 / first.inv_scale.double().numpy(),
    )
    merged.inv_scale.copy_(first.inv_scale)
    merged.hidden.weight.copy_(torch.cat([h.hidden.weight for h in heads]))
    merged.hidden.bias.copy_(torch.cat([h.hidden.bias for h in heads]))
    merged.out.weight.copy_(torch.cat([h.out.weight for h in heads], dim=1) / len(heads))
    merged.out.bias.copy_(torch.stack([h.out.bias for h in heads]).mean(0))
    return merged


@dataclass
class OutlierExposure:
    """The digit head trained with outlier exposure: digits (label 0) vs proxies (label 1) as
    ``oe_inputs`` rows, weighted so both sides count equally; Adam, a few epochs.

    ``members`` heads are trained from seeds ``seed, seed + 1, ...`` and their logits averaged.
    They share the standardization, so the average is exactly one head with all members' hidden
    units side by side and the output weights divided by ``members`` (``head_``): the graph
    runs one wider head. Why: one head's logit on a look-alike (a drawn S) varies a lot from
    seed to seed; the average is steadier (a drawn S abstained on 56-74% of the time by single
    heads, 75% by four averaged, docs/BENCHMARKS.md)."""

    hidden: int = 64
    epochs: int = 8
    batch: int = 1024
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    members: int = 4

    def fit(self, digits: np.ndarray, proxies: np.ndarray) -> OutlierExposure:
        x = np.concatenate([digits, proxies]).astype(np.float32)
        y = np.r_[np.zeros(len(digits)), np.ones(len(proxies))].astype(np.float32)
        mean, scale = x.mean(0), x.std(0) + 1e-3
        weight = np.where(y == 1, len(y) / (2 * len(proxies)), len(y) / (2 * len(digits)))
        xt, yt, wt = (torch.from_numpy(a.astype(np.float32)) for a in (x, y, weight))
        heads = [self._train(xt, yt, wt, mean, scale, self.seed + k) for k in range(self.members)]
        self.head_ = average_heads(heads).eval()
        return self

    def _train(self, xt, yt, wt, mean, scale, seed: int) -> DigitHead:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            head = DigitHead(xt.shape[1], self.hidden, mean, scale)
            optimizer = torch.optim.Adam(
                head.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            for _ in range(self.epochs):
                for idx in torch.randperm(len(yt)).split(self.batch):
                    loss = F.binary_cross_entropy_with_logits(head(xt[idx]), yt[idx], wt[idx])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        return head.eval()

    @torch.inference_mode()
    def score(self, inputs: np.ndarray) -> np.ndarray:
        return self.head_(torch.from_numpy(np.asarray(inputs, np.float32))).double().numpy()


# --- p-values, their combination, the threshold --------------------------------------------


def p_values(calibration: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Conformal p-values: (1 + #{calibration >= s}) / (n + 1) for each score s."""
    cal = np.sort(np.asarray(calibration, np.float64))
    above = len(cal) - np.searchsorted(cal, np.asarray(scores, np.float64), side="left")
    return (1 + above) / (len(cal) + 1)


def loo_p_values(calibration: np.ndarray) -> np.ndarray:
    """Each calibration score's p-value against the *other* n - 1: what a new digit would get
    (exchangeable with them); the in-sample version would count each score against itself."""
    cal = np.asarray(calibration, np.float64)
    above = len(cal) - np.searchsorted(np.sort(cal), cal, side="left")  # includes itself
    return above / len(cal)  # (1 + (above - 1)) / ((n - 1) + 1)


COMBINERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    # -log of the smallest p-value: "abstain if any score flags" (its threshold is set on the
    # calibration digits directly, so no Bonferroni factor is needed).
    "min-p": lambda p: -np.log(p.min(1)),
    # Fisher: -2 sum log p; strong when several scores are mildly unusual together.
    "fisher": lambda p: -2 * np.log(p).sum(1),
}


def abstain_threshold(surprise: np.ndarray, rate: float) -> float:
    """The surprise above which ``rate`` of these (calibration) values lie: half-way between the
    k-th and (k+1)-th largest, k = floor(rate n), so exactly k abstain unless there are ties."""
    s = np.sort(np.asarray(surprise, np.float64))[::-1]
    k = int(math.floor(rate * len(s)))
    if k == 0:
        return float(s[0] + 1e-6 * max(1.0, abs(s[0])))
    return float((s[k - 1] + s[k]) / 2)


@dataclass
class Gate:
    """Fitted scores + their calibration scores on drawn validation digits + the threshold.

    ``uncertainty = max(0, (S - median) / (threshold - median))``: 0 for a drawn digit at least
    as typical as the median calibration digit, 1 at the abstain line."""

    scores: dict[str, Callable[[Trunk], np.ndarray]]
    combine: str = "min-p"
    rate: float = 0.015
    calibration_: dict[str, np.ndarray] = field(default_factory=dict)

    def calibrate(self, drawn: Trunk) -> Gate:
        self.calibration_ = {k: np.sort(f(drawn)) for k, f in self.scores.items()}
        loo = np.stack([loo_p_values(f(drawn)) for f in self.scores.values()], axis=1)
        surprise = COMBINERS[self.combine](loo)
        self.median_ = float(np.median(surprise))
        self.threshold_ = abstain_threshold(surprise, self.rate)
        return self

    def p_values(self, trunk: Trunk) -> np.ndarray:
        """[N, K] p-values, columns in the order of ``scores``."""
        return np.stack(
            [p_values(self.calibration_[k], f(trunk)) for k, f in self.scores.items()], axis=1
        )

    def surprise(self, trunk: Trunk) -> np.ndarray:
        return COMBINERS[self.combine](self.p_values(trunk))

    def uncertainty(self, trunk: Trunk) -> np.ndarray:
        u = (self.surprise(trunk) - self.median_) / (self.threshold_ - self.median_)
        return np.maximum(u, 0.0)
