"""The shipped INT8 model: made from the shipped fp32 model, reproducible, and as accurate."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from serving import DEFAULT_MODEL, INT8_MODEL, ModelError, Predictor
from serving.__main__ import main
from serving.files import sha256_of
from serving.quantize import (
    MnistCalibration,
    QuantizeConfig,
    _check_loss,
    calibration_images,
    is_quantized,
    quantize_model,
)


@pytest.fixture(scope="module")
def fp32() -> Predictor:
    return Predictor(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def int8() -> Predictor:
    return Predictor(INT8_MODEL)


def test_shipped_int8_was_made_from_the_shipped_fp32(int8):
    assert int8.metadata["fp32_sha256"] == sha256_of(DEFAULT_MODEL), (
        "models/mnist_cnn_int8.onnx is stale: run `python -m serving quantize` after re-exporting"
    )
    assert "static QDQ" in int8.metadata["quantization"]
    assert int8.metadata["architecture"] == Predictor(DEFAULT_MODEL).metadata["architecture"]


def test_int8_loses_at_most_a_tenth_of_a_point(fp32, int8, mnist_test):
    pixels = mnist_test.images / np.float32(255)
    fp32_digits, int8_digits = fp32.predict(pixels).digits, int8.predict(pixels).digits
    fp32_acc = (fp32_digits == mnist_test.labels).mean()
    int8_acc = (int8_digits == mnist_test.labels).mean()
    assert fp32_acc - int8_acc <= 0.001, (fp32_acc, int8_acc)
    assert (fp32_digits == int8_digits).mean() >= 0.995  # the same model, not just as accurate
    assert float(int8.metadata["test_accuracy"]) == pytest.approx(int8_acc, abs=5e-5)


def test_int8_probabilities_stay_close(fp32, int8, mnist_test):
    pixels = mnist_test.images[:200] / np.float32(255)
    diff = np.abs(fp32.predict(pixels).probabilities - int8.predict(pixels).probabilities)
    assert np.median(diff.max(axis=1)) < 0.01


@pytest.mark.slow
def test_quantize_reproduces_the_shipped_file(mnist_train, mnist_test, tmp_path):
    """Same fp32 model + same options = the same bytes: the shipped file is not stale.

    (Provenance only: a bug in the quantizer would be in the shipped file too. Whether the
    bytes are *right* is checked against the fp32 weights below, and the accuracy bound by
    known accuracy pairs.)
    """
    out = tmp_path / "int8.onnx"
    test = (mnist_test.images, mnist_test.labels)
    result = quantize_model(mnist_train.images, QuantizeConfig(out=out), test)
    assert result["sha256"] == sha256_of(out) == sha256_of(INT8_MODEL)
    Predictor(out)  # loads and passes the signature check


def _initializers(path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def check_int8_weights(int8_path) -> None:
    """Checked against the fp32 file, not against the quantizer's own output: every quantized
    weight dequantizes to its fp32 value within half a step, on 7 bits (reduce_range), with a
    symmetric per-output-channel scale of max|w| / 64; the posterior head stays fp32."""
    fp32, int8 = _initializers(DEFAULT_MODEL), _initializers(int8_path)
    quantized = [k.removesuffix("_quantized") for k in int8 if k.endswith("weight_quantized")]
    assert sorted(quantized) == ["cnn.conv1.weight", "cnn.conv2.weight", "cnn.fc1.weight"]
    for name in quantized:
        q, w = int8[f"{name}_quantized"], fp32[name]
        scale, zero = int8[f"{name}_scale"], int8[f"{name}_zero_point"]
        assert q.dtype == np.int8 and q.shape == w.shape and scale.shape == (len(w),), name
        assert (zero == 0).all() and -64 <= q.min() and q.max() <= 64, name
        per_channel = (-1,) + (1,) * (w.ndim - 1)
        np.testing.assert_allclose(
            scale, np.abs(w).reshape(len(w), -1).max(1) / 64, rtol=1e-5, err_msg=name
        )
        steps = np.abs(q * scale.reshape(per_channel) - w) / scale.reshape(per_channel)
        assert steps.max() <= 0.5 + 1e-4, (name, steps.max())
    kept = sorted(set(fp32) & set(int8))  # the posterior head (and the gate): not quantized
    assert {"cnn.fc2.weight", "cnn.fc2.bias"} <= set(kept)
    for name in kept:
        np.testing.assert_array_equal(int8[name], fp32[name], err_msg=name)


def test_shipped_int8_weights_are_the_fp32_weights_rounded():
    check_int8_weights(INT8_MODEL)


def test_a_fresh_int8_model_has_the_fp32_weights_and_digits(disagreement):
    """What quantize_model writes now (few calibration images), by the same independent checks,
    and it reads the same digit as fp32 on at least 99.5% of the 10,000 test images."""
    check_int8_weights(disagreement.path)
    assert disagreement.agreement >= 0.995, disagreement.agreement


@pytest.mark.parametrize(
    ("fp32", "int8", "refused"),
    [
        (0.9960, 0.9951, False),  # loses 0.09 points: inside the 0.1-point bound
        (0.9960, 0.9949, True),  # loses 0.11 points: over it
        (0.9900, 0.9800, True),
        (0.9951, 0.9960, False),  # INT8 *better* by 0.09 points
        (0.9949, 0.9960, False),  # INT8 better by 0.11 points: no loss at all
        (0.9800, 0.9900, False),
        (0.9960, 0.9960, False),
    ],
)
def test_the_accuracy_bound_on_known_pairs(fp32, int8, refused):
    """Known pairs on both sides of the default bound (0.001): a loss is fp32 - int8."""
    config = QuantizeConfig()
    if not refused:
        _check_loss(fp32, int8, config)
        return
    with pytest.raises(ValueError, match=rf"loses {100 * (fp32 - int8):.2f} percentage points"):
        _check_loss(fp32, int8, config)


@pytest.fixture(scope="module")
def disagreement(mnist_train, mnist_test, tmp_path_factory) -> SimpleNamespace:
    """A quick INT8 model (few calibration images) and k test images on which it and the fp32
    model disagree, plus 20 k on which they agree; quantizing is deterministic, so the same
    config gives the same file again."""
    pixels = mnist_test.images / np.float32(255)
    fp32_digits = Predictor(DEFAULT_MODEL).predict(pixels).digits
    out = tmp_path_factory.mktemp("int8") / "quick.onnx"
    for count in (20, 5, 2):
        config = QuantizeConfig(out=out, calibration_images=count)
        quantize_model(mnist_train.images, config)
        int8_digits = Predictor(out).predict(pixels).digits
        differ = np.flatnonzero(int8_digits != fp32_digits)
        if len(differ):
            break
    else:
        pytest.skip("no calibration size found where INT8 and fp32 disagree on a test image")
    agree = np.flatnonzero(int8_digits == fp32_digits)[: 20 * len(differ)]
    pick = np.concatenate([differ, agree])
    return SimpleNamespace(
        config=config,
        path=out,
        images=mnist_test.images[pick],
        fp32_digits=fp32_digits[pick],
        int8_digits=int8_digits[pick],
        k=len(differ),
        agreement=float((int8_digits == fp32_digits).mean()),
    )


def test_a_model_over_the_accuracy_bound_is_never_written(mnist_train, disagreement, tmp_path):
    """Labels = the fp32 model's digits: fp32 scores 100%, INT8 loses exactly k of n images.
    A bound just under k / n refuses the file, one just over writes it."""
    config, images, fp32_digits, k = (
        disagreement.config,
        disagreement.images,
        disagreement.fp32_digits,
        disagreement.k,
    )
    n, out = len(images), tmp_path / "int8.onnx"
    out.write_bytes(b"the previous INT8 model")
    under = replace(config, out=out, max_accuracy_loss=(k - 0.5) / n)
    with pytest.raises(ValueError, match=rf"loses {100 * k / n:.2f} percentage points.*unchanged"):
        quantize_model(mnist_train.images, under, (images, fp32_digits))
    assert out.read_bytes() == b"the previous INT8 model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.onnx"]  # no temp file left
    over = replace(config, out=out, max_accuracy_loss=(k + 0.5) / n)
    result = quantize_model(mnist_train.images, over, (images, fp32_digits))
    assert result["fp32_test_accuracy"] == 1.0
    assert result["int8_test_accuracy"] == pytest.approx(1 - k / n)
    assert is_quantized(out)


def test_an_int8_model_more_accurate_than_fp32_is_written(mnist_train, disagreement, tmp_path):
    """Labels = the INT8 model's digits: INT8 scores 100% and fp32 less. That is no loss, so
    even a bound of 0 writes the file (a reversed subtraction would refuse it)."""
    config, images, int8_digits, k = (
        disagreement.config,
        disagreement.images,
        disagreement.int8_digits,
        disagreement.k,
    )
    out = tmp_path / "int8.onnx"
    strict = replace(config, out=out, max_accuracy_loss=0.0)
    result = quantize_model(mnist_train.images, strict, (images, int8_digits))
    assert result["int8_test_accuracy"] == 1.0
    assert result["fp32_test_accuracy"] == pytest.approx(1 - k / len(images))
    assert is_quantized(out)


def test_calibration_images_are_seeded(mnist_train):
    a = calibration_images(mnist_train.images, 300, seed=0)
    np.testing.assert_array_equal(a, calibration_images(mnist_train.images, 300, seed=0))
    assert not np.array_equal(a, calibration_images(mnist_train.images, 300, seed=1))
    assert a.shape == (300, 28, 28) and a.dtype == np.uint8


def test_calibration_reader_batches_and_rewinds(mnist_train):
    reader = MnistCalibration(mnist_train.images[:250], "pixels", batch=100)
    shapes = [b["pixels"].shape for b in iter(reader.get_next, None)]
    assert shapes == [(100, 1, 28, 28), (100, 1, 28, 28), (50, 1, 28, 28)]
    reader.rewind()
    first = reader.get_next()["pixels"]
    assert first.dtype == np.float32 and 0 <= first.min() and first.max() <= 1


def test_bad_requests(mnist_train, tmp_path):
    with pytest.raises(ValueError, match="method must be one of"):
        quantize_model(mnist_train.images[:10], QuantizeConfig(method="magic", out=tmp_path / "x"))
    with pytest.raises(ModelError, match="does not exist"):
        quantize_model(
            mnist_train.images[:10],
            QuantizeConfig(model=tmp_path / "none.onnx", out=tmp_path / "x"),
        )


def test_quantizing_the_shipped_int8_model_is_refused_and_leaves_it_intact(tmp_path, capsys):
    """The old failure: `quantize --model models/mnist_cnn_int8.onnx` (default --out is that same
    file) wrote an invalid model over the good one before reporting an error."""
    before = INT8_MODEL.read_bytes()
    assert main(["quantize", "--model", str(INT8_MODEL)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already quantized" in err and "Traceback" not in err
    out = tmp_path / "again.onnx"
    assert main(["quantize", "--model", str(INT8_MODEL), "--out", str(out)]) == 2
    assert "already quantized" in capsys.readouterr().err
    assert INT8_MODEL.read_bytes() == before
    assert not out.exists() and list(INT8_MODEL.parent.glob("*.tmp")) == []


def test_out_equal_to_model_is_refused(tmp_path, capsys):
    model = tmp_path / "fp32.onnx"
    model.write_bytes(DEFAULT_MODEL.read_bytes())
    (tmp_path / "sub").mkdir()
    for out in (model, tmp_path / "sub" / ".." / "fp32.onnx"):
        assert main(["quantize", "--model", str(model), "--out", str(out)]) == 2
        assert "is the --model file" in capsys.readouterr().err
    assert model.read_bytes() == DEFAULT_MODEL.read_bytes()


def test_is_quantized():
    assert is_quantized(INT8_MODEL) and not is_quantized(DEFAULT_MODEL)
