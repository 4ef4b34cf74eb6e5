"""The NumPy conv/pool reference against the course's worked examples and torch.nn.functional."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cnn.labs.conv import (
    SOBEL_HORIZONTAL,
    conv2d,
    dropped_inputs,
    max_pool2d,
    output_size,
    same_padding,
    sobel_response,
    windows_1d,
)
from cnn.labs.conv_lab import WORKED_EXAMPLES, ConvLabConfig, conv_lab, feature_maps, padding_1d
from cnn.labs.report import save_lab
from cnn.model import DigitCNN

X1 = np.array([[0, 1, 2, 1, 0], [4, 1, 0, 1, 0], [2, 0, 1, 1, 1], [1, 2, 3, 1, 0], [0, 4, 3, 2, 0]])
K1 = np.array([[0, 1, 0], [1, 0, 1], [2, 1, 0]])


@pytest.mark.parametrize("example", WORKED_EXAMPLES, ids=lambda e: e.title)
def test_every_worked_example_from_the_course(example):
    expected = np.array(example.expected, dtype=float)
    assert np.array_equal(example.compute()[: len(expected)], expected)
    assert example.matches()


def test_course_conv_examples_spelled_out():
    assert conv2d(X1, K1).tolist() == [[9, 5, 4], [8, 8, 10], [8, 15, 12]]
    assert conv2d(X1, K1, 2).tolist() == [[9, 4], [8, 12]]
    assert conv2d(X1, K1, 1, "SAME")[0].tolist() == [5, 11, 4, 3, 3]
    assert conv2d(X1, K1, 2, "SAME").tolist() == [[5, 4, 3], [5, 8, 3], [5, 9, 2]]
    pool_in = np.array([[0, 1, 2, 1], [4, 1, 0, 1], [2, 0, 1, 1], [1, 2, 3, 1]])
    assert max_pool2d(pool_in, 2, 1).tolist() == [[4, 2, 2], [4, 1, 1], [2, 3, 3]]
    assert max_pool2d(pool_in, 2, 2).tolist() == [[4, 2], [2, 3]]


def test_a_wrong_example_is_caught():
    wrong = WORKED_EXAMPLES[0].__class__(
        "wrong", "conv", WORKED_EXAMPLES[0].x, WORKED_EXAMPLES[0].kernel, 1, "VALID", ((9, 5, 5),)
    )
    assert not wrong.matches()


def test_course_1d_padding_example():
    # width 13, filter 6, stride 5: VALID -> 2 outputs, dropping the last 2 inputs; SAME -> 3.
    assert output_size(13, 6, 5, "VALID") == 2
    assert dropped_inputs(13, 6, 5, "VALID") == [11, 12]
    assert output_size(13, 6, 5, "SAME") == 3
    assert dropped_inputs(13, 6, 5, "SAME") == []
    assert same_padding(13, 6, 5) == (1, 2)  # TF puts the odd zero at the end
    assert [list(w) for w in windows_1d(13, 6, 5)] == [list(range(0, 6)), list(range(5, 11))]
    x = torch.arange(13.0)[None, None]
    assert F.conv1d(x, torch.ones(1, 1, 6), stride=5).shape[-1] == 2
    assert F.conv1d(F.pad(x, (1, 2)), torch.ones(1, 1, 6), stride=5).shape[-1] == 3
    assert padding_1d() == {
        "input_width": 13, "filter_width": 6, "stride": 5, "valid_outputs": 2,
        "valid_dropped_inputs": [11, 12], "valid_dropped_positions": [12, 13],
        "same_outputs": 3, "same_padding_before_after": [1, 2],
    }  # fmt: skip


def _torch_conv(x, k, stride, padding, bias=None):
    xt, kt = torch.from_numpy(x)[None], torch.from_numpy(k)
    bt = None if bias is None else torch.from_numpy(bias)
    if padding == "SAME":
        (t, b), (le, r) = (
            same_padding(x.shape[-2], k.shape[-2], stride),
            same_padding(x.shape[-1], k.shape[-1], stride),
        )
        xt = F.pad(xt, (le, r, t, b))
    return F.conv2d(xt, kt, bt, stride=stride)[0].numpy()


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("shape", [(9, 9, 3, 3), (10, 7, 4, 2), (6, 11, 5, 5)])
def test_conv2d_matches_torch_multichannel(rng, padding, stride, shape):
    h, w, kh, kw = shape
    x = rng.normal(size=(3, h, w))
    k = rng.normal(size=(4, 3, kh, kw))
    bias = rng.normal(size=4)
    ours = conv2d(x, k, stride, padding, bias)
    assert ours.shape == (
        4,
        output_size(h, kh, stride, padding),
        output_size(w, kw, stride, padding),
    )
    np.testing.assert_allclose(ours, _torch_conv(x, k, stride, padding, bias), atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_same_rule_agrees_with_torch_same_mode_at_stride_1(rng, k):
    x = rng.normal(size=(1, 8, 9))
    kernel = rng.normal(size=(1, 1, k, k))
    theirs = F.conv2d(torch.from_numpy(x)[None], torch.from_numpy(kernel), padding="same")
    np.testing.assert_allclose(conv2d(x, kernel, 1, "SAME"), theirs[0].numpy(), atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("size", [2, 3])
def test_max_pool_matches_torch(rng, size, stride):
    x = rng.normal(size=(2, 9, 8))
    xt = torch.from_numpy(x)[None]
    valid = F.max_pool2d(xt, size, stride)[0].numpy()
    np.testing.assert_array_equal(max_pool2d(x, size, stride), valid)
    (t, b), (le, r) = same_padding(9, size, stride), same_padding(8, size, stride)
    same = F.max_pool2d(F.pad(xt, (le, r, t, b), value=-np.inf), size, stride)[0].numpy()
    ours = max_pool2d(x, size, stride, "SAME")
    assert ours.shape[-2:] == (
        output_size(9, size, stride, "SAME"),
        output_size(8, size, stride, "SAME"),
    )
    np.testing.assert_array_equal(ours, same)


def test_same_max_pool_with_padding_only_at_the_end_is_torch_ceil_mode(rng):
    x = rng.normal(size=(1, 7, 7))  # 2x2 stride 2: TF pads 0 before, 1 after
    theirs = F.max_pool2d(torch.from_numpy(x)[None], 2, 2, ceil_mode=True)[0].numpy()
    np.testing.assert_array_equal(max_pool2d(x, 2, 2, "SAME"), theirs)


def test_bad_input_says_what_to_fix():
    with pytest.raises(ValueError, match="padding must be 'VALID' or 'SAME'"):
        conv2d(X1, K1, 1, "FULL")
    with pytest.raises(ValueError, match="stride must be a positive"):
        conv2d(X1, K1, 0)
    with pytest.raises(ValueError, match="no larger than the input"):
        conv2d(X1[:2], K1)
    with pytest.raises(ValueError, match="matching C"):
        conv2d(np.zeros((2, 5, 5)), np.zeros((1, 3, 3, 3)))


def test_sobel_on_a_real_digit(mnist_test):
    image = mnist_test.images[0] / 255.0
    ours = sobel_response(image)
    theirs = F.conv2d(
        torch.from_numpy(image)[None, None],
        torch.from_numpy(SOBEL_HORIZONTAL)[None, None],
        padding=1,
    )[0, 0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    # A vertical edge with ink on the right answers negative, ink on the left positive.
    edge = np.zeros((5, 6))
    edge[:, 3:] = 1.0
    assert sobel_response(edge)[2, 2] == -4 and sobel_response(1 - edge)[2, 2] == 4
    assert np.abs(ours).max() > 2  # strokes give strong responses


def test_feature_maps_of_a_cnn(mnist_test):
    torch.manual_seed(0)
    maps = feature_maps(DigitCNN().eval(), mnist_test.images[0])
    assert [m.shape for m in maps] == [(32, 28, 28), (64, 14, 14)]
    assert all((m >= 0).all() for m in maps)  # after ReLU


def test_conv_lab_without_checkpoint_says_so_and_still_runs(tmp_path, mnist_test):
    missing = tmp_path / "nowhere" / "checkpoint.pt"
    result = conv_lab(ConvLabConfig(checkpoint=str(missing)), image=mnist_test.images[0])
    assert "python -m cnn train" in result.numbers["feature_maps"]["missing"]
    assert "conv_feature_maps_missing" in result.figures
    assert all(e["matches"] for e in result.numbers["worked_examples"])
    paths = save_lab(result, tmp_path / "out")
    assert {p.name for p in paths} >= {
        "conv_worked_examples.png",
        "conv_sobel.png",
        "conv-lab.json",
    }
    assert (
        json.loads((tmp_path / "out" / "conv-lab.json").read_text())["padding_1d"]["same_outputs"]
        == 3
    )


def test_conv_lab_with_a_checkpoint(tmp_path, mnist_test):
    torch.manual_seed(0)
    path = tmp_path / "checkpoint.pt"
    config = {
        "dropout": 0.5,
        "epochs": 1,
        "seed": 0,
        "batch_size": 64,
        "lr": 1e-3,
        "augment": False,
        "command": "test",
    }  # what cnn.checkpoint checks for
    torch.save({"config": config, "epoch": 1, "history": [], "model": DigitCNN().state_dict()},
               path)  # fmt: skip
    result = conv_lab(ConvLabConfig(checkpoint=str(path)), image=mnist_test.images[3])
    assert result.numbers["feature_maps"]["shapes"] == [[32, 28, 28], [64, 14, 14]]
    assert {"conv_feature_maps_conv1", "conv_feature_maps_conv2"} <= set(result.figures)


def test_conv_lab_with_an_unreadable_checkpoint(tmp_path, mnist_test):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    result = conv_lab(ConvLabConfig(checkpoint=str(path)), image=mnist_test.images[0])
    assert "Could not read a DigitCNN checkpoint" in result.numbers["feature_maps"]["missing"]
    assert "conv_feature_maps_missing" in result.figures


def test_conv_lab_default_draws_the_shipped_models_feature_maps(mnist_test):
    result = conv_lab(ConvLabConfig(), image=mnist_test.images[0])
    assert result.numbers["feature_maps"]["checkpoint"].endswith("mnist_cnn.onnx")
    assert result.numbers["feature_maps"]["shapes"] == [[32, 28, 28], [64, 14, 14]]
    # A trained first layer responds to the strokes: some maps are far from all-zero.
    assert 0.05 < result.numbers["feature_maps"]["fraction_zero"][0] < 0.95
