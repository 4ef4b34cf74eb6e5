"""The one place that decides where tensors live."""

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
