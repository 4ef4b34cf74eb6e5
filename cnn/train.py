"""Train the digit CNN with Adam: resumable, seeded, on CUDA (AMP) when present, else CPU.

Each epoch draws its shuffling and its dropout/augmentation noise from ``(seed, epoch)``
alone, so a run resumed from the checkpoint of epoch k continues exactly as if it had
never stopped, and the same seed on the same device gives the same weights.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from tqdm import tqdm

from cnn.data import load_mnist
from cnn.device import resolve_device
from cnn.files import atomic_write
from cnn.model import DigitCNN

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 12
    out: str = "runs/cnn"
    device: str = "auto"
    seed: int = 0
    batch_size: int = 128
    lr: float = 2e-3  # peak of the one-cycle schedule
    dropout: float = 0.5
    augment: bool = True
    limit: int | None = None  # use only the first N training images
    test_limit: int | None = None  # evaluate on the first N test images (quick runs)
    resume: bool = False
    command: str = field(default_factory=lambda: shlex.join(["python", "-m", "cnn", *sys.argv[1:]]))


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


def build(config: TrainConfig, device: torch.device, steps_per_epoch: int):
    torch.manual_seed(config.seed)
    model = DigitCNN(dropout=config.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.lr,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        pct_start=0.2,
    )
    return model, optimizer, scheduler


def train(config: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume); return the metrics that are also written to ``out/metrics.json``."""
    if config.epochs < 1:
        raise ValueError("epochs must be at least 1")
    device = resolve_device(config.device)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    train_split, test_split = load_mnist("train"), load_mnist("test")
    images, labels = train_split.images, train_split.labels
    if config.limit is not None:
        if config.limit < config.batch_size:
            raise ValueError(f"--limit {config.limit} is below the batch size {config.batch_size}")
        images, labels = images[: config.limit], labels[: config.limit]
    x_train, y_train = to_tensors(images, labels, device)
    n_test = config.test_limit or len(test_split)
    x_test, y_test = to_tensors(test_split.images[:n_test], test_split.labels[:n_test], device)
    steps = len(y_train) // config.batch_size  # drop the ragged last batch

    model, optimizer, scheduler = build(config, device, steps)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    ckpt_path = out / CHECKPOINT
    if config.resume and ckpt_path.exists():
        state = read_checkpoint(ckpt_path, device)
        saved = state["config"]
        for key in ("epochs", "seed", "batch_size", "lr", "limit", "augment", "dropout"):
            if saved[key] != getattr(config, key):
                raise ValueError(
                    f"--resume: the checkpoint in {out} was made with {key}={saved[key]!r}, not "
                    f"{getattr(config, key)!r}; pass the same settings or use a new --out."
                )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start_epoch = state["history"], state["epoch"]
        if progress:
            print(f"resuming from {ckpt_path} after epoch {start_epoch}", file=sys.stderr)

    amp = device.type == "cuda"
    for epoch in range(start_epoch, config.epochs):
        torch.manual_seed(epoch_seed(config.seed, epoch))  # dropout + augmentation noise
        order = torch.randperm(
            len(y_train), generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
        ).to(device)
        model.train()
        t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        bar = tqdm(
            range(steps),
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not progress,
            leave=True,
            file=sys.stderr,
        )
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if config.augment:
                xb = augment_batch(xb)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += len(yb)
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            if step % 20 == 0 or step == steps - 1:
                bar.set_postfix(
                    loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.4f}"
                )
        seconds = time.perf_counter() - t0
        test_loss, test_acc = evaluate(model, x_test, y_test)
        record = {
            "epoch": epoch + 1,
            "train_loss": loss_sum.item() / seen,
            "train_accuracy": correct.item() / seen,
            "test_loss": test_loss,
            "test_accuracy": test_acc,
            "seconds": seconds,
            "images_per_s": seen / seconds,
            "lr_end": scheduler.get_last_lr()[0],
        }
        history.append(record)
        if progress:
            print(
                f"epoch {epoch + 1}: test accuracy {test_acc:.4f} (loss {test_loss:.4f}), "
                f"{record['images_per_s']:.0f} img/s",
                file=sys.stderr,
            )
        state = {
            "config": asdict(config),
            "epoch": epoch + 1,
            "history": history,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "device": device.type,
        }
        atomic_write(ckpt_path, lambda f: torch.save(state, f))
        metrics = write_metrics(out, config, device, history)
    return metrics


def write_metrics(out: Path, config: TrainConfig, device, history) -> dict[str, Any]:
    metrics = {
        "config": asdict(config),
        "device": device.type,
        "epochs": history,
        "test_accuracy": history[-1]["test_accuracy"],
    }
    atomic_write(out / METRICS, lambda f: f.write(json.dumps(metrics, indent=2).encode()))
    return metrics


class CheckpointError(ValueError):
    """A file given as a training checkpoint is not one (torn, foreign, another model)."""


def read_checkpoint(path: Path | str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The saved training state, or CheckpointError naming the file when it is not one."""
    try:
        state = torch.load(path, map_location=device, weights_only=False)
        if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
            raise KeyError("no training config in it")
    except Exception as exc:  # pickle, zip and key errors all mean: not our checkpoint
        reason = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise CheckpointError(
            f"{path} is not a DigitCNN training checkpoint ({type(exc).__name__}: {reason}); "
            "pass OUT/checkpoint.pt written by `python -m cnn train`."
        ) from exc
    return state


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
