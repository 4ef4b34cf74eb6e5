"""Training and inference throughput of the digit CNN on this machine (images/s)."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.nn import functional as F

from cnn.device import resolve_device
from cnn.model import DigitCNN
from cnn.splits import VALIDATION_SIZE
from cnn.train import augment_batch

TRAIN_IMAGES = 60_000 - VALIDATION_SIZE  # an epoch: training images less those held out


def _time_steps(step, steps: int, device: torch.device) -> float:
    for _ in range(3):  # warm-up: allocator, kernels, autotuning
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def run_bench(device: str = "auto", steps: int = 30, batch_size: int = 128) -> dict[str, float]:
    """Print and return images/s for a training step (with augmentation) and for inference."""
    dev = resolve_device(device)
    torch.manual_seed(0)
    model = DigitCNN().to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch_size, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (batch_size,), device=dev)
    amp = dev.type == "cuda"

    def train_step() -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(augment_batch(x)).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    xi = torch.rand(1000, 1, 28, 28, device=dev)

    @torch.no_grad()
    def infer_step() -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            model(xi)

    model.train()
    train_ips = steps * batch_size / _time_steps(train_step, steps, dev)
    model.eval()
    infer_ips = max(steps // 3, 3) * 1000 / _time_steps(infer_step, max(steps // 3, 3), dev)
    threads = f"cpu x{torch.get_num_threads()} threads"
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else threads
    print(f"device: {name} (torch {torch.__version__}{', bf16 autocast' if amp else ''})")
    print(
        f"training  (batch {batch_size}, augmentation on): {train_ips:9.0f} images/s "
        f"-> one {TRAIN_IMAGES:,}-image epoch ~ {TRAIN_IMAGES / train_ips:.1f} s"
    )
    print(
        f"inference (batch 1000, eval mode):           {infer_ips:9.0f} images/s "
        f"({infer_ips / train_ips:.1f}x training)"
    )
    return {
        "train_images_per_s": train_ips,
        "inference_images_per_s": infer_ips,
        "epoch_seconds": TRAIN_IMAGES / train_ips,
    }


@dataclass(frozen=True)
class TimeToConfig:
    """The recipe of ``bench --time-to``: the course network made to run at the GPU's pace.

    Batch 256, one-cycle Adam to a 3e-3 peak over 3 epochs, dropout 0.5, no augmentation, the
    data on the device; on CUDA also bf16 autocast, channels-last weights, fused Adam and the
    step captured with torch.compile (CUDA graphs). The test set is evaluated every
    ``eval_every`` steps with the clock stopped.
    """

    target: float = 0.99
    device: str = "auto"
    batch_size: int = 256
    lr: float = 3e-3
    epochs: int = 3
    eval_every: int = 25
    dropout: float = 0.5
    seed: int = 0
    compile: bool | None = None  # None: on CUDA yes, on CPU no (CPU codegen takes minutes)
    compile_backend: str = "inductor"
    limit: int | None = None  # training images (quick runs)
    test_limit: int | None = None  # test images (quick runs)


def time_to_accuracy(config: TimeToConfig, progress: bool = True) -> dict[str, Any]:
    """Seconds of training until the test accuracy reaches ``config.target`` (or the epochs run
    out), the training images/s on the way, the one-time capture cost, and the device's name."""
    from cnn.train import (
        build_optimizer,
        capture_step,
        epoch_order,
        evaluate,
        load_data,
        make_forward,
    )
    from cnn.train_config import TrainConfig

    if not 0 < config.target <= 1:
        raise ValueError(f"--time-to must lie in (0, 1], got {config.target}")
    dev = resolve_device(config.device)
    compiled = dev.type == "cuda" if config.compile is None else config.compile
    train_config = TrainConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        schedule="onecycle",
        dropout=config.dropout,
        augment=False,
        seed=config.seed,
        limit=config.limit,
        test_limit=config.test_limit,
        compile=compiled,
        compile_backend=config.compile_backend,
    )
    (x_train, y_train), _, (x_test, y_test) = load_data(train_config, dev)
    steps_per_epoch = len(y_train) // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError("fewer training images than one batch; raise --limit")
    total = config.epochs * steps_per_epoch
    torch.manual_seed(config.seed)
    model = DigitCNN(dropout=config.dropout).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer, scheduler = build_optimizer(model, train_config, total, fused=dev.type == "cuda")
    forward = make_forward(model, train_config, dev)
    model.train()
    capture: dict[str, Any] = {"compiled": False}
    if compiled:
        from cnn.train import _warmup

        warm = _warmup(optimizer, x_train, y_train, config.batch_size)
        forward, capture = capture_step(forward, dev, config.compile_backend, warm)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    trained, steps_done, reached, accuracy = 0.0, 0, False, 0.0
    curve: list[tuple[int, float, float]] = []  # (step, seconds of training, test accuracy)
    orders = [epoch_order(len(y_train), config.seed, e, dev) for e in range(config.epochs)]
    for order in orders:
        for step in range(steps_per_epoch):
            if steps_done % config.eval_every == 0:  # the clock restarts after an evaluation
                sync()
                t0 = time.perf_counter()
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            if capture["compiled"] and dev.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            loss, _ = forward(x_train[idx], y_train[idx])
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps_done += 1
            if steps_done % config.eval_every == 0 or steps_done == total:
                sync()
                trained += time.perf_counter() - t0
                _, accuracy = evaluate(model, x_test, y_test)  # untimed
                model.train()
                curve.append((steps_done, round(trained, 4), accuracy))
                if progress:
                    print(
                        f"step {steps_done}: {trained:.2f} s of training, test accuracy "
                        f"{accuracy:.4f}",
                        file=sys.stderr,
                    )
                if accuracy >= config.target:
                    reached = True
                    break
        if reached:
            break
    images = steps_done * config.batch_size
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    return {
        "target": config.target,
        "reached": reached,
        "seconds_to_target": round(trained, 4) if reached else None,
        "training_seconds": round(trained, 4),
        "steps": steps_done,
        "epochs_seen": round(steps_done / steps_per_epoch, 3),
        "images_per_s": images / trained if trained else None,
        "test_accuracy": accuracy,
        "test_images": len(y_test),
        "compile": capture,
        "device": dev.type,
        "device_name": name,
        "torch": torch.__version__,
        "recipe": asdict(config)
        | {
            "compile": compiled,
            "bf16": dev.type == "cuda",
            "channels_last": dev.type == "cuda",
            "fused_adam": dev.type == "cuda",
            "augment": False,
        },
        "curve": curve,
    }


def run_pace(
    device: str = "auto",
    steps: int = 20,
    batch_size: int = 128,
    members: int = 5,
    backend: str = "inductor",
) -> dict[str, Any]:
    """Images/s of the default recipe's training step (augmentation, dropout, Adam, bf16 on
    CUDA), side by side in one run: eager, captured once with torch.compile, and ``members``
    models stacked in one step (cnn/multiseed.py). Synthetic images: the step's speed does not
    depend on them."""
    from cnn.multiseed import stack_members
    from cnn.train import build_optimizer, capture_step, make_forward
    from cnn.train_config import TrainConfig

    dev = resolve_device(device)
    config = TrainConfig(batch_size=batch_size, compile_backend=backend)
    x = torch.rand(batch_size, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (batch_size,), device=dev)
    cuda = dev.type == "cuda"

    def single(compiled: bool) -> tuple[float, dict[str, Any]]:
        torch.manual_seed(0)
        model = DigitCNN().to(dev).train()
        optimizer, _ = build_optimizer(model, config, 10**6, fused=compiled and cuda)
        forward, info = make_forward(model, config, dev), {"compiled": False}

        def step(fn=None) -> None:
            optimizer.zero_grad(set_to_none=True)
            if info["compiled"] and cuda:
                torch.compiler.cudagraph_mark_step_begin()
            loss, _ = (fn or forward)(x, y)
            loss.backward()
            if fn is None:
                optimizer.step()

        if compiled:
            forward, info = capture_step(forward, dev, backend, lambda fn: step(fn))
        return steps * batch_size / _time_steps(step, steps, dev), info

    def stacked() -> float:
        models = []
        for seed in range(members):
            torch.manual_seed(seed)
            models.append(DigitCNN().to(dev).train())
        params, _, _, forward = stack_members(models, config, dev)
        optimizer, _ = build_optimizer(list(params.values()), config, 10**6)
        xs, ys = x.expand(members, *x.shape).clone(), y.expand(members, -1).clone()

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            total, _, _ = forward(xs, ys)
            total.backward()
            optimizer.step()

        return members * steps * batch_size / _time_steps(step, steps, dev)

    eager, _ = single(False)
    compiled, info = single(True)
    together = stacked()
    name = torch.cuda.get_device_name(dev) if cuda else f"cpu x{torch.get_num_threads()} threads"
    print(f"device: {name} (torch {torch.__version__}{', bf16 autocast' if cuda else ''})")
    print(f"eager step (batch {batch_size}, augmentation, dropout): {eager:9.0f} images/s  1.00x")
    how = (
        f"{info['backend']}, {info['mode'] or 'default'} mode, captured in {info['seconds']:.1f} s"
        if info["compiled"]
        else info.get("note", "eager")
    )
    print(f"compiled step ({how}): {compiled:9.0f} images/s  {compiled / eager:.2f}x")
    print(
        f"{members} seeds stacked (eager, batch {batch_size} each): {together:9.0f} images/s "
        f"in all  {together / eager:.2f}x ({together / members:.0f} per seed)"
    )
    return {
        "device_name": name,
        "eager_images_per_s": eager,
        "compiled_images_per_s": compiled,
        "compile": info,
        "stacked_members": members,
        "stacked_images_per_s": together,
    }
