"""Predictor on the shipped ONNX model with real MNIST; bad model files fail clearly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from onnx import TensorProto, helper

from serving import DEFAULT_MODEL, INT8_MODEL, DigitResult, ModelError, Predictor, predict_image
from serving.predictor import ModelOutputError


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


@pytest.fixture(scope="module")
def sample(mnist_test):
    return mnist_test.images[:500].astype(np.float32) / 255.0, mnist_test.labels[:500]


def test_default_paths_do_not_depend_on_cwd(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert DEFAULT_MODEL.is_absolute() and DEFAULT_MODEL.exists()
        assert INT8_MODEL.parent == DEFAULT_MODEL.parent
        assert Predictor().model_path == DEFAULT_MODEL
    finally:
        os.chdir(cwd)


def test_accuracy_reaches_the_published_bar(predictor, mnist_test, accuracy_bar):
    """All 10,000 test images against the bar README publishes (tests/conftest.py), not
    against the number the file says about itself; that number must be the measured one."""
    pixels = mnist_test.images / np.float32(255)
    accuracy = (predictor.predict(pixels).digits == mnist_test.labels).mean()
    assert accuracy >= accuracy_bar, (accuracy, accuracy_bar)
    assert float(predictor.metadata["test_accuracy"]) == pytest.approx(accuracy, abs=5e-5)


def test_probabilities_and_top_k(predictor, sample):
    result = predictor.predict(sample[0][:64])
    p = result.probabilities
    assert p.shape == (64, 10) and len(result) == 64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert (p >= 0).all()
    digits, probs = result.top_k(3)
    assert digits.shape == probs.shape == (64, 3)
    np.testing.assert_array_equal(digits[:, 0], result.digits)
    assert (np.diff(probs, axis=1) <= 0).all()  # best first
    np.testing.assert_allclose(probs, np.take_along_axis(p, digits, axis=1))
    with pytest.raises(ValueError, match="k must"):
        result.top_k(11)


def test_shapes_and_dtypes_agree(predictor, mnist_test):
    raw = mnist_test.images[:8]
    as_float = predictor.predict(raw / np.float32(255)).logits
    np.testing.assert_allclose(predictor.predict(raw[:, None] / 255.0).logits, as_float, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(raw).logits, as_float, atol=1e-5)  # uint8
    np.testing.assert_allclose(predictor.predict(raw[0] / 255.0).logits, as_float[:1], atol=1e-5)
    assert predictor.predict(np.zeros((0, 28, 28), np.float32)).digits.shape == (0,)


def test_big_batches_are_chunked_identically(predictor, sample):
    pixels = sample[0]
    whole = predictor.predict(pixels).logits
    pieces = np.concatenate([predictor.predict(pixels[i : i + 7]).logits for i in range(0, 500, 7)])
    np.testing.assert_allclose(whole, pieces, atol=1e-4)


@pytest.mark.parametrize(
    ("pixels", "words"),
    [
        (np.zeros((2, 3, 28, 28), np.float32), "shape"),
        (np.zeros((2, 32, 32), np.float32), "shape"),
        (np.full((1, 28, 28), np.nan, np.float32), "finite"),
        (np.full((1, 28, 28), 255.0, np.float32), "[0, 1]"),
        (np.zeros((1, 28, 28), np.int32), "dtype"),
    ],
)
def test_bad_pixels(predictor, pixels, words):
    with pytest.raises(ValueError) as info:
        predictor.predict(pixels)
    assert words in str(info.value)


def test_threads_setting(mnist_test):
    one = Predictor(intra_op_threads=1)
    x = mnist_test.images[:4] / np.float32(255)
    np.testing.assert_allclose(one.predict(x).logits, Predictor().predict(x).logits, atol=1e-4)
    with pytest.raises(ValueError, match="intra_op_threads"):
        Predictor(intra_op_threads=0)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist.*python -m cnn export"):
        Predictor(tmp_path / "nope.onnx")


def test_corrupt_file(tmp_path, rng):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        Predictor(path)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(DEFAULT_MODEL.read_bytes()[:100_000])
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        Predictor(truncated)


def test_wrong_signatures(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 28, 28])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, 28, 28])
    identity = _save(
        helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]),
        tmp_path / "identity.onnx",
    )
    with pytest.raises(ModelError, match=r"output y .*Expected input float \[batch,1,28,28\]"):
        Predictor(identity)

    rgb = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 32, 32])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])
    node = helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0)
    flat = helper.make_node("Flatten", ["x"], ["y"])
    graph = helper.make_graph([node, flat], "g", [rgb], [out])
    with pytest.raises(ModelError, match="input x is tensor\\(float\\)"):
        Predictor(_save(graph, tmp_path / "rgb.onnx"))


def test_predict_image_on_a_drawing(predictor, mnist_test):
    canvas = np.zeros((280, 280, 4), dtype=np.uint8)
    canvas[100:212, 20:132, 3] = np.kron(mnist_test.images[0], np.ones((4, 4), np.uint8))
    result = predict_image(canvas, predictor)
    assert isinstance(result, DigitResult)
    assert result.digit == mnist_test.labels[0]
    assert result.probabilities.shape == (10,) and result.pixels.shape == (28, 28)
    assert result.probabilities.argmax() == result.digit
    assert 0 < result.seconds < 5


def test_predict_image_empty(predictor):
    result = predict_image(np.zeros((280, 280, 4), dtype=np.uint8), predictor)
    assert result.digit is None and result.probabilities is None and result.pixels is None
    assert result.seconds >= 0


def _linear_model(path: Path, scale: float = 1.0, data_dependent_classes: bool = False) -> Path:
    """pixels [n,1,28,28] -> Flatten -> MatMul W [784, 10] * scale -> ``logits``, plus a first
    output ``features`` (so the logits are not output 0). With ``data_dependent_classes`` the
    logits keep the first 5 * max(pixels) columns: a shape no load-time check can see."""
    x = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 1, 28, 28])
    features = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", 784])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", "k"])
    weights = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)
    init = [
        onnx.numpy_helper.from_array(weights, "w"),
        onnx.numpy_helper.from_array(np.array(scale, np.float32), "scale"),
        onnx.numpy_helper.from_array(np.array([5.0], np.float32), "five"),
        onnx.numpy_helper.from_array(np.array([0], np.int64), "zero"),
        onnx.numpy_helper.from_array(np.array([1], np.int64), "one"),
    ]
    nodes = [
        helper.make_node("Flatten", ["pixels"], ["features"]),
        helper.make_node("MatMul", ["features", "w"], ["raw"]),
        helper.make_node("Mul", ["raw", "scale"], ["scaled"]),
    ]
    if data_dependent_classes:
        nodes += [
            helper.make_node("ReduceMax", ["pixels"], ["peak"], keepdims=0),
            helper.make_node("Mul", ["peak", "five"], ["end_float"]),
            helper.make_node("Cast", ["end_float"], ["end"], to=TensorProto.INT64),
            helper.make_node("Slice", ["scaled", "zero", "end", "one"], ["logits"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["scaled"], ["logits"]))
    return _save(helper.make_graph(nodes, "g", [x], [features, logits], init), path)


def test_logits_are_chosen_by_name(tmp_path, mnist_test):
    model = Predictor(_linear_model(tmp_path / "two.onnx"))
    assert model.output_name == "logits"
    assert model.predict(mnist_test.images[:3]).logits.shape == (3, 10)


def test_nan_outputs_are_refused_at_run_time(tmp_path, mnist_test):
    model = Predictor(_linear_model(tmp_path / "nan.onnx", scale=float("nan")))
    with pytest.raises(ModelOutputError, match=r"nan\.onnx returned 30 non-finite value\(s\)"):
        model.predict(mnist_test.images[:3])


def test_wrong_output_shape_is_refused_at_run_time(tmp_path, mnist_test):
    model = Predictor(_linear_model(tmp_path / "five.onnx", data_dependent_classes=True))
    with pytest.raises(ModelOutputError, match=r"logits of shape \[3, 5\] for 3 image\(s\)"):
        model.predict(mnist_test.images[:3])
    with pytest.raises(ModelOutputError):
        predict_image(np.kron(mnist_test.images[0], np.ones((4, 4), np.uint8)), model)
