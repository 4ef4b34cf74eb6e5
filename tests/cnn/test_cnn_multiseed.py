"""``cnn train --seeds``: stacked members follow their single-seed runs, and every member's run
folder is a run folder like any other (loads, exports, evaluates, resumes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn.__main__ import main
from cnn.evaluate import checkpoint_logits, evaluate_model, onnx_logits
from cnn.export import export_onnx
from cnn.multiseed import train_seeds
from cnn.train import TrainConfig, load_checkpoint_model, train

pytestmark = pytest.mark.slow

# 2 epochs x 8 steps of batch 32. Dropout and augmentation off: their draws come from one
# generator for the whole stack, so only then can a member follow its single run step by step.
SETTINGS = dict(
    epochs=2, limit=256, batch_size=32, validation_size=500, test_limit=200, device="cpu",
    dropout=0.0, augment=False, log_every=1,
)  # fmt: skip
# Measured (docs/BENCHMARKS.md): the stacked members differ from their single runs by at most
# ~2e-5 in any weight (vmap turns the convolutions into grouped ones: another summation order,
# which Adam's g/sqrt(v) amplifies where a gradient is near zero) and ~5e-7 in the logged losses;
# seed 0 vs seed 1 differ by 0.39 in weights and 0.72 in losses.
WEIGHT_TOLERANCE = 2e-4
LOSS_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_torch_thread) -> Path:
    base = tmp_path_factory.mktemp("multiseed")
    train_seeds(TrainConfig(out=str(base / "stacked"), **SETTINGS), (0, 1), progress=False)
    for seed in (0, 1):
        train(TrainConfig(out=str(base / f"single{seed}"), seed=seed, **SETTINGS), progress=False)
    return base


def _weights(path: Path) -> dict[str, torch.Tensor]:
    model, _ = load_checkpoint_model(path / "checkpoint.pt")
    return model.state_dict()


def _curve(path: Path) -> np.ndarray:
    metrics = json.loads((path / "metrics.json").read_text())
    return np.concatenate([e["loss_curve"] for e in metrics["epochs"]])


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_stacked_member_follows_its_single_seed_run(runs: Path, seed: int):
    stacked, single = runs / "stacked" / f"seed{seed}", runs / f"single{seed}"
    assert _max_diff(_weights(stacked), _weights(single)) <= WEIGHT_TOLERANCE
    curve, reference = _curve(stacked), _curve(single)
    assert len(curve) == len(reference) == 16
    assert np.abs(curve - reference).max() <= LOSS_TOLERANCE
    assert curve[-1] < curve[0] / 2  # it learned: not two flat lines agreeing


def test_the_members_are_different_models(runs: Path):
    a, b = _weights(runs / "stacked" / "seed0"), _weights(runs / "stacked" / "seed1")
    assert _max_diff(a, b) > 100 * WEIGHT_TOLERANCE
    assert np.abs(_curve(runs / "single0") - _curve(runs / "single1")).max() > 1e-2


def test_a_member_folder_is_written_like_a_single_run(runs: Path):
    member = json.loads((runs / "stacked" / "seed1" / "metrics.json").read_text())
    single = json.loads((runs / "single1" / "metrics.json").read_text())
    assert member.keys() == single.keys()
    assert member["config"]["seed"] == 1 and member["config"]["out"].endswith("seed1")
    assert member["world_size"] == 1 and member["global_batch_size"] == 32
    assert set(single["epochs"][0]) <= set(member["epochs"][0])
    assert member["epochs"][0]["stacked_seeds"] == [0, 1]
    assert member["test_images"] == 200 and member["test_accuracy"] > 0.5
    a = torch.load(runs / "stacked" / "seed1" / "checkpoint.pt", weights_only=True)
    b = torch.load(runs / "single1" / "checkpoint.pt", weights_only=True)
    assert a.keys() == b.keys() and a["epoch"] == b["epoch"] == 2
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for key, entry in a["optimizer"]["state"].items():  # this member's Adam moments, sliced out
        assert entry["exp_avg"].shape == b["optimizer"]["state"][key]["exp_avg"].shape


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def test_every_member_loads_exports_and_evaluates(runs: Path, tmp_path: Path, mnist_test):
    pixels = mnist_test.images[:200, None].astype(np.float32) / 255
    labels = mnist_test.labels[:200]
    for seed in (0, 1):  # each member's checkpoint scores its recorded test accuracy
        folder = runs / "stacked" / f"seed{seed}"
        recorded = json.loads((folder / "metrics.json").read_text())["test_accuracy"]
        got = _accuracy(checkpoint_logits(folder / "checkpoint.pt", pixels), labels)
        assert got == pytest.approx(recorded)
    # Export (~20 s here) is the same code for every member: one of them, through ONNX Runtime.
    onnx_path = tmp_path / "member.onnx"
    report = export_onnx(folder / "checkpoint.pt", onnx_path, check_images=50)
    assert report["max_abs_diff"] <= 1e-4
    assert _accuracy(onnx_logits(onnx_path, pixels), labels) == pytest.approx(recorded)
    result = evaluate_model(onnx_path)  # `cnn evaluate`: the full test set
    assert result["total"] == 10_000 and result["test_accuracy"] > 0.5


def test_members_resume_stacked_and_alone(runs: Path):
    folder = runs / "stacked"
    before = _weights(folder / "seed0")
    again = train_seeds(TrainConfig(out=str(folder), resume=True, **SETTINGS), (0, 1), False)
    assert [m["config"]["seed"] for m in again] == [0, 1]
    assert [len(m["epochs"]) for m in again] == [2, 2]
    alone = train(
        TrainConfig(out=str(folder / "seed1"), seed=1, resume=True, **SETTINGS), progress=False
    )  # a member's optimizer state loads into a single run's Adam
    assert alone["test_accuracy"] == again[1]["test_accuracy"]
    assert _max_diff(before, _weights(folder / "seed0")) == 0.0


def test_bad_seeds_are_refused_with_one_line(capsys, tmp_path: Path):
    for bad, message in [("0,x", "comma-separated integers"), ("1,1", "repeats a seed")]:
        code = main(["train", "--seeds", bad, "--out", str(tmp_path), "--device", "cpu"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_each_member_trains_on_its_own_seeds_set():
    """The default recipe appends copies drawn from the seed (cnn.augment): a member gets the
    training set its single run would get, not member 0's."""
    from cnn.multiseed import _stacked_data
    from cnn.train import load_data

    configs = [TrainConfig(seed=s, limit=1000, device="cpu", augment=True) for s in (0, 3)]
    (x, y), _, _ = _stacked_data(configs, torch.device("cpu"))
    for i, config in enumerate(configs):
        (xs, ys), _, _ = load_data(config, torch.device("cpu"))
        assert torch.equal(x[i], xs) and torch.equal(y[i], ys)
    assert not torch.equal(x[0], x[1])
