"""The one place that decides where tensors live (and holds their random state)."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto|cpu|cuda`` to a device; ``auto`` prefers CUDA when it is present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "error: --device cuda was asked for but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}). Use --device cpu, or install a CUDA build (README)."
        )
    if name not in ("cpu", "cuda"):
        raise SystemExit(f"error: unknown device {name!r}; use auto, cpu or cuda.")
    return torch.device(name)


RngState = tuple[torch.Tensor, torch.Tensor | None]


def rng_state(device: torch.device) -> RngState:
    """The CPU generator's state and, on CUDA, the device's: a warm-up or a compile that draws
    dropout and augmentation puts them back so the run draws what eager would have."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.random.get_rng_state(), cuda


def set_rng_state(state: RngState, device: torch.device) -> None:
    torch.random.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)
