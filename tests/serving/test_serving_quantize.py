"""The shipped INT8 model: made from the shipped fp32 model, reproducible, and as accurate."""

from __future__ import annotations

import numpy as np
import pytest

from serving import DEFAULT_MODEL, INT8_MODEL, ModelError, Predictor
from serving.__main__ import main
from serving.quantize import (
    MnistCalibration,
    QuantizeConfig,
    calibration_images,
    is_quantized,
    quantize_model,
    sha256,
)


@pytest.fixture(scope="module")
def fp32() -> Predictor:
    return Predictor(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def int8() -> Predictor:
    return Predictor(INT8_MODEL)


def test_shipped_int8_was_made_from_the_shipped_fp32(int8):
    assert int8.metadata["fp32_sha256"] == sha256(DEFAULT_MODEL), (
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
    """Same fp32 model + same options = the same bytes: the shipped file can be checked.

    (As `python -m serving quantize` does, with the test accuracy written into the metadata.)
    """
    out = tmp_path / "int8.onnx"
    test = (mnist_test.images, mnist_test.labels)
    result = quantize_model(mnist_train.images, QuantizeConfig(out=out), test)
    assert result["sha256"] == sha256(out) == sha256(INT8_MODEL)
    Predictor(out)  # loads and passes the signature check


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


def test_a_model_over_the_accuracy_bound_is_never_written(mnist_train, mnist_test, tmp_path):
    out = tmp_path / "int8.onnx"
    out.write_bytes(b"the previous INT8 model")
    config = QuantizeConfig(out=out, calibration_images=100, max_accuracy_loss=-1.0)
    test = (mnist_test.images[:500], mnist_test.labels[:500])
    with pytest.raises(ValueError, match=r"loses -?\d\.\d\d percentage points.*left unchanged"):
        quantize_model(mnist_train.images, config, test)
    assert out.read_bytes() == b"the previous INT8 model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.onnx"]  # no temp file left


def test_is_quantized():
    assert is_quantized(INT8_MODEL) and not is_quantized(DEFAULT_MODEL)
