"""Training and inference throughput of the digit CNN on this machine (images/s)."""

from __future__ import annotations

import time

import torch
from torch.nn import functional as F

from cnn.device import resolve_device
from cnn.model import DigitCNN
from cnn.train import augment_batch

TRAIN_IMAGES = 60_000


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
        f"-> one 60,000-image epoch ~ {TRAIN_IMAGES / train_ips:.1f} s"
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
