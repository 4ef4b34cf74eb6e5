"""Teach the reader one person's handwriting: a Bayesian update of the served posterior.

The served graph carries a diagonal Laplace posterior over its last layer (1,024 features -> 10
logits), fitted on MNIST's 55,000 training images. That posterior is the prior here: a few
labelled drawings of one writer are the new data, and the new posterior is again a Laplace
approximation,

    MAP:        argmin  1/2 sum_j prec_j (theta_j - mean_j)^2  +  w sum_n CE(W phi_n + b, y_n)
    precision:  prec + w * diag GGN of the examples at the new MAP,

the same diagonal GGN laplace-torch used for the prior. ``w`` is a likelihood weight per
example (1 = plain Bayes; larger says "this writer's drawings count more for this writer than
one MNIST image": a power likelihood). It is stated in the metadata. Weight 1 is the default:
measured on two held-out writers it reaches the targets at 5 drawings per digit, where the
weight leave-one-out on the examples prefers (10-300) reads the writer a little better but costs
MNIST accuracy the examples cannot show (docs/BENCHMARKS.md).

The abstain gate learns the writer too. Its digits may sit where MNIST has few (a 1 with a flag),
so the base gate finds them unusual. For each taught digit the writer gets a Gaussian in the base
graph's own density space (its PCA projection, read from the graph), updated conjugately
(Normal-inverse-Wishart): the prior mean is MNIST's class mean (``mean_prior`` pseudo-drawings),
the prior covariance MNIST's class covariance (``cov_prior`` degrees of freedom beyond d + 1).
By default (``gate_mode="mixture"``) these Gaussians join the base density's class mixture with
weight ``writer_share`` beside MNIST's: the density score of the writer's digits drops, and the
gate's other scores (residual, outlier-exposure head) still judge every drawing. The
alternative ``"min"`` serves min(base uncertainty, the writer's own gate), whose line is an F
quantile of the Student-t predictive; it also overrides the other scores, and let more
non-digits through (docs/BENCHMARKS.md). Digits without examples keep their prior.

Pure ONNX + numpy/scipy: the graph surgery (which initializers hold what) is isolated in
``HeadSpec`` / ``read_head`` / ``write_graph``, so a re-exported gate changes only those.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from serving.adapt_config import WEIGHT_GRID, AdaptConfig  # noqa: F401 (re-exported)
from serving.session import CLASSES, DEFAULT_MODEL, UNCERTAINTY

FEATURES = 1024
METHOD = (
    "Laplace update of the served last-layer posterior (diag prior -> MAP by Newton + diag GGN); "
    "gate: the writer's Normal-inverse-Wishart class Gaussians added to the density's mixture"
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class AdaptError(ValueError):
    """Bad examples folder, base model or output path: one line naming the problem and the fix."""


# --- the math: a Laplace update of a softmax regression with a diagonal Gaussian prior -------


@dataclass
class LastLayer:
    """A diagonal Gaussian over the last layer: mean (weight [C, D], bias [C]) and variances."""

    weight: np.ndarray  # [C, D]
    bias: np.ndarray  # [C]
    weight_var: np.ndarray  # [C, D]
    bias_var: np.ndarray  # [C]

    def logits(self, feats: np.ndarray) -> np.ndarray:
        return np.asarray(feats, np.float64) @ self.weight.T + self.bias

    def predictive(self, feats: np.ndarray, temperature: float) -> np.ndarray:
        """The served probit predictive: softmax(logits / (T sqrt(1 + pi/8 var)))."""
        x = np.asarray(feats, np.float64)
        var = (x * x) @ self.weight_var.T + self.bias_var
        return softmax(self.logits(x) / (temperature * np.sqrt(1 + math.pi / 8 * var)))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def laplace_update(
    prior: LastLayer,
    feats: np.ndarray,
    labels: np.ndarray,
    weight: float = 1.0,
    tolerance: float = 1e-14,
    max_iterations: int = 50,
    start: LastLayer | None = None,
) -> tuple[LastLayer, dict]:
    """The Laplace posterior given labelled features: the MAP by Newton's method, then diag
    precision = prior precision + weight * sum_n diag GGN_n at the MAP (GGN of the softmax
    cross-entropy: p_c (1 - p_c) phi_i^2 for W[c, i], p_c (1 - p_c) for b[c]).

    Why Newton and not L-BFGS: the Hessian is the diagonal prior precision plus a rank <= N C
    term, so Woodbury solves a Newton step exactly in an [N C, N C] system (50 examples: 500),
    and the MAP is reached in a handful of steps (L-BFGS-B needed 3 s for the same on 10,250
    parameters). ``start``: a warm start (leave-one-out refits). No examples: the prior itself.
    """
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    labels = np.asarray(labels, np.int64)
    if len(labels) == 0:
        return prior, {"iterations": 0, "converged": True}
    feats = np.asarray(feats, np.float64).reshape(len(labels), -1)
    # [500, 500] solves: one BLAS thread is fastest (two threads on a busy 2-core box: 40x slower).
    with threadpool_limits(1):
        return _newton(prior, feats, labels, weight, tolerance, max_iterations, start)


class _Problem:
    """The negative log posterior of a softmax regression with a diagonal Gaussian prior, and
    exact Newton steps: the Hessian is diag(prior precision) + weight * sum_n J_n^T A_n J_n
    (A_n = diag(p_n) - p_n p_n^T), a diagonal plus rank <= N C, so Woodbury solves it through an
    [N C, N C] system. Parameters are [C, D + 1]: the weights with the bias as last column."""

    def __init__(self, prior: LastLayer, feats: np.ndarray, labels: np.ndarray, weight: float):
        classes, n = len(prior.bias), len(labels)
        self.x = np.concatenate([feats, np.ones((n, 1))], axis=1)  # [N, D + 1]
        self.mean = np.concatenate([prior.weight, prior.bias[:, None]], axis=1)
        self.precision = 1 / np.concatenate([prior.weight_var, prior.bias_var[:, None]], axis=1)
        self.onehot = np.eye(classes)[labels]
        self.weight = float(weight)
        # X diag(1 / prec_c) X^T for every class: [C, N, N]
        self.gram = np.stack([(self.x / pc) @ self.x.T for pc in self.precision])

    def value(self, theta: np.ndarray) -> float:
        z = self.x @ theta.T
        delta = theta - self.mean
        return 0.5 * float((self.precision * delta * delta).sum()) - self.weight * float(
            (self.onehot * (z - _logsumexp(z))).sum()
        )

    def gradient(self, theta: np.ndarray, p: np.ndarray) -> np.ndarray:
        return self.precision * (theta - self.mean) + self.weight * (p - self.onehot).T @ self.x

    def roots(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L_n with L_n L_n^T = diag(p_n) - p_n p_n^T (L = diag(sqrt p) - p sqrt(p)^T, as
        sum p = 1), [N, C, C]; and the inner matrix I + w B D^-1 B^T, [N C, N C]."""
        n, classes = p.shape
        root = np.sqrt(p)
        lower = np.einsum("nc,cj->ncj", root, np.eye(classes)) - np.einsum("nc,nj->ncj", p, root)
        inner = self.weight * np.einsum(
            "ncj,mck,cnm->njmk", lower, lower, self.gram, optimize=True
        ).reshape(n * classes, n * classes)
        return lower, inner + np.eye(n * classes)

    def solve(self, v: np.ndarray, lower: np.ndarray, inner, rows=None) -> np.ndarray:
        """H^-1 v for v [C, D + 1] (Woodbury); ``rows``: only these examples' curvature.
        ``inner``: the [N C, N C] inner matrix, or a function applying its inverse."""
        x = self.x if rows is None else self.x[rows]
        scale = math.sqrt(self.weight)
        d_inv_v = v / self.precision
        b_v = scale * np.einsum("ncj,nc->nj", lower, x @ d_inv_v.T).ravel()
        solved = inner(b_v) if callable(inner) else np.linalg.solve(inner, b_v)
        s = solved.reshape(len(x), -1)
        return d_inv_v - scale * (np.einsum("ncj,nj->nc", lower, s).T @ x) / self.precision


def _newton(prior, feats, labels, weight, tolerance, max_iterations, start):
    problem = _Problem(prior, feats, labels, weight)
    theta = problem.mean.copy()
    if start is not None:
        theta = np.concatenate([start.weight, start.bias[:, None]], axis=1)
    current, converged, step = problem.value(theta), False, 0
    for step in range(max_iterations):
        p = softmax(problem.x @ theta.T)  # [N, C]
        grad = problem.gradient(theta, p)
        direction = -problem.solve(grad, *problem.roots(p))
        decrement = -float((grad * direction).sum())  # Newton decrement^2: 2x the gap, about
        if decrement < tolerance:
            converged = True
            break
        t = 1.0
        while True:  # backtracking (Armijo): the objective is strictly convex
            candidate = problem.value(theta + t * direction)
            if candidate <= current - 0.25 * t * decrement or t < 1e-8:
                break
            t *= 0.5
        theta, current = theta + t * direction, candidate
    return _posterior(prior, feats, theta, weight), {"iterations": step, "converged": converged}


def _posterior(prior: LastLayer, feats: np.ndarray, theta: np.ndarray, weight) -> LastLayer:
    """Mean theta; variance 1 / (prior precision + weight * diag GGN at theta)."""
    w, b = theta[:, :-1], theta[:, -1]
    p = softmax(feats @ w.T + b)
    curvature = weight * p * (1 - p)  # [N, C]
    ggn_w = curvature.T @ (feats * feats)  # [C, D]
    ggn_b = curvature.sum(0)
    return LastLayer(w, b, 1 / (1 / prior.weight_var + ggn_w), 1 / (1 / prior.bias_var + ggn_b))


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return top + np.log(np.exp(z - top).sum(axis=1, keepdims=True))


def leave_one_out(
    prior: LastLayer,
    feats: np.ndarray,
    labels: np.ndarray,
    weight: float,
    temperature: float,
) -> np.ndarray:
    """Each example's served predictive probabilities under the posterior given the *other*
    examples: [N, C]. That posterior is one exact Newton step from the full MAP on the
    objective without the example (its Hessian without the example's curvature), the usual
    approximate leave-one-out: ~50x cheaper than refitting, and a refit's first step is this."""
    from threadpoolctl import threadpool_limits

    feats = np.asarray(feats, np.float64)
    labels = np.asarray(labels, np.int64)
    full, _ = laplace_update(prior, feats, labels, weight)
    with threadpool_limits(1):  # small matrices: one BLAS thread is fastest (see laplace_update)
        return _leave_one_out(prior, feats, labels, weight, temperature, full)


def _leave_one_out(prior, feats, labels, weight, temperature, full) -> np.ndarray:
    problem = _Problem(prior, feats, labels, weight)
    theta = np.concatenate([full.weight, full.bias[:, None]], axis=1)
    p = softmax(problem.x @ theta.T)
    lower, inner = problem.roots(p)
    classes, n = p.shape[1], len(labels)
    curvature = weight * p * (1 - p)
    # The inner matrix without example i's rows and columns, inverted from the full inverse by
    # the block (Schur) formula: one [N C]^2 inverse instead of N solves.
    inverse = np.linalg.inv(inner)
    out = np.zeros((n, classes))
    for i in range(n):
        keep = np.arange(n) != i
        cols = np.repeat(keep, classes)
        block = np.linalg.inv(inverse[np.ix_(~cols, ~cols)])
        kept, cross = inverse[np.ix_(cols, cols)], inverse[np.ix_(cols, ~cols)]

        def apply(b, kept=kept, cross=cross, block=block):
            return kept @ b - cross @ (block @ (cross.T @ b))

        # gradient of the objective without example i at the full MAP: -w (p_i - y_i) x_i
        v = weight * np.outer(p[i] - problem.onehot[i], problem.x[i])
        theta_i = theta + problem.solve(v, lower[keep], apply, keep)
        var = LastLayer(
            theta_i[:, :-1],
            theta_i[:, -1],
            1 / (1 / full.weight_var - curvature[i][:, None] * feats[i] ** 2),
            1 / (1 / full.bias_var - curvature[i]),
        )
        out[i] = var.predictive(feats[i : i + 1], temperature)[0]
    return out


def choose_weight(
    prior: LastLayer,
    feats: np.ndarray,
    labels: np.ndarray,
    temperature: float,
    grid: Sequence[float] = WEIGHT_GRID,
) -> tuple[float, dict[float, float]]:
    """The likelihood weight with the best leave-one-out log predictive on the examples (the
    smallest within 0.01 nats per example of the best: the least departure from plain Bayes)."""
    if len(labels) < 2:
        return float(grid[0]), {}
    own = np.arange(len(labels)), labels
    scores = {
        float(w): float(
            np.mean(np.log(leave_one_out(prior, feats, labels, w, temperature)[own] + 1e-12))
        )
        for w in grid
    }
    best = max(scores.values())
    return min(w for w, s in scores.items() if s >= best - 0.01), scores


# --- the writer's gate: class-conditional Gaussians in the base density's space --------------


@dataclass
class Density:
    """The base graph's class-conditional Gaussians: y = phi @ projection (uncentred); class c's
    half squared Mahalanobis distance is |(y - centre_c) whiten_c|^2."""

    projection: np.ndarray  # [D, d]
    whiten: np.ndarray  # [C, d, d]
    centres: np.ndarray  # [C, d]: the MNIST class means in y space


@dataclass
class WriterGate:
    """One Student-t per taught digit (the Normal-inverse-Wishart predictive); its uncertainty
    u_k = (m_k - median_k) / (line_k - median_k) with m_k the squared Mahalanobis distance under
    the predictive's scale; the gate's is max(0, min_k u_k)."""

    digits: np.ndarray  # [K]
    projection: np.ndarray  # [D, d]
    whiten: np.ndarray  # [K, d, d]: whiten_k whiten_k^T = the predictive's scale^-1
    centres: np.ndarray  # [K, d]
    median: np.ndarray  # [K]: median of m_k for a new drawing of digit k (d F(d, dof_k))
    line: np.ndarray  # [K]: the (1 - tail) quantile of m_k
    dof: np.ndarray  # [K]: the Student-t's degrees of freedom

    def uncertainty(self, feats: np.ndarray) -> np.ndarray:
        y = np.asarray(feats, np.float64) @ self.projection
        m = np.stack(
            [(((y - c) @ w) ** 2).sum(1) for c, w in zip(self.centres, self.whiten, strict=True)],
            axis=1,
        )
        return np.maximum(0.0, ((m - self.median) / (self.line - self.median)).min(1))


def writer_gate(
    density: Density,
    feats: np.ndarray,
    labels: np.ndarray,
    mean_prior: float,
    cov_prior: float,
    tail: float,
) -> WriterGate | None:
    """Conjugate Normal-inverse-Wishart update of each taught digit's Gaussian in the base
    density's space. Prior: mean = MNIST's class mean (``mean_prior`` pseudo-drawings),
    covariance with expectation MNIST's class covariance and d + 1 + ``cov_prior`` degrees of
    freedom. A writer whose digits sit away from MNIST's (a flagged 1) widens the covariance
    along that direction; the predictive for a new drawing is a Student-t, and its squared
    Mahalanobis distance / d is F(d, dof) distributed: the abstain line is an F quantile.
    None without examples."""
    from scipy.stats import f as f_dist

    labels = np.asarray(labels, np.int64)
    digits = np.unique(labels)
    if len(digits) == 0:
        return None
    y = np.asarray(feats, np.float64) @ density.projection
    d = density.projection.shape[1]
    centres, whiten, median, line, dofs = [], [], [], [], []
    for c in digits:
        own = y[labels == c]
        n = len(own)
        full = density.whiten[c] * math.sqrt(2)  # the base graph keeps whiten_c / sqrt 2
        sigma = np.linalg.inv(full @ full.T)
        nu0, kappa = d + 1 + cov_prior, mean_prior + n
        mean = own.mean(0)
        gap = mean - density.centres[c]
        scatter = (own - mean).T @ (own - mean)
        psi = (nu0 - d - 1) * sigma + scatter + (mean_prior * n / kappa) * np.outer(gap, gap)
        dof = nu0 + n - d + 1
        scale = psi * (kappa + 1) / (kappa * dof)
        chol = np.linalg.cholesky(scale)
        whiten.append(np.linalg.inv(chol).T)
        centres.append((mean_prior * density.centres[c] + n * mean) / kappa)
        median.append(d * f_dist.median(d, dof))
        line.append(d * f_dist.ppf(1 - tail, d, dof))
        dofs.append(dof)
    return WriterGate(
        digits,
        density.projection,
        np.stack(whiten),
        np.stack(centres),
        np.array(median),
        np.array(line),
        np.array(dofs, np.float64),
    )


# --- the graph surgery: the only part that knows names and shapes of the served graph --------


# The served graph's layouts: initializer names of the last layer's variances, the temperature
# and the class-conditional density. "folded" is `python -m cnn posterior`'s BayesianDigitCNN
# (variances folded with T: T^2 pi/8 var_w and T^2 + T^2 pi/8 var_b, T in the metadata); "raw" is
# cnn/reader/graph.py's ReaderGraph (variances as they are, T an initializer).
LAYOUTS = {
    "folded": {
        "var_weight": "var_weight",
        "var_bias": "var_bias",
        "temperature": None,
        "density": ("projection", "whiten_all", "offsets", "log_norm"),
    },
    "raw": {
        "var_weight": "posterior_weight_var",
        "var_bias": "posterior_bias_var",
        "temperature": "posterior_temperature",
        "density": ("density_projection", "density_whiten", "density_offsets", "density_log_norm"),
    },
}
DENSITY_KEYS = ("projection", "whiten_all", "offsets", "log_norm")


@dataclass
class HeadSpec:
    """Where the served graph keeps its last layer, its posterior and its gate."""

    features: str  # the 1,024 penultimate features (fc2's input)
    weight: str  # fc2 weight [C, D] (Gemm transB=1)
    bias: str  # fc2 bias [C]
    var_weight: str  # var(W)^T [D, C] (folded: T^2 pi/8 var(W)^T)
    var_bias: str  # var(b) [C] (folded: T^2 + T^2 pi/8 var(b))
    temperature: float
    folded: bool
    density: dict[str, str] = field(default_factory=dict)  # projection, whiten_all, offsets


def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def _find(inits: dict[str, onnx.TensorProto], name: str) -> str | None:
    """An initializer called ``name`` or ``<module path>.name`` (the exporter's spelling)."""
    hits = [k for k in inits if k == name or k.endswith("." + name)]
    return hits[0] if len(hits) == 1 else None


def read_head(model: onnx.ModelProto, label: str = "model") -> HeadSpec:
    """Find the last layer, its variances and the class-conditional density (either layout);
    AdaptError naming what is missing (a MAP export has no posterior to update)."""
    props = {p.key: p.value for p in model.metadata_props}
    inits = _initializers(model)
    layout = next(
        (name for name, keys in LAYOUTS.items() if _find(inits, keys["var_weight"]) is not None),
        None,
    )
    if layout is None:
        raise AdaptError(
            f"{label} carries no last-layer posterior (no variance initializers): adapt a "
            "Bayesian graph such as models/mnist_cnn_bayes.onnx (`python -m cnn posterior`)"
        )
    keys = LAYOUTS[layout]
    producer = {o: n for n in model.graph.node for o in n.output}
    gemm = producer.get("logits")
    if gemm is None or gemm.op_type != "Gemm" or len(gemm.input) != 3:
        raise AdaptError(f"{label}: its logits are not one Gemm (features, weight, bias)")
    attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
    if attrs.get("transB") != 1 or attrs.get("transA", 0) != 0:
        raise AdaptError(f"{label}: its last layer is not a Gemm with transB=1")
    features, weight, bias = gemm.input
    var_weight, var_bias = _find(inits, keys["var_weight"]), _find(inits, keys["var_bias"])
    if weight not in inits or bias not in inits or var_bias is None:
        raise AdaptError(f"{label}: last-layer weights or their variances are not initializers")
    shape = tuple(inits[weight].dims)
    if shape != (CLASSES, FEATURES) or tuple(inits[var_weight].dims) != shape[::-1]:
        raise AdaptError(f"{label}: last layer of shape {list(shape)}, expected [10, 1024]")
    t_name = keys["temperature"] and _find(inits, keys["temperature"])
    if t_name:
        temperature = float(numpy_helper.to_array(inits[t_name]))
    elif "temperature" in props:
        temperature = float(props["temperature"])
    else:
        raise AdaptError(f"{label}: no predictive temperature (metadata or initializer)")
    density = {k: _find(inits, n) for k, n in zip(DENSITY_KEYS, keys["density"], strict=True)}
    return HeadSpec(
        features,
        weight,
        bias,
        var_weight,
        var_bias,
        temperature,
        layout == "folded",
        {k: v for k, v in density.items() if v is not None},
    )


def _array(model: onnx.ModelProto, name: str) -> np.ndarray:
    return numpy_helper.to_array(_initializers(model)[name])


def _fold(spec: HeadSpec) -> tuple[float, float]:
    """(scale, offset) with stored = scale * var + offset [offset: bias only]."""
    if not spec.folded:
        return 1.0, 0.0
    t2 = spec.temperature**2
    return t2 * math.pi / 8, t2


def read_prior(model: onnx.ModelProto, spec: HeadSpec) -> LastLayer:
    """The served posterior; folded variances unfolded: var = (stored - T^2 [bias]) / (T^2 pi/8)."""
    scale, offset = _fold(spec)
    weight_var = _array(model, spec.var_weight).astype(np.float64).T / scale
    bias_var = (_array(model, spec.var_bias).astype(np.float64) - offset) / scale
    if (weight_var <= 0).any() or (bias_var <= 0).any():
        raise AdaptError("the graph's folded variances do not match its metadata's temperature")
    return LastLayer(
        _array(model, spec.weight).astype(np.float64),
        _array(model, spec.bias).astype(np.float64),
        weight_var,
        bias_var,
    )


def read_density(model: onnx.ModelProto, spec: HeadSpec) -> Density | None:
    """The base graph's class Gaussians, unfolded from projection [D, d], whiten_all [d, C d]
    (whiten_c / sqrt 2 side by side) and offsets [C d] ((mean P + class mean) whiten_c / sqrt 2)."""
    if not {"projection", "whiten_all", "offsets"} <= set(spec.density):
        return None
    projection = _array(model, spec.density["projection"]).astype(np.float64)
    whiten_all = _array(model, spec.density["whiten_all"]).astype(np.float64)
    offsets = _array(model, spec.density["offsets"]).astype(np.float64)
    d = projection.shape[1]
    if whiten_all.shape != (d, CLASSES * d) or offsets.shape != (CLASSES * d,):
        return None
    whiten = np.stack([whiten_all[:, c * d : (c + 1) * d] for c in range(CLASSES)])
    centres = np.stack(
        [np.linalg.solve(whiten[c].T, offsets[c * d : (c + 1) * d]) for c in range(CLASSES)]
    )
    return Density(projection, whiten, centres)


def feature_graph(model: onnx.ModelProto, spec: HeadSpec) -> onnx.ModelProto:
    """The same graph with the features as an extra output (nothing else changes)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    if spec.features not in {o.name for o in out.graph.output}:
        out.graph.output.append(
            helper.make_tensor_value_info(spec.features, onnx.TensorProto.FLOAT, [None, FEATURES])
        )
    return out


def run_graph(model: onnx.ModelProto, pixels: np.ndarray, outputs: Sequence[str] | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    x = np.asarray(pixels, np.float32).reshape(-1, 1, 28, 28)
    names = list(outputs) if outputs is not None else [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: x}), strict=True))


def features_of(model: onnx.ModelProto, spec: HeadSpec, pixels: np.ndarray) -> np.ndarray:
    """The 1,024 features the served graph computes for these [N, 28, 28] pixels."""
    if len(pixels) == 0:
        return np.zeros((0, FEATURES), np.float32)
    return run_graph(feature_graph(model, spec), pixels, [spec.features])[spec.features]


def _replace(model: onnx.ModelProto, name: str, value: np.ndarray) -> None:
    for i, t in enumerate(model.graph.initializer):
        if t.name == name:
            model.graph.initializer[i].CopyFrom(
                numpy_helper.from_array(value.astype(np.float32), name)
            )
            return
    raise KeyError(name)


def _folded(prior_folded: np.ndarray, new_folded: np.ndarray, unchanged: np.ndarray) -> np.ndarray:
    """Keep the base graph's float32 bits wherever the examples added no precision."""
    return np.where(unchanged, prior_folded, new_folded.astype(np.float32))


def write_graph(
    base: onnx.ModelProto,
    spec: HeadSpec,
    prior: LastLayer,
    posterior: LastLayer,
    gate: WriterGate | None,
    props: dict[str, str],
    mode: str = "mixture",
    share: float = 0.5,
) -> onnx.ModelProto:
    """The base graph with the updated last layer and variances, the writer's gate min-ed into
    ``uncertainty``, and ``props`` added to its metadata."""
    model = onnx.ModelProto()
    model.CopyFrom(base)
    scale, offset = _fold(spec)
    old = {k: _array(base, getattr(spec, k)) for k in ("weight", "bias", "var_weight", "var_bias")}
    same_w = posterior.weight_var == prior.weight_var
    same_b = posterior.bias_var == prior.bias_var
    _replace(
        model,
        spec.weight,
        np.where(posterior.weight == prior.weight, old["weight"], posterior.weight),
    )
    _replace(model, spec.bias, np.where(posterior.bias == prior.bias, old["bias"], posterior.bias))
    _replace(
        model, spec.var_weight, _folded(old["var_weight"], scale * posterior.weight_var.T, same_w.T)
    )
    _replace(
        model, spec.var_bias, _folded(old["var_bias"], offset + scale * posterior.bias_var, same_b)
    )
    if gate is not None and mode == "min":
        _add_writer_gate(model, spec, gate)
    elif gate is not None:
        _add_writer_components(model, spec, gate, share)
    keep = {p.key: p.value for p in base.metadata_props}
    for key in ("test_accuracy", "test_abstained", "parity"):  # measured on the base graph
        if key in keep:
            keep[f"base_{key}"] = keep.pop(key)
    keep.update(props)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, keep)
    onnx.checker.check_model(model)
    return model


def _add_writer_components(
    model: onnx.ModelProto, spec: HeadSpec, gate: WriterGate, share: float
) -> None:
    """The writer's Gaussians (moment-matched to the Student-t predictive: covariance scale *
    dof / (dof - 2)) appended to the base density's mixture, each with weight share / K beside
    MNIST's classes (left as they were: no input's density goes down). Rewrites whiten_all,
    offsets, log_norm and the [-1, C, d] shape of the per-class sum; the graph's gate reads the
    density score as before."""
    graph = model.graph
    names = spec.density
    whiten_all, offsets, log_norm = (
        _array(model, names[k]) for k in ("whiten_all", "offsets", "log_norm")
    )
    k, d, _ = gate.whiten.shape
    half = [
        w * math.sqrt((dof - 2) / dof) / math.sqrt(2)
        for w, dof in zip(gate.whiten, gate.dof, strict=True)
    ]
    log_dets = [np.linalg.slogdet(h * math.sqrt(2))[1] for h in half]  # log |W|: -1/2 log |Sigma|
    extra_norm = np.log(share / k) + np.array(log_dets) - 0.5 * d * math.log(2 * math.pi)
    _replace(model, names["whiten_all"], np.concatenate([whiten_all, *half], axis=1))
    extra_offsets = [c @ h for c, h in zip(gate.centres, half, strict=True)]
    _replace(model, names["offsets"], np.concatenate([offsets, *extra_offsets]))
    _replace(model, names["log_norm"], np.concatenate([log_norm, extra_norm]))
    # the Reshape of (z * z) to [-1, C, d] downstream of the offsets' Sub
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in dict.fromkeys(node.input):  # Mul(z, z) consumes z once
            consumers.setdefault(name, []).append(node)
    (sub,) = [n for n in consumers[names["offsets"]] if n.op_type == "Sub"]
    (square,) = [n for n in consumers[sub.output[0]] if n.op_type == "Mul"]
    (reshape,) = [n for n in consumers[square.output[0]] if n.op_type == "Reshape"]
    classes = len(log_norm)
    shape = numpy_helper.to_array(_initializers(model)[reshape.input[1]])
    if list(shape) != [-1, classes, d]:
        raise AdaptError(
            f"the density's per-class reshape is {list(shape)}, not [-1, {classes}, d]"
        )
    graph.initializer.append(
        numpy_helper.from_array(np.array([-1, classes + k, d], np.int64), "adapt_density_shape")
    )
    reshape.input[1] = "adapt_density_shape"
    del graph.value_info[:]  # shape hints of the widened tensors: recomputed by the runtime


def _add_writer_gate(model: onnx.ModelProto, spec: HeadSpec, gate: WriterGate) -> None:
    """uncertainty = Min(base, Max(0, min_k (|phi P W_k - c_k W_k|^2 - med_k) / (line_k - med_k)));
    the slopes 1 / (line_k - med_k) are folded into W_k."""
    graph = model.graph
    base = "adapt_base_uncertainty"
    for node in graph.node:  # rename the base gate's output tensor; the new one takes the name
        node.output[:] = [base if o == UNCERTAINTY else o for o in node.output]
        node.input[:] = [base if i == UNCERTAINTY else i for i in node.input]
    k, d, _ = gate.whiten.shape
    slope = 1.0 / (gate.line - gate.median)  # [K], folded into the whitening
    whiten = gate.whiten * np.sqrt(slope)[:, None, None]
    whiten_all = np.concatenate(list(whiten), axis=1)  # [d, K d]
    offsets = np.concatenate([c @ w for c, w in zip(gate.centres, whiten, strict=True)])
    consts = {
        "adapt_projection": gate.projection.astype(np.float32),
        "adapt_whiten": whiten_all.astype(np.float32),
        "adapt_offsets": offsets.astype(np.float32),
        "adapt_shape": np.array([-1, k, d], np.int64),
        "adapt_axis_2": np.array([2], np.int64),
        "adapt_axis_1": np.array([1], np.int64),
        "adapt_bias": (-gate.median * slope).astype(np.float32),
        "adapt_zero": np.array(0.0, np.float32),
    }
    graph.initializer.extend(numpy_helper.from_array(v, n) for n, v in consts.items())
    make = helper.make_node
    graph.node.extend(
        [
            make("MatMul", [spec.features, "adapt_projection"], ["adapt_y"], name="adapt_y"),
            make("MatMul", ["adapt_y", "adapt_whiten"], ["adapt_yw"], name="adapt_yw"),
            make("Sub", ["adapt_yw", "adapt_offsets"], ["adapt_z"], name="adapt_z"),
            make("Mul", ["adapt_z", "adapt_z"], ["adapt_z2"], name="adapt_z2"),
            make("Reshape", ["adapt_z2", "adapt_shape"], ["adapt_z2k"], name="adapt_z2k"),
            make(
                "ReduceSum", ["adapt_z2k", "adapt_axis_2"], ["adapt_m"], keepdims=0, name="adapt_m"
            ),
            make("Add", ["adapt_m", "adapt_bias"], ["adapt_uk"], name="adapt_uk"),
            make(
                "ReduceMin", ["adapt_uk", "adapt_axis_1"], ["adapt_u"], keepdims=0, name="adapt_u"
            ),
            make("Max", ["adapt_u", "adapt_zero"], ["adapt_writer_uncertainty"], name="adapt_w"),
            make("Min", [base, "adapt_writer_uncertainty"], [UNCERTAINTY], name="adapt_gate"),
        ]
    )
    # ReduceMin takes its axes as an input from opset 18 (the served graphs' opset).
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 18:
        raise AdaptError(f"the base graph's opset {opset} is older than 18; re-export it")


# --- the examples folder ---------------------------------------------------------------------

NAME = re.compile(r"^([0-9])_")


@dataclass
class Examples:
    pixels: np.ndarray  # float32 [N, 28, 28], exactly what `serving predict` feeds the model
    labels: np.ndarray  # int64 [N]
    names: list[str]

    def counts(self) -> dict[str, int]:
        return {str(c): int((self.labels == c).sum()) for c in range(CLASSES)}


def read_examples(folder: str | Path) -> Examples:
    """PNG/JPEG drawings named ``<digit>_<anything>``; AdaptError (one line) on the first bad
    one."""
    from serving.images import ImageReadError, read_image
    from serving.preprocess import PreprocessError, to_mnist

    folder = Path(folder)
    if not folder.is_dir():
        raise AdaptError(
            f"--examples {folder} is not a folder; pass a folder of drawings named "
            "<digit>_<anything>.png"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise AdaptError(
            f"{folder} holds no PNG/JPEG drawing; add files named <digit>_<anything>.png"
        )
    pixels, labels = [], []
    for path in files:
        match = NAME.match(path.name)
        if match is None:
            raise AdaptError(
                f"{path}: the file name does not start with its digit and an underscore; rename "
                "it like 7_0003.png"
            )
        try:
            x = to_mnist(read_image(path))
        except (ImageReadError, PreprocessError) as exc:
            raise AdaptError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from exc
        if x is None:
            raise AdaptError(
                f"{path}: no digit in this drawing (empty or nearly empty); redraw "
                "it or remove the file"
            )
        pixels.append(x)
        labels.append(int(match.group(1)))
    return Examples(
        np.stack(pixels).astype(np.float32), np.array(labels, np.int64), [p.name for p in files]
    )


# --- the whole update ------------------------------------------------------------------------


@dataclass
class Adapted:
    model: onnx.ModelProto
    prior: LastLayer
    posterior: LastLayer
    gate: WriterGate | None
    weight: float
    loo: dict[float, float]
    seconds: float


def adapt_model(
    base: onnx.ModelProto,
    pixels: np.ndarray,
    labels: np.ndarray,
    config: AdaptConfig = AdaptConfig(),
    base_name: str = "mnist_cnn_bayes.onnx",
    progress: Callable[[str], None] = lambda _: None,
    feats: np.ndarray | None = None,
) -> Adapted:
    """The updated graph for these labelled [N, 28, 28] pixels (N may be 0: the base outputs).
    ``feats``: their features if already computed (``pixels`` is then not run again)."""
    start = time.perf_counter()
    spec = read_head(base, base_name)
    prior = read_prior(base, spec)
    labels = np.asarray(labels, np.int64)
    if feats is None:
        feats = features_of(base, spec, pixels)
    feats = np.asarray(feats, np.float64)
    if config.weight is None:
        progress(f"choosing the likelihood weight by leave-one-out on {len(labels)} examples")
        weight, loo = choose_weight(prior, feats, labels, spec.temperature, config.weight_grid)
    else:
        weight, loo = float(config.weight), {}
    posterior, info = laplace_update(
        prior, feats, labels, weight, config.tolerance, config.max_iterations
    )
    progress(f"Laplace update: weight {weight:g}, {info['iterations']} Newton steps")
    density = read_density(base, spec)
    gate = None
    if config.gate_mode == "mixture" and "log_norm" not in spec.density:
        density = None  # nothing to add components to
    if len(labels) and density is not None:
        gate = writer_gate(
            density, feats, labels, config.mean_prior, config.cov_prior, config.gate_tail
        )
    counts = {str(c): int((labels == c).sum()) for c in range(CLASSES)}
    props = {
        "adapt_method": METHOD,
        "adapted_from": base_name,
        "adapted_from_sha256": hashlib.sha256(base.SerializeToString()).hexdigest(),
        "adapt_examples": json.dumps(counts),
        "adapt_settings": json.dumps(
            {
                **{k: v for k, v in asdict(config).items() if k != "weight_grid"},
                "weight": weight,
                "weight_choice": "leave-one-out log predictive"
                if config.weight is None
                else "given",
                "weight_grid": list(config.weight_grid),
                "loo_log_predictive": {f"{k:g}": round(v, 4) for k, v in loo.items()},
                "newton_steps": info["iterations"],
                "writer_gate": None if gate is None else [int(c) for c in gate.digits],
            }
        ),
    }
    model = write_graph(
        base, spec, prior, posterior, gate, props, config.gate_mode, config.writer_share
    )
    return Adapted(model, prior, posterior, gate, weight, loo, time.perf_counter() - start)


def write_model(model: onnx.ModelProto, out: str | Path) -> None:
    """Atomically (a temp file in the same folder, then rename): a crash leaves no half file."""
    from serving.files import atomic_write

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(model.SerializeToString()))


def run_adapt(
    examples: str | Path,
    out: str | Path,
    model: str | Path = DEFAULT_MODEL,
    config: AdaptConfig = AdaptConfig(),
    progress: Callable[[str], None] = print,
) -> Adapted:
    """``python -m serving adapt``: check everything, adapt, write ``out`` (nothing on error)."""
    from serving.files import same_file

    model, out = Path(model), Path(out)
    if same_file(model, out):
        raise AdaptError(
            f"--out {out} is the base model {model}: writing it would destroy the prior; pass "
            "another --out"
        )
    if not model.is_file():
        raise AdaptError(f"base model {model} does not exist; pass --model")
    try:
        base = onnx.load(str(model))
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own types
        raise AdaptError(f"{model} is not a readable ONNX model ({type(exc).__name__})") from exc
    data = read_examples(examples)
    counts = ", ".join(f"{c}: {n}" for c, n in data.counts().items() if n)
    progress(f"{len(data.labels)} examples ({counts}) from {examples}")
    adapted = adapt_model(base, data.pixels, data.labels, config, model.name, progress)
    write_model(adapted.model, out)
    progress(f"wrote {out} in {adapted.seconds:.1f} s")
    return adapted


# --- for an app: the base read once, updates from cached features, models kept in memory ----


class Reader:
    """An ONNX Runtime session over a graph held in memory (nothing written to disk)."""

    def __init__(self, model: onnx.ModelProto | bytes) -> None:
        import onnxruntime as ort

        self.bytes = model if isinstance(model, bytes) else model.SerializeToString()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            self.bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        x = np.asarray(pixels, np.float32).reshape(-1, 1, 28, 28)
        return dict(zip(self.outputs, self.session.run(self.outputs, {self.input: x}), strict=True))


class Teacher:
    """The base graph read once, for adapting it again and again (the app's "Use my reader")."""

    def __init__(self, path: str | Path = DEFAULT_MODEL) -> None:
        self.path = Path(path)
        self.base = onnx.load(str(self.path))
        self.spec = read_head(self.base, str(self.path))
        self.prior = read_prior(self.base, self.spec)
        self.reader = Reader(self.base)
        self._features = Reader(feature_graph(self.base, self.spec))

    def features(self, pixels: np.ndarray) -> np.ndarray:
        """The base graph's 1,024 features of [N, 28, 28] pixels (unchanged by any update)."""
        return self._features.run(pixels)[self.spec.features]

    def adapt(self, feats: np.ndarray, labels: np.ndarray, config=AdaptConfig()) -> Adapted:
        return adapt_model(self.base, None, labels, config, self.path.name, feats=np.asarray(feats))

    def before_after(self, feats: np.ndarray, labels: np.ndarray, weight: float = 1.0):
        """(the base predictive, each drawing's predictive from a reader taught on the *other*
        drawings), both [N, C]: what teaching did for drawings it has not seen."""
        feats = np.asarray(feats, np.float64)
        before = self.prior.predictive(feats, self.spec.temperature)
        if len(labels) < 2:
            return before, before.copy()
        after = leave_one_out(self.prior, feats, labels, weight, self.spec.temperature)
        return before, after
