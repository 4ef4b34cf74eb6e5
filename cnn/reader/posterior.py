"""A posterior over the trained digit CNN's last layer, and a density of its features.

Training with a weight penalty gives the MAP estimate, not a posterior. Here the posterior of the
last layer (1,024 features -> 10 logits) is a Laplace approximation fitted with laplace-torch
(the prior precision chosen by maximizing the marginal likelihood, the evidence: the same idea
``bayes/`` uses to pick the polynomial degree), and predictions use the probit approximation of
the posterior predictive. A Laplace posterior widens the predictive far from the training data
only along directions the last layer has weights in, so "is this a digit at all?" is answered
by a second, generative model of the features: class-conditional Gaussians (as in Deep
Deterministic Uncertainty) in the top principal directions of the training features. Its
log-density is one of the abstain gate's scores (cnn.reader.gate); cnn.reader.graph bakes the
predictive and the gate into one ONNX graph.

Fitting needs laplace-torch (``pip install --no-deps -r .ci/posterior-requirements.txt``); the
served graph needs nothing but ONNX Runtime.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnn.model import DigitCNN

LAPLACE_HINT = (
    "laplace-torch is not installed; it is needed only to fit the posterior: "
    "pip install --no-deps -r .ci/posterior-requirements.txt"
)


def feature_batches(model: DigitCNN, pixels: np.ndarray, batch: int = 1000) -> np.ndarray:
    """The 1,024 penultimate features (after fc1's ReLU, before dropout), float32 [N, 1024]."""
    from cnn.reader.gate import trunk_features

    return trunk_features(model, pixels, batch).fc1


# --- last-layer Laplace (laplace-torch) -----------------------------------------------------


def head_model(model: DigitCNN) -> nn.Sequential:
    """The last layer alone, fed with features: laplace-torch's last-layer Laplace then needs no
    CNN forward pass per fit (identical maths: the last layer only ever sees the features)."""
    return nn.Sequential(OrderedDict(features=nn.Identity(), fc2=model.fc2)).eval()


def fit_last_layer_laplace(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    structure: str = "diag",
    prior_precision: float | None = None,
):
    """laplace-torch's last-layer Laplace; prior precision by marginal likelihood unless given."""
    try:
        from laplace import Laplace
        from laplace.curvature import BackPackGGN
    except ImportError as exc:
        raise ImportError(LAPLACE_HINT) from exc

    # BackPack's exact diagonal GGN: 0.25 s for 5,000 images where the default backend (explicit
    # per-image Jacobians) takes 70 s; same numbers (tested against a brute-force sum).
    backend = {"backend": BackPackGGN} if structure == "diag" else {}
    la = Laplace(
        model,
        "classification",
        subset_of_weights="last_layer",
        hessian_structure=structure,
        last_layer_name="fc2",
        prior_precision=1.0 if prior_precision is None else prior_precision,
        **backend,
    )
    with warnings.catch_warnings():
        # BackPack's hook notice and a reminder to pass link_approx: noise here.
        warnings.simplefilter("ignore", UserWarning)
        la.fit(loader, progress_bar=False)
        if prior_precision is None:
            la.optimize_prior_precision(method="marglik", pred_type="glm", link_approx="probit")
    return la


def diag_variances(la) -> tuple[np.ndarray, np.ndarray]:
    """(weight variances [1024, 10], bias variances [10]) of a diagonal last-layer Laplace.

    laplace-torch orders the last layer's parameters as fc2.weight [10, 1024] row-major, then
    fc2.bias [10]; with a diagonal posterior the logit variance of class c is
    sum_i phi_i^2 var(W[c, i]) + var(b[c]): one [1024, 10] matrix product."""
    variance = la.posterior_variance.detach().double().numpy()
    classes, features = la.model.last_layer.weight.shape
    weights = variance[: classes * features].reshape(classes, features).T
    return weights, variance[classes * features :]


def probit_probabilities(logits: np.ndarray, variance: np.ndarray, temperature: float = 1.0):
    """softmax(kappa * logits / T), kappa = 1/sqrt(1 + pi/8 var): the probit predictive."""
    from scipy.special import softmax

    kappa = 1.0 / np.sqrt(1.0 + math.pi / 8 * variance)
    return softmax(kappa * logits / temperature, axis=1)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, scale: np.ndarray | None = None):
    """The T > 0 minimizing the NLL of softmax(scale * logits / T) on held-out data."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    z = logits * (1.0 if scale is None else scale)

    def nll(log_t: float) -> float:
        return -float(log_softmax(z / math.exp(log_t), axis=1)[np.arange(len(z)), labels].mean())

    return math.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x)


# --- class-conditional Gaussians over the features (DDU) ------------------------------------


@dataclass
class ClassGaussians:
    """Class-conditional Gaussians over (optionally PCA-reduced) features; density = mixture.

    ``dims`` None keeps all 1,024 features; otherwise the top principal directions of the
    training features. The ridge added to each class covariance is chosen by the held-out
    log-likelihood of validation digits (MNIST only)."""

    dims: int | None = None
    ridges: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)

    def fit(self, feats, labels, val_feats, val_labels) -> ClassGaussians:
        x = np.asarray(feats, np.float64)
        self.mean_ = x.mean(0)
        if self.dims is None:
            self.projection_ = np.eye(x.shape[1])
        else:
            _, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
            self.projection_ = vectors[:, ::-1][:, : self.dims].copy()
        z, zv = self.project(x), self.project(val_feats)
        classes = np.unique(labels)
        self.log_prior_ = np.log(np.bincount(labels, minlength=len(classes)) / len(labels))
        self.class_means_ = np.stack([z[labels == c].mean(0) for c in classes])
        covariances = [np.cov(z[labels == c], rowvar=False) for c in classes]
        scale = float(np.mean([np.trace(c) for c in covariances]) / z.shape[1])
        scores = {}
        for ridge in self.ridges:
            self._set_covariances(covariances, ridge * scale)
            scores[ridge] = float(self._log_joint(zv)[np.arange(len(zv)), val_labels].mean())
        self.ridge_ = max(scores, key=scores.get)
        self.ridge_scores_ = scores
        self._set_covariances(covariances, self.ridge_ * scale)
        return self

    def project(self, feats: np.ndarray) -> np.ndarray:
        return (np.asarray(feats, np.float64) - self.mean_) @ self.projection_

    def _set_covariances(self, covariances: list[np.ndarray], ridge: float) -> None:
        eye = np.eye(covariances[0].shape[0])
        # Whitening W_c with W_c W_c^T = inverse covariance: Mahalanobis = ||(z - mu_c) W_c||^2.
        chol = [np.linalg.cholesky(c + ridge * eye) for c in covariances]
        self.whiten_ = np.stack([np.linalg.inv(c).T for c in chol])  # [C, d, d]
        logdet = np.array([2 * np.log(np.diag(c)).sum() for c in chol])
        d = covariances[0].shape[0]
        self.log_norm_ = self.log_prior_ - 0.5 * logdet - 0.5 * d * math.log(2 * math.pi)

    def _log_joint(self, z: np.ndarray) -> np.ndarray:
        """log p(z, class) for every class, [N, C]."""
        maha = np.stack(
            [
                (((z - mu) @ w) ** 2).sum(1)
                for mu, w in zip(self.class_means_, self.whiten_, strict=True)
            ],
            axis=1,
        )
        return self.log_norm_ - 0.5 * maha

    def log_density(self, feats: np.ndarray) -> np.ndarray:
        """log p(features) under the mixture, [N]: low = unlike any training digit."""
        from scipy.special import logsumexp

        out = [
            logsumexp(self._log_joint(self.project(feats[i : i + 2000])), axis=1)
            for i in range(0, len(feats), 2000)
        ]
        return np.concatenate(out) if out else np.zeros(0)
