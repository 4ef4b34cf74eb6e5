"""``cnn train --outlier-exposure``: proxies beside every batch teach a training-only "is it a
digit?" output on fc1; the exported network is the course's, unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cnn.__main__ import main
from cnn.model import DigitCNN
from cnn.outlier_exposure import OutlierExposure, load_proxies
from cnn.train import TrainConfig, load_checkpoint_model, read_checkpoint, train

pytestmark = pytest.mark.slow


def _proxies(path: Path, count: int = 400, seed: int = 0) -> np.ndarray:
    """Stand-in non-digits unlike MNIST: 2-4 random straight bars and blobs, uint8."""
    rng = np.random.default_rng(seed)
    out = np.zeros((count, 28, 28), np.uint8)
    for image in out:
        for _ in range(rng.integers(2, 5)):
            r, c = rng.integers(2, 22, size=2)
            h, w = (rng.integers(2, 6), rng.integers(6, 20))[:: rng.choice([1, -1])]
            image[r : r + h, c : c + w] = 255
    np.save(path, out)
    return out


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_the_auxiliary_output_learns_digits_from_proxies(tmp_path: Path, one_torch_thread):
    train_file, held_out = tmp_path / "train.npy", tmp_path / "held.npy"
    _proxies(train_file, seed=0)
    unseen = _proxies(held_out, count=200, seed=1)
    out = tmp_path / "run"
    settings = dict(
        epochs=2, limit=1024, batch_size=64, validation_size=500, test_limit=500, device="cpu",
        outlier_exposure=str(train_file), oe_batch=32,
    )  # fmt: skip
    metrics = train(TrainConfig(out=str(out), **settings), progress=False)
    assert metrics["test_accuracy"] > 0.7  # the digits are still learned
    from cnn.reader.train_proxies import sha256_of

    assert metrics["outlier_exposure_sha256"] == sha256_of(train_file)
    state = read_checkpoint(out / "checkpoint.pt")
    head = torch.nn.Linear(1024, 1)
    head.load_state_dict(state["oe_head"])
    model, _ = load_checkpoint_model(out / "checkpoint.pt")  # the course's network, as always
    assert set(model.state_dict()) == set(DigitCNN().state_dict())
    from cnn.data import load_mnist

    test = load_mnist("test")
    digits = torch.from_numpy(test.images[:200].astype(np.float32) / 255).unsqueeze(1)
    with torch.no_grad():
        score = lambda x: head(model.fc1_features(x)).squeeze(1).numpy()  # noqa: E731
        on_digits = score(digits)
        on_unseen = score(torch.from_numpy(unseen.astype(np.float32) / 255).unsqueeze(1))
    assert _auroc(on_digits, on_unseen) > 0.95  # unseen proxies of the same kind: told apart
    # resumable like any run (the head comes back from the checkpoint)
    train(TrainConfig(out=str(out), resume=True, **dict(settings, epochs=2)), progress=False)


def test_bad_proxy_files_are_one_clear_line(tmp_path: Path, capsys):
    missing = tmp_path / "none.npy"
    argv = ["train", "--limit", "128", "--outlier-exposure", str(missing), "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--epochs", "1"]) == 2
    assert "no such file" in capsys.readouterr().err
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"shape \(5, 32, 32\); expected \[N, 28, 28\]"):
        load_proxies(wrong, torch.device("cpu"))
    with pytest.raises(ValueError, match="oe_weight must be positive"):
        OutlierExposure(torch.zeros(3, 1, 28, 28), weight=0.0, batch=4)


def test_cnn_proxies_writes_the_same_training_proxies_every_time(tmp_path: Path, capsys):
    from cnn.reader.proxies import MAKERS
    from cnn.reader.train_proxies import MIXTURE, SEED, sha256_of

    assert set(MIXTURE) <= set(MAKERS) and sum(MIXTURE.values()) == pytest.approx(1.0)
    assert MIXTURE["latin"] == 0.2 and SEED != 0  # the gate's proxies are seed 0
    first, second = tmp_path / "a.npy", tmp_path / "b.npy"
    for out in (first, second):
        assert main(["proxies", "--count", "40", "--out", str(out)]) == 0
    assert f"sha256 {sha256_of(first)}" in capsys.readouterr().out
    assert sha256_of(first) == sha256_of(second)  # deterministic: the trunk can be retrained
    pixels = np.load(first)
    assert pixels.dtype == np.uint8 and pixels.shape == (40, 28, 28)
    assert (pixels.reshape(40, -1).max(1) > 200).all()  # every one has ink
    assert main(["proxies", "--count", "5", "--out", str(tmp_path / "p.png")]) == 2
    assert "give a .npy file name" in capsys.readouterr().err


def test_mixture_2_is_the_gates_version_3_mixture_and_draws_other_proxies(tmp_path: Path):
    from cnn.reader.proxies import KINDS, WEIGHTS
    from cnn.reader.train_proxies import MIXTURES, SHIPPED_MIXTURE, training_proxies

    assert SHIPPED_MIXTURE == "1"  # what models/mnist_cnn.onnx was trained beside (README)
    assert list(MIXTURES["2"]) == list(KINDS)
    np.testing.assert_allclose(list(MIXTURES["2"].values()), WEIGHTS)
    assert "lookalike" not in MIXTURES["1"] and MIXTURES["2"]["lookalike"] == 0.1
    first, second = training_proxies(30), training_proxies(30, mixture="2")
    assert second.shape == first.shape and not np.array_equal(first, second)
    with pytest.raises(ValueError, match="unknown mixture '3'; choose one of 1, 2"):
        training_proxies(3, mixture="3")
