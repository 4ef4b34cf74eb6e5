"""``cnn train --compile`` on CUDA records the whole step as one CUDA graph (cnn/graphed.py).

On the CPU (CI): the optimizer conversions a recorded step needs, the checkpoint it writes being
resumable by any run, and the fallback's reason. On a CUDA device (the lent GPU; skipped here):
the recorded step trains what the eager step trains, from the same seed, and its checkpoint
resumes eagerly. ``python -m pytest tests/cnn/test_cnn_graphed.py`` on the device runs them all.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn.graphed import graph_unavailable, make_capturable, portable_optimizer_state
from cnn.model import DigitCNN
from cnn.train import TrainConfig, build_optimizer, load_checkpoint_model, read_checkpoint, train

CUDA = torch.cuda.is_available()


def _adam_after_one_step(model: DigitCNN) -> tuple[torch.optim.Optimizer, object]:
    config = TrainConfig(lr=2e-3)
    optimizer, scheduler = build_optimizer(model, config, total_steps=10)
    model(torch.rand(4, 1, 28, 28)).sum().backward()
    optimizer.step()
    scheduler.step()
    return optimizer, scheduler


def test_make_capturable_keeps_the_schedule_in_a_tensor_the_scheduler_fills():
    model = DigitCNN()
    optimizer, scheduler = _adam_after_one_step(model)
    lr_before = optimizer.param_groups[0]["lr"]
    lr_tensor_id = None
    make_capturable(optimizer, torch.device("cpu"))
    group = optimizer.param_groups[0]
    assert group["fused"] is True and group["capturable"] is True
    assert isinstance(group["lr"], torch.Tensor) and group["lr"].item() == pytest.approx(lr_before)
    lr_tensor_id = id(group["lr"])
    scheduler.step()  # OneCycle's next value, written into the same tensor (the graph reads it)
    assert id(group["lr"]) == lr_tensor_id
    assert group["lr"].item() == pytest.approx(float(scheduler.get_last_lr()[0]))
    assert group["lr"].item() != pytest.approx(lr_before)  # it moved: the schedule is live
    step = optimizer.state[next(model.parameters())]["step"]
    assert step.dtype == torch.float32 and step.item() == 1


def test_portable_state_resumes_in_an_eager_foreach_adam():
    model = DigitCNN()
    optimizer, _ = _adam_after_one_step(model)
    make_capturable(optimizer, torch.device("cpu"))
    state = portable_optimizer_state(optimizer.state_dict())
    group = state["param_groups"][0]
    assert isinstance(group["lr"], float) and group["capturable"] is False
    assert group["fused"] is None
    assert isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)  # the live one untouched
    eager = DigitCNN()
    eager.load_state_dict(model.state_dict())
    resumed, _ = build_optimizer(eager, TrainConfig(lr=2e-3), total_steps=10)
    resumed.load_state_dict(state)
    eager(torch.rand(4, 1, 28, 28)).sum().backward()
    resumed.step()  # a tensor lr here would raise: "lr as a Tensor is not supported ..."


def test_the_whole_step_is_recorded_only_on_cuda_without_ddp():
    assert "CUDA" in graph_unavailable(torch.device("cpu"), distributed=False)
    assert "DistributedDataParallel" in graph_unavailable(torch.device("cuda"), distributed=True)
    assert graph_unavailable(torch.device("cuda"), distributed=False) is None


# --- on a CUDA device -------------------------------------------------------------------------

# Dropout and augmentation off: the recorded and the eager step then compute the same function;
# bf16 matmuls, fused vs foreach Adam and (inductor) fused kernels differ in rounding only.
EXACT = dict(
    epochs=2, limit=4096, batch_size=128, validation_size=500, test_limit=2000, device="cuda",
    log_every=1, augment=False, dropout=0.0, seed=3,
)  # fmt: skip


def _curve(out: Path) -> np.ndarray:
    metrics = json.loads((out / "metrics.json").read_text())
    return np.concatenate([e["loss_curve"] for e in metrics["epochs"]])


class _CrashAfterFirstEpoch(Exception):
    pass


def _train_until_crash(config: TrainConfig, monkeypatch) -> None:
    """``config``'s run stopped right after its first checkpoint, as a crash would stop it."""
    import cnn.train as train_module

    real = train_module.save_checkpoint

    def save_then_crash(path, state):
        real(path, state)
        raise _CrashAfterFirstEpoch

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_crash)
    with pytest.raises(_CrashAfterFirstEpoch):
        train(config, progress=False)
    monkeypatch.setattr(train_module, "save_checkpoint", real)


# Measured on an H200 (torch 2.11 + CUDA 13), 64 steps: eager forward 4.2e-3 (bf16 kernels
# chosen afresh under capture, fused vs foreach Adam); a different seed differs by ~0.1-1.
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device (the lent GPU)")
@pytest.mark.parametrize(("backend", "tolerance"), [("eager", 1e-2), ("inductor", 5e-2)])
def test_recorded_step_follows_the_eager_step(tmp_path: Path, backend: str, tolerance: float):
    eager, recorded = tmp_path / "eager", tmp_path / "recorded"
    a_metrics = train(TrainConfig(out=str(eager), **EXACT), progress=False)
    b_metrics = train(
        TrainConfig(out=str(recorded), compile=True, compile_backend=backend, **EXACT),
        progress=False,
    )
    first = b_metrics["epochs"][0]
    assert first["compile"]["mode"] == "whole-step graph", first["compile"]
    assert first["compile"]["forward"] == backend
    a, b = _curve(eager), _curve(recorded)
    assert len(a) == len(b) == 2 * (4096 // 128)
    assert np.abs(a - b).max() <= tolerance, np.abs(a - b).max()
    assert b[-1] < b[0] / 4  # it learned
    assert abs(a_metrics["test_accuracy"] - b_metrics["test_accuracy"]) <= 0.005
    assert isinstance(first["lr_end"], float)
    model, state = load_checkpoint_model(recorded / "checkpoint.pt")
    assert isinstance(state["optimizer"]["param_groups"][0]["lr"], float)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device (the lent GPU)")
def test_a_recorded_run_resumes_eagerly(tmp_path: Path, monkeypatch):
    """A recorded run's checkpoint is any run's: stopped after epoch 1, resumed without
    --compile, it ends where the eager run ends."""
    eager, recorded = tmp_path / "eager", tmp_path / "recorded"
    train(TrainConfig(out=str(eager), **EXACT), progress=False)
    _train_until_crash(
        TrainConfig(out=str(recorded), compile=True, compile_backend="eager", **EXACT), monkeypatch
    )
    train(TrainConfig(out=str(recorded), resume=True, **EXACT), progress=False)
    assert read_checkpoint(recorded / "checkpoint.pt")["epoch"] == 2
    a, b = _curve(eager), _curve(recorded)
    assert len(a) == len(b) and np.abs(a - b).max() <= 1e-2, np.abs(a - b).max()


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device (the lent GPU)")
def test_recorded_step_resumes_a_run_exactly_where_it_stopped(tmp_path: Path, monkeypatch):
    """Epoch 2 of a recorded run resumed from epoch 1 = epoch 2 of the uninterrupted one (dropout
    and augmentation ON: the graph draws from the generator each epoch reseeds)."""
    noisy = dict(EXACT, augment=True, dropout=0.5, compile=True, compile_backend="eager")
    whole, split = tmp_path / "whole", tmp_path / "split"
    train(TrainConfig(out=str(whole), **noisy), progress=False)
    _train_until_crash(TrainConfig(out=str(split), **noisy), monkeypatch)
    train(TrainConfig(out=str(split), resume=True, **noisy), progress=False)
    a, b = _curve(whole), _curve(split)
    assert len(a) == len(b) and np.abs(a - b).max() <= 1e-2, np.abs(a - b).max()
