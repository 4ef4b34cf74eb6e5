"""The Bayesian graph: laplace-torch's predictive baked into ONNX, checked three ways.

1. The ONNX graph's probabilities equal laplace-torch's own probit predictive (<= 1e-5).
2. Fitting the last layer alone on features equals laplace-torch's last-layer Laplace of the
   whole CNN (the shortcut `python -m cnn posterior` takes).
3. The diagonal GGN equals a brute-force per-image sum on a few images.
Plus the shipped file: built from the shipped MAP model, its metadata, accuracy and abstention.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

pytest.importorskip("laplace", reason="pip install --no-deps -r .ci/posterior-requirements.txt")

from cnn.export import model_from_onnx  # noqa: E402
from cnn.reader.pipeline import feature_loader, onnx_bytes  # noqa: E402
from cnn.reader.posterior import (  # noqa: E402
    OUTPUT_NAMES,
    BayesianDigitCNN,
    ClassGaussians,
    diag_variances,
    feature_batches,
    fit_last_layer_laplace,
    head_model,
)
from cnn.splits import train_validation_indices  # noqa: E402
from serving.graph_head import head_nodes  # noqa: E402
from serving.session import DEFAULT_MODEL, INT8_MODEL, MAP_MODEL  # noqa: E402

FIT_IMAGES, CHECK_IMAGES = 2000, 1000


@pytest.fixture(scope="module")
def fitted(mnist_train, mnist_test):
    """A small real fit: diag last-layer Laplace (marglik prior) on 2,000 training images."""
    torch.set_num_threads(1)
    model = model_from_onnx(MAP_MODEL)
    train_idx, val_idx = train_validation_indices()
    idx = train_idx[:FIT_IMAGES]
    pixels = mnist_train.images[idx] / np.float32(255)
    labels = mnist_train.labels[idx].astype(np.int64)
    feats = feature_batches(model, pixels)
    la = fit_last_layer_laplace(head_model(model), feature_loader(feats, labels), "diag")
    val = feature_batches(model, mnist_train.images[val_idx[:500]] / np.float32(255))
    density = ClassGaussians(dims=16).fit(feats, labels, val, mnist_train.labels[val_idx[:500]])
    weight_var, bias_var = diag_variances(la)
    module = BayesianDigitCNN(model, weight_var, bias_var, 1.0, density, 0.0, 100.0).eval()
    session = ort.InferenceSession(onnx_bytes(module), providers=["CPUExecutionProvider"])
    test = mnist_test.images[:CHECK_IMAGES, None] / np.float32(255)
    return {
        "model": model,
        "la": la,
        "pixels": pixels,
        "labels": labels,
        "feats": feats,
        "session": session,
        "test": test,
    }


def test_onnx_probabilities_equal_laplace_torch_predictive(fitted):
    probabilities = fitted["session"].run(["probabilities"], {"pixels": fitted["test"]})[0]
    feats = torch.from_numpy(feature_batches(fitted["model"], fitted["test"]))
    expected = fitted["la"](feats, pred_type="glm", link_approx="probit").detach().numpy()
    assert np.abs(probabilities - expected).max() <= 1e-5
    # ... and the posterior is not a no-op: it moves probabilities away from the MAP softmax.
    logits = fitted["session"].run(["logits"], {"pixels": fitted["test"]})[0]
    map_softmax = torch.softmax(torch.from_numpy(logits), 1).numpy()
    assert np.abs(probabilities - map_softmax).max() > 1e-3


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
    assert (uncertainty >= float(meta["abstain_threshold"])).mean() < 0.03


def test_shipped_graph_abstains_on_scribbles(shipped):
    from cnn.reader.nondigits import scribble, to_pixels

    rng = np.random.default_rng(7)
    drawn = to_pixels([scribble(rng) for _ in range(60)], [-1] * 60)
    session, meta = shipped
    uncertainty = session.run(["uncertainty"], {"pixels": drawn.pixels[:, None]})[0]
    assert (uncertainty >= float(meta["abstain_threshold"])).mean() > 0.3


def test_int8_keeps_the_posterior_head_in_fp32():
    bayes, plain = onnx.load(str(DEFAULT_MODEL)), onnx.load(str(MAP_MODEL))
    assert head_nodes(plain) == [] and len(head_nodes(bayes)) >= 10
    int8 = onnx.load(str(INT8_MODEL))
    names = {i.name for i in int8.graph.initializer}
    assert {"var_weight", "projection", "whiten_all"} <= names  # float, not quantized copies
    ops = {n.op_type for n in int8.graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops


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
    assert prediction_record("empty", results[-1])["abstain"] is None
    plain = Predictor(MAP_MODEL).predict(scribbles)
    assert not plain.abstain.any() and plain.uncertainty is None
