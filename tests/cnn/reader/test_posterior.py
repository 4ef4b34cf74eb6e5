"""The reader's graph: laplace-torch's predictive and the abstain gate baked into ONNX.

1. The ONNX probabilities equal laplace-torch's predictive mean and variance put through the
   probit at the fitted T != 1 (the formula written out here, not taken from the code).
2. The ONNX ``uncertainty`` equals a NumPy reference: each score from the fitted parts, its
   p-value counted directly against the calibration scores, combined, scaled, clipped at 0.
3. ``fit_posterior`` end to end on 2,000 training images abstains on the share of *new* drawn
   digits it was asked to.
4. Fitting the last layer alone on features equals laplace-torch's last-layer Laplace of the
   whole CNN; the diagonal GGN equals a brute-force per-image sum.
Plus the shipped file: built from the shipped MAP model, its metadata, accuracy and abstention.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from scipy.special import softmax

pytest.importorskip("laplace", reason="pip install --no-deps -r .ci/posterior-requirements.txt")

from cnn.export import model_from_onnx  # noqa: E402
from cnn.reader.gate import oe_inputs, trunk_features  # noqa: E402
from cnn.reader.graph import OUTPUT_NAMES  # noqa: E402
from cnn.reader.pipeline import (  # noqa: E402
    PosteriorConfig,
    build_module,
    feature_loader,
    fit_posterior,
    onnx_bytes,
)
from cnn.reader.posterior import feature_batches, fit_last_layer_laplace, head_model  # noqa: E402
from cnn.splits import train_validation_indices  # noqa: E402
from serving.graph_head import head_nodes  # noqa: E402
from serving.session import DEFAULT_MODEL, INT8_MODEL, MAP_MODEL  # noqa: E402

CHECK_IMAGES, RATE = 1000, 0.1
SMALL = dict(limit=2000, drawn_validation=600, drawn_train=200, proxies=500, abstain_rate=RATE)


@pytest.fixture(scope="module")
def fitted(mnist_train, mnist_test, tmp_path_factory):
    """A small real fit, end to end: fit_posterior on 2,000 training images (all four gate
    scores, Fisher), calibrated on 600 drawn validation digits to abstain on 10% of them."""
    torch.set_num_threads(1)
    model = model_from_onnx(MAP_MODEL)
    config = PosteriorConfig(
        gate=("density", "residual", "conv2", "oe"),
        combine="fisher",
        cache=tmp_path_factory.mktemp("posterior-cache"),
        **SMALL,
    )
    fit = fit_posterior(model, MAP_MODEL, config, progress=lambda _: None)
    module = build_module(model, fit, config)
    session = ort.InferenceSession(onnx_bytes(module), providers=["CPUExecutionProvider"])
    train_idx, _ = train_validation_indices()
    return {
        "model": model,
        "fit": fit,
        "module": module,
        "la": fit["la"],
        "pixels": mnist_train.images[train_idx[: SMALL["limit"]]] / np.float32(255),
        "labels": fit["data"].train_labels,
        "feats": fit["data"].train,
        "session": session,
        "test": mnist_test.images[:CHECK_IMAGES, None] / np.float32(255),
    }


def test_onnx_probabilities_equal_the_tempered_probit_of_laplace_torch(fitted):
    temperature = fitted["fit"]["temperature"]
    assert abs(temperature - 1) > 0.05  # T != 1: a wrong power of T shows
    probabilities = fitted["session"].run(["probabilities"], {"pixels": fitted["test"]})[0]
    feats = torch.from_numpy(feature_batches(fitted["model"], fitted["test"]))
    f_mu, f_var = (
        t.detach().double().numpy() for t in fitted["la"]._glm_predictive_distribution(feats)
    )
    variance = f_var.diagonal(axis1=1, axis2=2)
    expected = softmax(f_mu / (temperature * np.sqrt(1 + math.pi / 8 * variance)), axis=1)
    assert np.abs(probabilities - expected).max() <= 1e-5
    # At T = 1 the same formula is laplace-torch's own probit predictive ...
    plain = fitted["la"](feats, pred_type="glm", link_approx="probit").detach().numpy()
    np.testing.assert_allclose(
        softmax(f_mu / np.sqrt(1 + math.pi / 8 * variance), 1), plain, atol=1e-6
    )
    # ... and the posterior is not a no-op: it moves probabilities away from the MAP softmax.
    logits = fitted["session"].run(["logits"], {"pixels": fitted["test"]})[0]
    assert np.abs(probabilities - softmax(logits.astype(np.float64), 1)).max() > 1e-3


def _digits_and_scribbles(fitted) -> np.ndarray:
    from cnn.reader.nondigits import scribble, to_pixels

    rng = np.random.default_rng(5)
    scribbles = to_pixels([scribble(rng) for _ in range(60)], [-1] * 60).pixels[:, None]
    return np.concatenate([fitted["test"][:300], scribbles])


def _direct_p_values(fitted, x: np.ndarray) -> np.ndarray:
    """[N, 4] p-values: scores from the fitted parts in float64, counted against the
    calibration scores directly."""
    fit, parts = fitted["fit"], fitted["fit"]["parts"]
    trunk = trunk_features(fitted["model"], x)
    scores = {
        "density": -parts["density"].log_density(trunk.fc1),
        "residual": parts["residual"].score(trunk.fc1),
        "conv2": parts["conv2"].score(trunk.conv2),
        "oe": parts["oe"].score(oe_inputs(trunk, parts["residual"], parts["conv2"])),
    }
    return np.stack(
        [
            (1 + (fit["calibration"][k][None, :] >= s[:, None]).sum(1))
            / (len(fit["calibration"][k]) + 1)
            for k, s in scores.items()
        ],
        axis=1,
    )


def test_onnx_uncertainty_equals_a_numpy_reference(fitted, mnist_test):
    """Scores from the fitted parts in float64, p-values counted directly, Fisher's sum, the
    (S - median) / (threshold - median) scaling clipped at 0: on digits and scribbles."""

    x = _digits_and_scribbles(fitted)
    uncertainty = fitted["session"].run(["uncertainty"], {"pixels": x})[0]
    fit = fitted["fit"]
    p = _direct_p_values(fitted, x)
    surprise = -2 * np.log(p).sum(1)
    median, threshold = fit["surprise_median"], fit["surprise_threshold"]
    assert threshold > median > 0
    expected = np.maximum((surprise - median) / (threshold - median), 0)
    assert (uncertainty >= 0).all()
    assert 0.05 < (expected == 0).mean() < 0.95 and (expected >= 1).any()  # both sides used
    close = np.abs(uncertainty - expected) <= 1e-3 * np.maximum(1, expected)
    assert close.mean() >= 0.97  # float32 vs float64: a score may sit on a calibration value
    assert ((uncertainty >= 1) == (expected >= 1)).mean() >= 0.97


def test_the_served_min_p_gate_equals_a_numpy_reference(fitted):
    """The served combination (min-p): -log of the smallest p-value, its median and line from
    the calibration digits' leave-one-out p-values, written out here; ONNX against it."""
    fit = fitted["fit"]
    columns = list(fit["calibration_scores"].values())
    n = len(columns[0])
    loo = np.stack([(v[None, :] >= v[:, None]).sum(1) / n for v in columns], axis=1)
    calibration = np.sort(-np.log(loo.min(1)))[::-1]
    k = int(np.floor(SMALL["abstain_rate"] * n))
    median, threshold = np.median(calibration), (calibration[k - 1] + calibration[k]) / 2
    module = build_module(fitted["model"], fit, PosteriorConfig(gate=tuple(fit["calibration"])))
    module.combine = "min-p"
    module.set_calibration(fit["calibration"], median, threshold)
    session = ort.InferenceSession(onnx_bytes(module), providers=["CPUExecutionProvider"])
    x = _digits_and_scribbles(fitted)
    uncertainty = session.run(["uncertainty"], {"pixels": x})[0]
    surprise = -np.log(_direct_p_values(fitted, x).min(1))
    expected = np.maximum((surprise - median) / (threshold - median), 0)
    assert 0.05 < (expected == 0).mean() < 0.95 and (expected >= 1).any()
    close = np.abs(uncertainty - expected) <= 1e-3 * np.maximum(1, expected)
    assert close.mean() >= 0.97
    fisher = fitted["session"].run(["uncertainty"], {"pixels": x})[0]
    assert not np.allclose(uncertainty, fisher, atol=1e-2)  # not the fitted Fisher graph


def test_the_stored_median_and_threshold_are_the_calibration_digits_own(fitted):
    """Recomputed from the paired calibration scores with the formulas written out here: each
    digit's leave-one-out p-value #{all >= s} / n per score, Fisher's -2 sum log p, then the
    median (not the mean: the surprise is right-skewed) and the line 10% of them lie above."""
    fit = fitted["fit"]
    columns = list(fit["calibration_scores"].values())
    n = len(columns[0])
    p = np.stack([(v[None, :] >= v[:, None]).sum(1) / n for v in columns], axis=1)
    surprise = -2 * np.log(p).sum(1)
    median = np.median(surprise)
    assert abs(median - surprise.mean()) > 0.05 * median  # a mean would be told apart
    assert fit["surprise_median"] == pytest.approx(median, rel=1e-9)
    above = (surprise > fit["surprise_threshold"]).sum()
    assert above == int(np.floor(SMALL["abstain_rate"] * n))


@pytest.mark.slow
def test_fit_posterior_abstains_on_the_rate_asked_for_on_new_drawn_digits(fitted, mnist_test):
    """Threshold chosen on drawn *validation* digits for 10%; drawn *test* digits (never seen)
    must abstain near 10% too (not 90%: the other tail)."""
    from cnn.reader.nondigits import drawn_digits

    drawn = drawn_digits(mnist_test.images, mnist_test.labels, 600, seed=9)
    uncertainty = fitted["session"].run(["uncertainty"], {"pixels": drawn.pixels[:, None]})[0]
    assert (uncertainty >= 1).mean() == pytest.approx(RATE, abs=0.05)


def test_graph_outputs_have_a_dynamic_batch(fitted):
    session = fitted["session"]
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)
    for n in (1, 5):
        logits, probabilities, uncertainty = session.run(None, {"pixels": fitted["test"][:n]})
        assert logits.shape == probabilities.shape == (n, 10) and uncertainty.shape == (n,)
        np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)


def test_head_only_fit_equals_laplace_of_the_whole_cnn(fitted):
    """laplace-torch on the full DigitCNN (its own last-layer feature extraction) gives the same
    posterior and predictive as the features-only shortcut."""
    from laplace import Laplace

    n = 300  # laplace-torch's default backend forms per-image Jacobians: slow
    data = torch.utils.data.TensorDataset(
        torch.from_numpy(fitted["pixels"][:n, None].copy()), torch.from_numpy(fitted["labels"][:n])
    )
    full = Laplace(
        fitted["model"],
        "classification",
        subset_of_weights="last_layer",
        hessian_structure="diag",
        prior_precision=10.0,
    )
    full.fit(torch.utils.data.DataLoader(data, batch_size=500), progress_bar=False)
    head = fit_last_layer_laplace(
        head_model(fitted["model"]),
        feature_loader(fitted["feats"][:n], fitted["labels"][:n]),
        "diag",
        prior_precision=10.0,
    )
    np.testing.assert_allclose(
        full.posterior_variance.numpy(), head.posterior_variance.numpy(), rtol=1e-3
    )
    x = torch.from_numpy(fitted["test"][:200])
    p_full = full(x, pred_type="glm", link_approx="probit").detach().numpy()
    feats = torch.from_numpy(feature_batches(fitted["model"], fitted["test"][:200]))
    p_head = head(feats, pred_type="glm", link_approx="probit").detach().numpy()
    assert np.abs(p_full - p_head).max() < 1e-5


def test_diag_ggn_equals_brute_force_sum(fitted):
    """Last layer of a softmax: d logit_k / d W[c, i] = [k = c] phi_i, so the GGN's diagonal is
    sum_n phi_ni^2 (p_nc - p_nc^2); its bias part sum_n (p_nc - p_nc^2)."""
    n, prior = 64, 2.0
    feats, labels = fitted["feats"][:n].astype(np.float64), fitted["labels"][:n]
    la = fit_last_layer_laplace(
        head_model(fitted["model"]), feature_loader(feats.astype(np.float32), labels), "diag", prior
    )
    w, b = (
        p.detach().double().numpy() for p in (fitted["model"].fc2.weight, fitted["model"].fc2.bias)
    )
    p = torch.softmax(torch.from_numpy(feats @ w.T + b), 1).numpy()
    curvature = p - p**2  # [n, 10]
    weight_h = curvature.T @ feats**2  # [10, 1024]
    expected = 1 / (np.concatenate([weight_h.ravel(), curvature.sum(0)]) + prior)
    np.testing.assert_allclose(la.posterior_variance.numpy(), expected, rtol=1e-4)


# --- the shipped Bayesian graph -----------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    session = ort.InferenceSession(str(DEFAULT_MODEL), providers=["CPUExecutionProvider"])
    return session, dict(session.get_modelmeta().custom_metadata_map)


def test_shipped_default_is_the_bayesian_graph_of_the_shipped_map_model(shipped, mnist_test):
    session, meta = shipped
    assert DEFAULT_MODEL.name == "mnist_cnn_bayes.onnx"
    # Stale if the MAP model was retrained without rerunning `python -m cnn posterior`.
    assert meta["map_sha256"] == hashlib.sha256(MAP_MODEL.read_bytes()).hexdigest()
    for key in ("posterior_method", "prior_precision", "temperature", "abstain_threshold"):
        assert key in meta
    x = mnist_test.images[:500, None] / np.float32(255)
    plain = ort.InferenceSession(str(MAP_MODEL), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        session.run(["logits"], {"pixels": x})[0], plain.run(None, {"pixels": x})[0], atol=1e-4
    )


def test_shipped_graph_keeps_accuracy_and_rarely_abstains_on_mnist(shipped, mnist_test):
    session, meta = shipped
    x = mnist_test.images[:, None] / np.float32(255)
    out = [session.run(None, {"pixels": x[i : i + 2000]}) for i in range(0, len(x), 2000)]
    logits, probabilities, uncertainty = (np.concatenate(c) for c in zip(*out, strict=True))
    map_accuracy = (logits.argmax(1) == mnist_test.labels).mean()
    accuracy = (probabilities.argmax(1) == mnist_test.labels).mean()
    assert accuracy >= map_accuracy - 0.0005  # the 0.05-point bound
    assert f"{accuracy:.4f}" == meta["test_accuracy"]
    assert (uncertainty >= float(meta["abstain_threshold"])).mean() <= 0.015  # target: <= 1%
    assert (uncertainty >= 0).all()


def test_shipped_graph_abstains_on_scribbles(shipped):
    from cnn.reader.nondigits import scribble, to_pixels

    rng = np.random.default_rng(7)
    drawn = to_pixels([scribble(rng) for _ in range(60)], [-1] * 60)
    session, meta = shipped
    uncertainty = session.run(["uncertainty"], {"pixels": drawn.pixels[:, None]})[0]
    assert (uncertainty >= float(meta["abstain_threshold"])).mean() > 0.3


def test_int8_keeps_the_posterior_head_and_the_gate_in_fp32():
    bayes, plain = onnx.load(str(DEFAULT_MODEL)), onnx.load(str(MAP_MODEL))
    assert head_nodes(plain) == [] and len(head_nodes(bayes)) >= 10
    int8 = onnx.load(str(INT8_MODEL))
    floats = {i.name for i in int8.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    kept = {"posterior_weight_var", "density_projection", "gate_residual_basis"}
    assert kept | {"gate_conv2_transform"} <= floats  # float, not quantized copies
    ops = {n.op_type for n in int8.graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops


@pytest.mark.slow
def test_int8_answers_agree_with_fp32(mnist_test):
    """Same digits and the same abstain verdicts on digits and scribbles, in nearly all cases
    (INT8 conv features move the gate's scores a little)."""
    from cnn.reader.nondigits import scribble, to_pixels

    rng = np.random.default_rng(11)
    scribbles = to_pixels([scribble(rng) for _ in range(100)], [-1] * 100).pixels[:, None]
    x = np.concatenate([mnist_test.images[:1000, None] / np.float32(255), scribbles])
    runs = [
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"pixels": x})
        for path in (DEFAULT_MODEL, INT8_MODEL)
    ]
    (_, p32, u32), (_, p8, u8) = runs
    assert (p32[:1000].argmax(1) == p8[:1000].argmax(1)).mean() >= 0.995
    assert ((u32 >= 1) == (u8 >= 1)).mean() >= 0.97


def test_posterior_cli_reports_a_missing_model_in_one_line(tmp_path, capsys):
    from cnn.__main__ import main

    missing = tmp_path / "nope.onnx"
    assert main(["posterior", "--model", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "python -m cnn export" in err


def test_predictor_and_json_record_carry_abstain_and_uncertainty(mnist_test):
    from cnn.reader.nondigits import scribble, to_pixels
    from serving.predictor import Predictor, predict_pixels
    from serving.records import prediction_record

    predictor = Predictor()
    assert predictor.bayesian and predictor.abstain_threshold == 1.0
    rng = np.random.default_rng(3)
    scribbles = to_pixels([scribble(rng) for _ in range(20)], [-1] * 20).pixels
    pixels = [mnist_test.images[0] / np.float32(255), *scribbles, None]
    results = predict_pixels(pixels, predictor)
    digit = prediction_record("seven", results[0])
    assert digit["digit"] == mnist_test.labels[0] and digit["abstain"] is False
    assert digit["confidence"] == max(digit["probabilities"]) and digit["uncertainty"] < 1.0
    records = [prediction_record("s", r) for r in results[1:-1]]
    abstained = [r for r in records if r["abstain"]]
    assert abstained and all(r["uncertainty"] >= 1.0 and r["digit"] is not None for r in abstained)
    empty = prediction_record("empty", results[-1])
    assert empty["digit"] is None and empty["abstain"] is True and empty["reason"]
    plain = Predictor(MAP_MODEL).predict(scribbles)
    assert not plain.abstain.any() and plain.uncertainty is None
