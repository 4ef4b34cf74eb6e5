"""The check that ties the two halves: last-layer Laplace (laplace-torch) vs PyMC NUTS.

The same Bayesian model twice: a softmax regression on fixed CNN features (two classes, 4 vs 9,
the digits the CNN confuses most), weights and biases with a Normal(0, 1/prior_precision) prior.
Laplace approximates its posterior by a Gaussian at the MAP with the Hessian as precision; NUTS
samples the exact posterior. They must agree to the accuracy a Laplace approximation can have
here (see the tolerances).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

pytest.importorskip("laplace", reason="pip install --no-deps -r .ci/posterior-requirements.txt")

PRIOR_PRECISION = 4.0
FEATURES, PER_CLASS = 12, 200


@pytest.fixture(scope="module")
def problem(mnist_train):
    """A dozen fixed features: the CNN's 1,024 features of 4s and 9s, projected on their top
    principal directions and standardized (so one prior scale suits every weight)."""
    from cnn.export import model_from_onnx
    from cnn.reader.posterior import feature_batches
    from serving.session import ROOT

    torch.set_num_threads(1)
    model = model_from_onnx(ROOT / "models" / "mnist_cnn.onnx")
    rng = np.random.default_rng(0)
    picks = [rng.choice(np.flatnonzero(mnist_train.labels == d), PER_CLASS, False) for d in (4, 9)]
    index = np.concatenate(picks)
    feats = feature_batches(model, mnist_train.images[index] / np.float32(255)).astype(np.float64)
    centred = feats - feats.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    x = centred @ vt[:FEATURES].T
    x /= x.std(0)
    y = np.repeat([0, 1], PER_CLASS)
    return x.astype(np.float32), y


def map_model(x: np.ndarray, y: np.ndarray) -> torch.nn.Sequential:
    """The MAP of sum CE + prior_precision/2 |theta|^2, by L-BFGS to convergence."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        OrderedDict(features=torch.nn.Identity(), fc=torch.nn.Linear(x.shape[1], 2))
    )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.LBFGS(
        model.parameters(), max_iter=500, tolerance_grad=1e-10, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        penalty = sum((p**2).sum() for p in model.parameters())
        loss = torch.nn.functional.cross_entropy(model(xt), yt, reduction="sum")
        loss = loss + PRIOR_PRECISION / 2 * penalty
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    return model


@pytest.mark.slow
def test_last_layer_laplace_matches_nuts_posterior(problem):
    import pymc as pm
    from laplace import Laplace

    x, y = problem
    model = map_model(x, y)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=64
    )
    la = Laplace(
        model,
        "classification",
        subset_of_weights="last_layer",
        hessian_structure="full",
        last_layer_name="fc",
        prior_precision=PRIOR_PRECISION,
    )
    la.fit(loader, progress_bar=False)
    # laplace-torch's parameter order: fc.weight [2, F] row-major, then fc.bias [2].
    la_mean = la.mean.detach().numpy()
    la_sd = la.posterior_covariance.diagonal().sqrt().detach().numpy()

    with pm.Model(coords={"cls": [0, 1], "feature": np.arange(x.shape[1])}):
        # priors
        w = pm.Normal("w", 0.0, sigma=PRIOR_PRECISION**-0.5, dims=("cls", "feature"))
        b = pm.Normal("b", 0.0, sigma=PRIOR_PRECISION**-0.5, dims="cls")
        # likelihood
        pm.Categorical("y", logit_p=pm.math.dot(x, w.T) + b, observed=y)
        idata = pm.sample(draws=1000, tune=500, chains=2, cores=1, random_seed=0, progressbar=False)
    post = idata.posterior
    draws = np.concatenate(
        [
            post["w"].values.reshape(-1, 2 * x.shape[1]),
            post["b"].values.reshape(-1, 2),
        ],
        axis=1,
    )
    nuts_mean, nuts_sd = draws.mean(0), draws.std(0)
    # Tolerances. Monte Carlo: 2,000 NUTS draws (ESS of several hundred) give a mean error of
    # about 0.05 sd and an sd error of about 3%. Laplace is a Gaussian at the *mode*: these
    # features separate 4s from 9s almost perfectly (99% training accuracy), so the posterior is
    # skewed along the separating direction and its mean sits up to ~0.5 sd from the mode
    # (importance sampling from the Laplace Gaussian on this problem: 0.48 sd; widths 0.95-1.03
    # of the exact ones). Hence: means within 0.7 sd (median 0.25), widths within 12%.
    z = np.abs(la_mean - nuts_mean) / nuts_sd
    ratio = la_sd / nuts_sd
    assert z.max() < 0.7 and np.median(z) < 0.25, f"means differ by up to {z.max():.2f} sds"
    assert 0.88 < ratio.min() and ratio.max() < 1.12, (
        f"sd ratios {ratio.min():.2f}-{ratio.max():.2f}"
    )
    # The check can fail: a 10x weaker prior gives Laplace widths far outside the tolerance.
    la.prior_precision = PRIOR_PRECISION / 10
    wide = la.posterior_covariance.diagonal().sqrt().detach().numpy() / nuts_sd
    assert wide.max() > 1.12
