"""``torchrun`` on CPU (gloo): 2 processes train what 1 process trains with the same global batch,
and a killed worker leaves a checkpoint that ``--resume`` under torchrun finishes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn.train import load_checkpoint_model

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# 2 epochs x 100 steps of a global batch of 16 (8 per process under torchrun). No dropout and no
# augmentation: their noise is drawn per process, so only then can the two runs agree step for
# step; what remains is floating-point summation order (the gradient all-reduce).
SETTINGS = (
    "--epochs 2 --limit 1600 --batch-size 16 --dropout 0 --no-augment --test-limit 200 "
    "--device cpu --quiet"
).split()
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# Measured here (2026-12-04): 1 vs 2 processes differ by <= 2.4e-7 per logged loss for the first
# 70 steps; after that Adam amplifies the all-reduce's summation-order difference (g / sqrt(v)
# where a gradient is near zero) and the curves drift chaotically, up to 7.9e-3 by step 200 on
# this CPU (the earlier note's ~2e-7 over all 200 steps held on another CPU). A different seed
# differs by 0.03-0.76 already in the first logged losses. So: tight early, loose later.
EARLY_ENTRIES, EARLY_TOLERANCE = 5, 1e-4  # the first 50 steps, before any amplification
LOSS_TOLERANCE = 3e-2  # the whole curve: chaos after step ~70, still below the seed gap


def _train(out: Path, nproc: int | None, *extra: str, check: bool = True):
    launcher = (
        [sys.executable, "-m", "cnn", "train"]
        if nproc is None
        else [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "cnn",
            "train",
        ]
    )
    cmd = [*launcher, *SETTINGS, "--out", str(out), *extra]
    if check:
        return subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, capture_output=True, text=True)
    return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stderr=subprocess.PIPE, text=True)


def _curve(out: Path) -> tuple[np.ndarray, dict]:
    metrics = json.loads((out / "metrics.json").read_text())
    return np.concatenate([e["loss_curve"] for e in metrics["epochs"]]), metrics


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ddp")
    _train(base / "one", None)
    _train(base / "two", 2)
    return {"one": base / "one", "two": base / "two"}


def test_two_processes_follow_the_one_process_loss_curve(runs):
    one, m1 = _curve(runs["one"])
    two, m2 = _curve(runs["two"])
    assert len(one) == len(two) == 20  # 200 steps, one entry per 10
    assert np.abs(one - two)[:EARLY_ENTRIES].max() <= EARLY_TOLERANCE
    assert np.abs(one - two).max() <= LOSS_TOLERANCE
    assert one[-1] < one[0] / 3  # it learned: the comparison is not between two flat lines
    assert m2["world_size"] == 2 and m2["per_rank_batch_size"] == 8
    assert m2["global_batch_size"] == m1["global_batch_size"] == 16
    assert m1["world_size"] == 1
    assert m1["test_images"] == m2["test_images"] == 200  # --test-limit is honoured
    assert all("test_accuracy" not in e for e in m1["epochs"])  # test: once, at the end
    assert abs(m1["validation_accuracy"] - m2["validation_accuracy"]) <= 0.002


def test_a_global_batch_that_does_not_split_is_refused(tmp_path: Path):
    done = _train(tmp_path / "odd", 2, "--batch-size", "15", "--overwrite", check=False)
    _, stderr = done.communicate(timeout=300)
    assert done.returncode != 0
    assert "must divide evenly over 2 processes" in stderr


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _worker(pid: int, rank: int) -> int | None:
    for child in _descendants(pid):
        try:
            env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and b"LOCAL_RANK" in b"".join(env):
            return child
    return None


def _epoch(path: Path) -> int:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except Exception:  # not written yet
        return 0


def test_a_killed_worker_leaves_a_checkpoint_that_resume_finishes_exactly(runs, tmp_path: Path):
    out = tmp_path / "killed"
    agent = _train(out, 2, check=False)
    deadline = time.time() + 300
    while _epoch(out / "checkpoint.pt") < 1:
        assert agent.poll() is None and time.time() < deadline, "epoch 1 never finished"
        time.sleep(0.02)
    victim = _worker(agent.pid, rank=1)
    assert victim is not None, "no rank-1 worker found"
    os.kill(victim, signal.SIGKILL)
    agent.communicate(timeout=120)
    assert agent.returncode != 0
    assert _epoch(out / "checkpoint.pt") == 1  # the last finished epoch, intact

    _train(out, 2, "--resume")  # the dead run's lock is stale: taken over
    resumed, state = load_checkpoint_model(out / "checkpoint.pt")
    straight, _ = load_checkpoint_model(runs["two"] / "checkpoint.pt")
    assert state["epoch"] == 2 and [e["epoch"] for e in state["history"]] == [1, 2]
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert not (out / ".lock").exists()
