"""Train the digit CNN with Adam: resumable, seeded, on CUDA (AMP) when present, else CPU;
one process or many under ``torchrun`` (DistributedDataParallel).

Honest bookkeeping: 5,000 of the 60,000 training images are held out (cnn/splits.py) and watched
every epoch; the test set is evaluated once, after the last epoch. Each epoch draws its
shuffling and its dropout/augmentation noise from ``(seed, epoch)`` alone, so a run resumed from
the checkpoint of epoch k continues exactly as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from cnn import distributed
from cnn.checkpoint import (
    CHECKPOINT,
    METRICS,
    CheckpointError,
    RunFolderError,
    RunLock,
    prepare_run_folder,
    read_checkpoint,
    save_checkpoint,
)
from cnn.data import load_mnist
from cnn.files import atomic_write
from cnn.model import DigitCNN
from cnn.splits import train_validation_indices
from cnn.train_config import RECIPES, RESUME_KEYS, TrainConfig, recipe_config

__all__ = [
    "CHECKPOINT",
    "METRICS",
    "RECIPES",
    "CheckpointError",
    "RunFolderError",
    "TrainConfig",
    "load_checkpoint_model",
    "read_checkpoint",
    "recipe_config",
    "train",
]

def to_tensors(images, labels, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [N,28,28] -> float32 [N,1,28,28] in [0, 1] on ``device`` (kept there all along)."""
    x = torch.from_numpy(images.copy()).to(device).unsqueeze(1).float().div_(255.0)
    return x, torch.from_numpy(labels.astype("int64")).to(device)


def augment_batch(x: torch.Tensor) -> torch.Tensor:
    """Small random rotation/scale/shift, like the variation between people's handwriting."""
    n = x.shape[0]
    angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, device=x.device) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, device=x.device) * 2 - 1) * 0.15  # ~2 px
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000):
    """(mean loss, accuracy) in eval mode."""
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        logits = model(x[i : i + batch]).float()
        loss += F.cross_entropy(logits, y[i : i + batch], reduction="sum").item()
        correct += (logits.argmax(1) == y[i : i + batch]).sum().item()
    return loss / len(y), correct / len(y)


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def build_optimizer(model: torch.nn.Module, config: TrainConfig, total_steps: int):
    """Adam (β1 from the config, 0.9 by default) and its schedule.

    ``cycle_momentum=False``: OneCycleLR would otherwise cycle Adam's β1 between 0.85 and 0.95,
    silently replacing the course's β1 = 0.9.
    """
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, betas=(config.beta1, 0.999), eps=1e-8
    )
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=total_steps,
            pct_start=0.2,
            cycle_momentum=False,
        )
    elif config.schedule == "constant":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    else:
        raise ValueError(f"unknown schedule {config.schedule!r}; use onecycle or constant")
    return optimizer, scheduler


def _check(config: TrainConfig) -> None:
    if config.steps is None and (config.epochs is None or config.epochs < 1):
        raise ValueError("epochs must be at least 1 (or give --steps)")
    if config.steps is not None and config.steps < 1:
        raise ValueError("steps must be at least 1")
    if not 0 < config.beta1 < 1:
        raise ValueError(f"beta1 must lie in (0, 1), got {config.beta1}")
    if not 0 <= config.dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {config.dropout}")


def _load_data(config: TrainConfig, device: torch.device):
    train_split, test_split = load_mnist("train"), load_mnist("test")
    train_idx, val_idx = train_validation_indices(len(train_split), config.validation_size)
    if config.limit is not None:
        if config.limit < config.batch_size:
            raise ValueError(f"--limit {config.limit} is below the batch size {config.batch_size}")
        train_idx = train_idx[: config.limit]
    x_train, y_train = to_tensors(
        train_split.images[train_idx], train_split.labels[train_idx], device
    )
    x_val, y_val = to_tensors(train_split.images[val_idx], train_split.labels[val_idx], device)
    n_test = min(config.test_limit or len(test_split), len(test_split))
    x_test, y_test = to_tensors(test_split.images[:n_test], test_split.labels[:n_test], device)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def train(config: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume); return the metrics that are also written to ``out/metrics.json``.

    Under ``torchrun`` every process runs this; rank 0 alone writes files and reports.
    """
    _check(config)
    world = distributed.start(config.device)
    try:
        out = Path(config.out)
        if world.is_main:
            prepare_run_folder(out, config.resume, config.overwrite)
        distributed.barrier(world)
        with RunLock(out) if world.is_main else contextlib.nullcontext():
            return _train(config, world, out, progress and world.is_main)
    finally:
        distributed.stop(world)


def _train(config: TrainConfig, world, out: Path, progress: bool) -> dict[str, Any]:
    device = world.device
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if config.batch_size % world.size:
        raise ValueError(
            f"the global batch {config.batch_size} must divide evenly over {world.size} "
            "processes; change --batch-size or --nproc_per_node."
        )
    rank_batch = config.batch_size // world.size
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = _load_data(config, device)
    sampler = DistributedSampler(
        range(len(y_train)),
        num_replicas=world.size,
        rank=world.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=True,
    )
    steps_per_epoch = len(sampler) // rank_batch  # the ragged last batch is dropped
    if steps_per_epoch < 1:
        raise ValueError("fewer training images than one batch; raise --limit")
    total_steps = config.steps or config.epochs * steps_per_epoch
    n_epochs = math.ceil(total_steps / steps_per_epoch)

    torch.manual_seed(config.seed)
    model = DigitCNN(dropout=config.dropout).to(device)
    optimizer, scheduler = build_optimizer(model, config, total_steps)
    history: list[dict[str, Any]] = []
    start_epoch, step_count, test = 0, 0, None
    ckpt_path = out / CHECKPOINT
    if config.resume and ckpt_path.exists():
        state = read_checkpoint(ckpt_path, device)
        _check_resume(state["config"], config, out)
        if "optimizer" not in state:
            raise CheckpointError(f"{ckpt_path} holds weights only; it cannot be resumed.")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start_epoch = state["history"], state["epoch"]
        step_count, test = state.get("steps_done", 0), state.get("test")
        if progress:
            print(f"resuming from {ckpt_path} after epoch {start_epoch}", file=sys.stderr)
    net = model
    if world.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    amp = device.type == "cuda"
    for epoch in range(start_epoch, n_epochs):
        torch.manual_seed(epoch_seed(config.seed, epoch) + 7919 * world.rank)  # noise per rank
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=device)
        steps = min(steps_per_epoch, total_steps - step_count)
        net.train()
        t0, seen = time.perf_counter(), 0
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        curve: list[float] = []
        bar = tqdm(
            range(steps),
            desc=f"epoch {epoch + 1}/{n_epochs}",
            disable=not progress,
            leave=True,
            file=sys.stderr,
        )
        for step in bar:
            idx = order[step * rank_batch : (step + 1) * rank_batch]
            xb, yb = x_train[idx], y_train[idx]
            if config.augment:
                xb = augment_batch(xb)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = net(xb)
            loss = F.cross_entropy(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += len(yb)
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            if step % config.log_every == 0:
                curve.append(distributed.mean_over_ranks(loss.detach(), world).item())
            if progress and (step % 20 == 0 or step == steps - 1):
                bar.set_postfix(
                    loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.4f}"
                )
        step_count += steps
        seconds = time.perf_counter() - t0
        loss_total = distributed.sum_over_ranks(loss_sum, world).item()
        correct_total = distributed.sum_over_ranks(correct, world).item()
        seen_total = seen * world.size
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "steps": steps,
            "train_loss": loss_total / seen_total,
            "train_accuracy": correct_total / seen_total,
            "seconds": seconds,
            "images_per_s": seen_total / seconds,
            "lr_end": scheduler.get_last_lr()[0],
            "beta1_end": optimizer.param_groups[0]["betas"][0],
            "loss_curve": curve,
        }
        if world.is_main:
            record["validation_loss"], record["validation_accuracy"] = evaluate(model, x_val, y_val)
            if epoch + 1 == n_epochs:  # the test set, once, after the last epoch
                test_loss, test_acc = evaluate(model, x_test, y_test)
                test = {"loss": test_loss, "accuracy": test_acc, "images": len(y_test)}
            history.append(record)
            if progress:
                print(
                    f"epoch {epoch + 1}: validation accuracy {record['validation_accuracy']:.4f} "
                    f"(loss {record['validation_loss']:.4f}), {record['images_per_s']:.0f} img/s",
                    file=sys.stderr,
                )
            state = {
                "config": asdict(config),
                "epoch": epoch + 1,
                "steps_done": step_count,
                "history": history,
                "test": test,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "device": device.type,
                "world_size": world.size,
            }
            save_checkpoint(ckpt_path, state)
            write_metrics(out, config, device, history, test, world.size, rank_batch)
        distributed.barrier(world)
    if world.is_main and test is None:  # resumed a finished run that predates the test record
        test_loss, test_acc = evaluate(model, x_test, y_test)
        test = {"loss": test_loss, "accuracy": test_acc, "images": len(y_test)}
    return _metrics(config, device, history, test, world.size, rank_batch)


def _check_resume(saved: dict[str, Any], config: TrainConfig, out: Path) -> None:
    for key in RESUME_KEYS:
        if key in saved and saved[key] != getattr(config, key):
            raise ValueError(
                f"--resume: the checkpoint in {out} was made with {key}={saved[key]!r}, not "
                f"{getattr(config, key)!r}; pass the same settings or use a new --out."
            )


def _metrics(config, device, history, test, world_size: int, rank_batch: int) -> dict[str, Any]:
    return {
        "config": asdict(config),
        "device": device.type,
        "world_size": world_size,
        "per_rank_batch_size": rank_batch,
        "global_batch_size": rank_batch * world_size,
        "epochs": history,
        "validation_accuracy": history[-1]["validation_accuracy"] if history else None,
        "test_accuracy": test["accuracy"] if test else None,
        "test_loss": test["loss"] if test else None,
        "test_images": test["images"] if test else None,
        "test_evaluated": "once, after the last epoch",
    }


def write_metrics(out: Path, config, device, history, test, world_size=1, rank_batch=None):
    metrics = _metrics(config, device, history, test, world_size, rank_batch or config.batch_size)
    atomic_write(out / METRICS, lambda f: f.write(json.dumps(metrics, indent=2).encode()))
    return metrics


def load_checkpoint_model(path: Path | str) -> tuple[DigitCNN, dict[str, Any]]:
    """The model of a training checkpoint (on CPU, eval mode) and the checkpoint's metadata."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; train first (python -m cnn train)."
        )
    state = read_checkpoint(path)
    model = DigitCNN(dropout=state["config"].get("dropout", 0.5))
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as exc:  # key or shape mismatch: another network's weights
        raise CheckpointError(f"{path} holds weights of another network: {exc}") from exc
    return model.eval(), state


def weights_only_copy(checkpoint: Path | str, out: Path | str) -> None:
    """A checkpoint without optimizer state (a third the size): exportable, not resumable."""
    state = read_checkpoint(checkpoint)
    slim = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler")}
    save_checkpoint(Path(out), slim)
