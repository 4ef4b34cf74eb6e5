"""Training's promises that need no training: Adam's β1, recipes, the split, safe checkpoints."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn.checkpoint import (
    REQUIRED_CONFIG,
    CheckpointError,
    RunFolderError,
    RunLock,
    prepare_run_folder,
)
from cnn.model import DigitCNN
from cnn.splits import train_validation_indices
from cnn.train import TrainConfig, build_optimizer, read_checkpoint, recipe_config

ROOT = Path(__file__).resolve().parents[2]


def _betas_over_schedule(config: TrainConfig, steps: int = 200) -> list[float]:
    model = DigitCNN()
    optimizer, scheduler = build_optimizer(model, config, total_steps=steps)
    seen = []
    for _ in range(steps):
        seen.append(optimizer.param_groups[0]["betas"][0])
        optimizer.step()
        scheduler.step()
    return seen


def test_one_cycle_keeps_adams_beta1_at_the_course_value():
    betas = _betas_over_schedule(TrainConfig(schedule="onecycle"))
    assert set(betas) == {0.9}


def test_one_cycle_is_torchs_learning_rate_schedule_without_cycling_beta1():
    """The project's schedule (build_optimizer) against torch's OneCycleLR with the same
    recipe (peak lr, 20% warm-up): the same learning rate at every step, but β1 stays at the
    course's 0.9 where torch's default (cycle_momentum=True) cycles it through 0.85..0.95."""
    config, steps = TrainConfig(schedule="onecycle"), 100
    optimizer, scheduler = build_optimizer(DigitCNN(), config, total_steps=steps)
    reference_optimizer = torch.optim.Adam(DigitCNN().parameters(), lr=config.lr)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        reference_optimizer, max_lr=config.lr, total_steps=steps, pct_start=0.2
    )
    ours, theirs = [], []
    for _ in range(steps):
        for opt, seen in ((optimizer, ours), (reference_optimizer, theirs)):
            seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]))
            opt.step()
        scheduler.step()
        reference.step()
    assert [lr for lr, _ in ours] == pytest.approx([lr for lr, _ in theirs], rel=1e-9)
    assert max(lr for lr, _ in ours) == pytest.approx(config.lr)
    assert {beta for _, beta in ours} == {0.9}
    assert min(b for _, b in theirs) == pytest.approx(0.85)
    assert max(b for _, b in theirs) == pytest.approx(0.95)


def test_beta1_flag_is_honoured_and_validated():
    assert set(_betas_over_schedule(TrainConfig(beta1=0.8), steps=20)) == {0.8}
    with pytest.raises(ValueError, match="beta1"):
        from cnn.train import _check

        _check(TrainConfig(beta1=1.0))


def test_constant_schedule_keeps_the_learning_rate():
    config = recipe_config("course")
    model = DigitCNN()
    optimizer, scheduler = build_optimizer(model, config, total_steps=50)
    for _ in range(50):
        optimizer.step()
        scheduler.step()
        assert optimizer.param_groups[0]["lr"] == 1e-4


def test_course_recipe_is_the_handouts_setup():
    c = recipe_config("course")
    assert (c.lr, c.batch_size, c.steps, c.dropout, c.augment, c.schedule, c.beta1) == (
        1e-4,
        50,
        20_000,
        0.5,
        False,
        "constant",
        0.9,
    )
    d = recipe_config("default")
    assert (d.lr, d.batch_size, d.epochs, d.steps, d.augment, d.schedule) == (
        2e-3,
        128,
        12,
        None,
        True,
        "onecycle",
    )
    # explicit flags override the recipe; an explicit epoch count replaces its step count
    tuned = recipe_config("course", lr=2e-3, schedule="onecycle", augment=True, epochs=3)
    assert (tuned.lr, tuned.schedule, tuned.augment, tuned.epochs, tuned.steps) == (
        2e-3,
        "onecycle",
        True,
        3,
        None,
    )
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe_config("fast")


def test_validation_split_is_fixed_disjoint_and_independent_of_the_training_seed():
    train_idx, val_idx = train_validation_indices()
    assert len(train_idx) == 55_000 and len(val_idx) == 5_000
    assert np.intersect1d(train_idx, val_idx).size == 0
    assert np.array_equal(np.union1d(train_idx, val_idx), np.arange(60_000))
    again = train_validation_indices()
    assert np.array_equal(again[1], val_idx)  # no dependence on any training seed or state
    assert not np.array_equal(val_idx, np.arange(5_000))  # shuffled, not the first 5,000


# ---- checkpoints: nothing is unpickled but tensors and plain data ---------------------------


class _Payload:
    """Unpickling this runs ``touch <marker>``: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def malicious_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pt"
    state = {"config": {"epochs": 1}, "epoch": 1, "history": [], "model": _Payload(marker)}
    torch.save(state, path)
    assert not marker.exists()
    # the payload torch.save pickled into the file really is live: unpickling it runs it
    pickle.loads(pickle.dumps(state["model"]))
    assert marker.exists()
    marker.unlink()
    return path, marker


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(malicious_checkpoint):
    path, marker = malicious_checkpoint
    with pytest.raises(CheckpointError, match="refused unloaded"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["cnn", "evaluate", "--model", "{ckpt}"],
        ["cnn", "export", "--checkpoint", "{ckpt}", "--out", "{tmp}/m.onnx"],
        ["cnn", "bench-engines", "--checkpoint", "{ckpt}"],
    ],
    ids=["cnn-evaluate", "cnn-export", "cnn-bench-engines"],
)
def test_every_command_that_reads_a_checkpoint_refuses_a_crafted_one(
    malicious_checkpoint, tmp_path: Path, argv: list[str]
):
    path, marker = malicious_checkpoint
    args = [a.format(ckpt=path, tmp=tmp_path) for a in argv]
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert not marker.exists()
    assert "Traceback" not in done.stderr, done.stderr
    assert "not a DigitCNN training checkpoint" in done.stderr


def test_resume_from_a_crafted_checkpoint_runs_nothing(malicious_checkpoint, tmp_path: Path):
    path, marker = malicious_checkpoint
    done = subprocess.run(
        [sys.executable, "-m", "cnn", "train", "--out", str(path.parent), "--resume", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and not marker.exists()
    assert "Traceback" not in done.stderr and "checkpoint" in done.stderr


@pytest.mark.parametrize(
    "state, reason",
    [
        ([1, 2, 3], "not a dict"),
        ({"epoch": 1}, "no training config"),
        ({"config": {"seed": 0}, "epoch": 1, "history": [], "model": {}}, "config lacks epochs"),
        (
            {"config": dict.fromkeys(REQUIRED_CONFIG, 0)},
            "no epoch counter",
        ),
        (
            {
                "config": dict.fromkeys(REQUIRED_CONFIG, 0),
                "epoch": 1,
                "history": [],
                "model": {"w": "not a tensor"},
            },
            "no model weights",
        ),
    ],
)
def test_malformed_checkpoints_get_one_clear_error(tmp_path: Path, state, reason):
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=reason):
        read_checkpoint(path)


# ---- run folders: never replaced silently, one writer at a time -----------------------------


def test_a_folder_holding_a_run_is_refused_unless_resume_or_overwrite(tmp_path: Path):
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "checkpoint.pt").write_bytes(b"x")  # --resume needs one (else refused)
    with pytest.raises(RunFolderError, match="--resume to continue it, --overwrite"):
        prepare_run_folder(tmp_path, resume=False, overwrite=False)
    prepare_run_folder(tmp_path, resume=True, overwrite=False)
    assert (tmp_path / "metrics.json").exists()
    prepare_run_folder(tmp_path, resume=False, overwrite=True)
    assert not (tmp_path / "metrics.json").exists()
    with pytest.raises(RunFolderError, match="contradict"):
        prepare_run_folder(tmp_path, resume=True, overwrite=True)


def test_an_unwritable_output_is_refused_before_any_work(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(RunFolderError, match="cannot write to the output folder"):
        prepare_run_folder(blocker / "run", resume=False, overwrite=False)
    done = subprocess.run(
        [sys.executable, "-m", "cnn", "train", "--out", str(blocker / "run"), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "cannot write to the output folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_lock_names_a_live_runs_pid_and_takes_over_a_dead_ones(tmp_path: Path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".lock").write_text(f"{sleeper.pid}\n")
        with pytest.raises(RunFolderError, match=f"PID {sleeper.pid}"):
            RunLock(tmp_path).__enter__()
    finally:
        sleeper.kill()
        sleeper.wait()
    with RunLock(tmp_path):  # its process is gone: the stale lock is taken over
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    assert not (tmp_path / ".lock").exists()


@pytest.mark.slow
def test_a_second_training_run_on_the_same_folder_is_refused(tmp_path: Path):
    out = tmp_path / "run"
    base = [sys.executable, "-m", "cnn", "train", "--out", str(out), "--quiet", "--device", "cpu"]
    first = subprocess.Popen(
        [*base, "--epochs", "1", "--limit", "1280", "--test-limit", "100"],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.time() + 120
        while not (out / ".lock").exists():
            assert first.poll() is None and time.time() < deadline, "first run never locked"
            time.sleep(0.05)
        second = subprocess.run(
            [*base, "--overwrite"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 2
        assert f"in use by another training run (PID {first.pid})" in second.stderr
    finally:
        assert first.wait(timeout=300) == 0
    assert not (out / ".lock").exists()


def test_export_checks_its_output_before_loading_anything(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "cnn", "export", "--checkpoint", str(tmp_path / "none.pt"),
         "--out", str(blocker / "m.onnx")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and f"cannot write {blocker / 'm.onnx'}" in done.stderr
