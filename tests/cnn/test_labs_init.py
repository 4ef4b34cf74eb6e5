"""The ball data, the BLOCK model and the initialization lab: each numeric claim of the handout's
initialization section (../shared/course/neural-networks-course.txt, beside the repository) is
tested by name and line on the lab's own numbers, against a closed form or torch's autograd."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn.labs.ball import make_ball
from cnn.labs.block import BLOCK_PARAMETERS, INITIALIZERS, BlockModel, expected_weight_std
from cnn.labs.init import (
    InitLabConfig,
    course_claims,
    epoch0,
    init_lab,
    seed_profile,
    summary,
)
from cnn.labs.init_train import train_curve

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# Beside the repository (not in it): <repo>/../shared/course/. Tests that read it skip without.
HANDOUT = Path(__file__).resolve().parents[3] / "shared" / "course" / "neural-networks-course.txt"


def test_line_209_ball_data_is_the_courses():
    d = make_ball()
    assert d.X.shape == (1000, 10) and d.X.dtype == np.float32
    assert abs(float(d.X.std()) - 1.0) < 1e-5 and abs(float(d.X.mean())) < 0.05
    # radius sqrt(10) before the rescale, so radius / std(points before) is what is left
    assert 3.3 < d.radius < 3.6
    assert np.linalg.norm(d.X, axis=1).max() <= d.radius + 1e-5
    assert np.array_equal(d.y, (np.abs(d.X.sum(1)) > d.radius / 2).astype(np.float32))
    assert 0.55 < d.y.mean() < 0.65  # about 59% positives
    # why not the handout's norm rule: in 10-D almost every point lies beyond half the radius
    assert (np.linalg.norm(d.X, axis=1) > d.radius / 2).mean() > 0.99


def test_ball_data_is_seeded():
    assert np.array_equal(make_ball(seed=3).X, make_ball(seed=3).X)
    assert not np.array_equal(make_ball(seed=3).X, make_ball(seed=4).X)
    noisy = make_ball(seed=3, noise_features=5)
    assert noisy.X.shape == (1000, 15) and noisy.n_signal == 10
    assert np.array_equal(noisy.y, make_ball(seed=3).y)
    with pytest.raises(ValueError, match="noise_features >= 0"):
        make_ball(noise_features=-1)


def test_line_199_block_model_has_41601_parameters():
    model = BlockModel("relu", "he-normal")
    assert sum(p.numel() for p in model.parameters()) == BLOCK_PARAMETERS == 41_601
    sizes = [layer.weight.numel() + layer.bias.numel() for layer in [*model.hidden, model.out]]
    assert sizes == [1100, 10100, 10100, 10100, 10100, 101]
    assert model(torch.zeros(7, 10)).shape == (7,)


@pytest.mark.parametrize("init", list(INITIALIZERS))
def test_lines_418_423_469_475_526_537_initializers_follow_the_course_formulas(init):
    model = BlockModel("tanh", init, seed=1)
    w = model.hidden[2].weight.detach().numpy()  # 100 x 100
    assert w.std() == pytest.approx(expected_weight_std(init, 100, 100), rel=0.03)
    if init.endswith("uniform"):
        limit = math.sqrt(3) * expected_weight_std(init, 100, 100)  # Var(U(-l, l)) = l^2 / 3
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit
    assert all(not layer.bias.detach().any() for layer in model.hidden)


def test_same_seed_same_weights_and_callers_rng_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = BlockModel("tanh", "glorot-uniform", seed=5)
    assert torch.rand(1) == expected_next
    b = BlockModel("tanh", "glorot-uniform", seed=5)
    assert torch.equal(a.hidden[0].weight, b.hidden[0].weight)


def test_bad_names_say_the_choices():
    with pytest.raises(ValueError, match="activation must be one of"):
        BlockModel("softsign", "he-normal")
    with pytest.raises(ValueError, match="init must be one of"):
        BlockModel("relu", "lecun")
    with pytest.raises(ValueError, match="--init must be 'all' or one of"):
        init_lab(InitLabConfig(init="zeros"))


@pytest.fixture(scope="module")
def ball():
    return make_ball(seed=0)


def test_line_366_variance_of_a_product_of_independent_zero_mean_variables(ball):
    """The BLOCK model's first-layer weights times the ball's inputs, every (weight, input)
    pair: Var(w x) = Var(w) Var(x), with Var(w) the initializer's own formula."""
    for init in ("normal-0.1", "glorot-normal", "he-normal"):
        w = BlockModel("relu", init, seed=0).hidden[0].weight.detach().numpy()  # [100, 10]
        std = expected_weight_std(init, fan_in=10, fan_out=100)
        assert w.std() == pytest.approx(std, rel=0.05), init
        products = w[None, :, :] * ball.X[:, None, :]  # [1000, 100, 10]
        assert products.var() == pytest.approx(std**2 * ball.X.var(), rel=0.1), init


def test_lines_404_418_forward_variance_is_fan_in_times_var_x_times_var_w(ball):
    """The lab's Z-values (epoch0) against fan_in Var(x) Var(w): layer 1 for any std; layer 2
    with Glorot's std, which for 100 -> 100 is sqrt(1 / fan_in) and so keeps the variance."""
    for init in ("normal-0.1", "normal-1.0", "glorot-normal", "he-normal"):
        e = epoch0("relu", init, 0, ball)
        std = expected_weight_std(init, fan_in=10, fan_out=100)
        assert e.z[0].var() == pytest.approx(10 * ball.X.var() * std**2, rel=0.1), init
    e = epoch0("tanh", "glorot-normal", 0, ball)
    assert expected_weight_std("glorot-normal", 100, 100) == pytest.approx((1 / 100) ** 0.5)
    second_moment = (e.activations[0] ** 2).mean()  # what layer 2 multiplies by its weights
    assert e.z[1].var() == pytest.approx(second_moment, rel=0.1)


def test_line_447_backward_variance_is_fan_out_times_var_delta_times_var_w(ball):
    """The lab's per-sample signal at h4 is h5's signal through ReLU' and W5 (exactly, as
    autograd computes it), and its variance is fan_out Var(delta) Var(W)."""
    e = epoch0("relu", "he-normal", 0, ball)
    delta = e.signal[4] * (e.z[4] > 0)  # dL_i/dz5
    np.testing.assert_allclose(e.signal[3], delta @ e.weights[4], rtol=1e-4, atol=1e-6)
    expected = 100 * delta.var() * expected_weight_std("he-normal", 100, 100) ** 2
    assert e.signal[3].var() == pytest.approx(expected, rel=0.1)


def test_line_516_relu_halves_the_second_moment(ball):
    """The lab's ReLU activations against its Z-values: E[relu(z)^2] = E[z^2] / 2."""
    e = epoch0("relu", "he-normal", 0, ball)
    for z, a in zip(e.z[:2], e.activations[:2], strict=True):
        np.testing.assert_array_equal(a, np.maximum(z, 0))
        assert (a**2).mean() == pytest.approx((z**2).mean() / 2, rel=0.03)


def test_per_sample_signal_and_gradient_against_torch_func():
    """The lab's per-sample signal (N x the mean loss's gradient) and its closed-form std of
    per-sample weight gradients, against torch.func's per-sample gradients."""
    from torch.func import functional_call, grad, vmap
    from torch.nn import functional as F

    data = make_ball(n=64, seed=3)
    model = BlockModel("tanh", "glorot-normal", seed=3)
    e = epoch0("tanh", "glorot-normal", 3, data)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one_loss(p, x, y):
        return F.binary_cross_entropy_with_logits(functional_call(model, p, (x[None],)), y[None])

    x, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    per_sample = vmap(grad(one_loss), in_dims=(None, 0, 0))(params, x, y)
    for layer in (0, 2, 4):
        g = per_sample[f"hidden.{layer}.weight"]  # [N, out, in]
        assert g.std().item() == pytest.approx(e.per_sample_grad_std[layer], rel=1e-4)
        np.testing.assert_allclose(g.mean(0).numpy(), e.gradients[layer], atol=1e-6)
    # dL_i/dh5 through the output layer only: (sigmoid(logit_i) - y_i) * w_out
    logit, _, acts = model.trace(x)
    expected = (torch.sigmoid(logit) - y)[:, None] * model.out.weight
    np.testing.assert_allclose(e.signal[-1], expected.detach().numpy(), rtol=1e-4, atol=1e-7)


@pytest.fixture(scope="module")
def claims():
    torch.set_num_threads(1)
    return course_claims(0, n_seeds=10)


def test_every_claim_names_its_handout_line(claims):
    if not HANDOUT.exists():
        pytest.skip(f"the course handout is not beside the repository (looked for {HANDOUT})")
    text = HANDOUT.read_text(encoding="utf-8").splitlines()
    quotes = {275: "Gradients", 316: "binary mode", 338: "exploding", 348: "20x smaller",
              356: "Glorot", 516: "half", 526: "2}{fan_{in}}", 539: "backpropagation"}  # fmt: skip
    for name, c in claims.items():
        assert quotes[c["handout_line"]] in text[c["handout_line"] - 1], name


def test_line_275_sigmoid_normal_001_gradients_pretty_much_zero(claims):
    c = claims["sigmoid_normal0.01_vanishing_gradients"]
    assert c["holds"]
    assert c["grad_std_h1_over_h5"] < 1e-5 and c["signal_h1_over_h5"] < 1e-5  # measured 1e-7


def test_line_316_sigmoid_normal_1_activations_in_binary_mode(claims):
    c = claims["sigmoid_normal1.0_binary_activations"]
    assert c["holds"] and c["saturated_fraction_h5"] > 0.6 and c["z_std_h5"] > 4


def test_line_338_tanh_normal_1_exploding_gradients(claims):
    c = claims["tanh_normal1.0_exploding_gradients"]
    assert c["holds"]
    assert c["signal_h1_over_h5"] > 10 and c["grad_std_h1_over_h5"] > 10  # measured 32x, 43x
    assert c["saturated_fraction_h5"] > 0.8


def test_line_348_tanh_normal_01_gradients_20x_below_weights_is_not_reproduced(claims):
    """Not reproduced (docs/LABS.md): the weights' std is ~8x one sample's gradient and ~190x
    the gradient of the mean loss over the 1,000 points; neither reading gives ~20x."""
    c = claims["tanh_normal0.1_gradients_20x_below_weights"]
    assert not c["holds"]
    assert 5 < c["weight_over_per_sample_grad"] < 12
    assert c["weight_over_batch_grad"] > 100


def test_lines_348_350_tanh_normal_01_similar_layers_and_z_in_minus1_1(claims):
    c = claims["tanh_normal0.1_similar_layers"]
    assert c["holds"] and c["signal_max_over_min"] < 2 and c["act_std_max_over_min"] < 2
    assert c["z_within_minus1_1"] > 0.99


@pytest.mark.parametrize("init", ["glorot-normal", "glorot-uniform"])
def test_line_356_glorot_keeps_tanh_layers_similar(claims, init):
    c = claims[f"tanh_{init}_keeps_activations"]
    assert c["holds"] and c["act_std_max_over_min"] < 2 and c["signal_max_over_min"] < 2


@pytest.mark.parametrize("init", ["glorot-normal", "glorot-uniform"])
def test_line_516_relu_halves_variance_so_glorot_activations_shrink(claims, init):
    # five halvings of the variance: std shrinks by sqrt(2)^4 = 4 from h1 to h5
    c = claims[f"relu_{init}_shrinks_activations"]
    assert c["holds"] and 3 < c["act_std_h1_over_h5"] < 5.5


@pytest.mark.parametrize("init", ["he-normal", "he-uniform"])
def test_line_526_he_keeps_relu_activations(claims, init):
    c = claims[f"relu_{init}_keeps_activations"]
    assert c["holds"] and c["act_std_max_over_min"] < 1.3


@pytest.mark.parametrize("init", ["he-normal", "he-uniform"])
def test_line_539_he_keeps_the_per_sample_backward_signal_flat(claims, init):
    c = claims[f"relu_{init}_signal_flat"]
    assert c["holds"] and 0.9 < c["signal_h5_over_h1"] < 1.15  # medians 1.07 and 1.01
    # the weight gradient of the mean loss still grows ~4x towards the output, because
    # per-sample gradients cancel far more in h1 than in h5 -- not because the signal grows
    assert 2.5 < c["weight_grad_h5_over_h1"] < 6
    assert c["cancellation_h5"] > 3 * c["cancellation_h1"]


def test_line_539_he_with_fan_out_keeps_the_signal_flat_too():
    ratios = []
    for seed in range(5):
        model = BlockModel("relu", "he-normal", seed=seed)
        with torch.no_grad():
            torch.manual_seed(seed)
            for layer in [*model.hidden, model.out]:
                torch.nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        s = epoch0("relu", "he-normal", seed, model=model).profile()["signal_std"]
        ratios.append(s[-1] / s[0])
    assert 0.8 < float(np.median(ratios)) < 1.25


def test_line_293_and_562_does_it_train():
    """Sigmoid with N(0, 0.01) weights "cannot learn" (line 293): in 3 epochs of Keras-default
    SGD its loss stays at the base rate's ~0.673, while ReLU + He (line 562) is well below."""
    stuck = train_curve("sigmoid", "normal-0.01", 3)
    he = train_curve("relu", "he-normal", 3)
    assert abs(stuck[-1] - 0.673) < 0.01
    assert he[-1] < stuck[-1] - 0.05


def test_seed_profile_shapes_and_bands():
    p = seed_profile("relu", "he-normal", range(3))
    assert p["signal_std"].shape == (3, 5) and p["grad_to_weight"].shape == (3, 5)
    assert (p["cancellation"] < 1).all()  # an average is never wider than its parts


def test_epoch0_shapes_and_ranges():
    e = epoch0("relu", "he-normal")
    assert [z.shape for z in e.z] == [(1000, 100)] * 5
    assert e.weights[0].shape == (100, 10) and e.gradients[0].shape == (100, 10)
    assert all((a >= 0).all() for a in e.activations)
    assert e.saturated() is None
    assert math.isfinite(e.loss) and 0.3 < e.loss < 3


def test_summary_table_and_lab_result():
    rows = summary(["tanh"], ["glorot-normal", "normal-1.0"])
    assert [r["init"] for r in rows] == ["glorot-normal", "normal-1.0"]
    assert len(rows[0]["std"]["activations"]) == 5
    config = InitLabConfig(activation="tanh", init="normal_1.0", seeds=2, train_epochs=1)
    result = init_lab(config)
    assert set(result.figures) == {"init_tanh_normal-1.0", "init_summary", "init_training"}
    fig = result.figures["init_tanh_normal-1.0"]
    assert [ax.get_title() for ax in fig.axes] == [
        "Z-values",
        "Weights",
        "Activations",
        "Gradients",
    ]
    assert "Normal σ = 1.00" in fig._suptitle.get_text()
    numbers = json.loads(json.dumps(result.numbers))
    assert {"seed", "data", "table", "profiles", "course_claims", "training"} <= set(numbers)
    assert numbers["table"][0]["saturated"][-1] > 0.8
    assert numbers["data"]["n"] == 1000
    band = numbers["profiles"][0]["signal_std"]
    assert all(lo <= m <= hi for lo, m, hi in zip(band["low"], band["median"], band["high"]))
    assert numbers["training"][0]["epochs"] == 1


def test_lines_267_274_sigmoid_normal_001_narrow_z_and_activations():
    e = epoch0("sigmoid", "normal-0.01", 0)
    assert e.weights[2].std() == pytest.approx(0.01, rel=0.03)  # line 267: std ~0.01
    # line 274: Z-values within a narrow range around 0, activations around sigmoid(0) = 0.5
    assert all(np.abs(z).max() < 0.2 for z in e.z)
    assert all(np.abs(a - 0.5).max() < 0.05 for a in e.activations)
