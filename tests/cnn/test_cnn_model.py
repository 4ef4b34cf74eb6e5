"""The course's architecture, exactly."""

from __future__ import annotations

import torch

from cnn.model import PARAMETER_COUNT, DigitCNN, count_parameters


def test_parameter_count_matches_the_course():
    model = DigitCNN()
    assert count_parameters(model) == PARAMETER_COUNT == 3_274_634
    sizes = {name: p.numel() for name, p in model.named_parameters()}
    assert sizes["conv1.weight"] + sizes["conv1.bias"] == 832
    assert sizes["conv2.weight"] + sizes["conv2.bias"] == 51_264
    assert sizes["fc1.weight"] + sizes["fc1.bias"] == 3_212_288
    assert sizes["fc2.weight"] + sizes["fc2.bias"] == 10_250


def test_shapes_and_same_padding():
    model = DigitCNN().eval()
    h1, h2 = model.features(torch.rand(3, 1, 28, 28))
    assert h1.shape == (3, 32, 28, 28) and h2.shape == (3, 64, 14, 14)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model, x = DigitCNN(), torch.rand(4, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
