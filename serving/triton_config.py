"""``python -m serving export-triton``'s settings, without ONNX (``--help`` shows them at once);
serving.triton writes the model repository with them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.paths import DEFAULT_MODEL, ROOT


@dataclass(frozen=True)
class TritonConfig:
    """What to export and how Triton should batch it."""

    model: Path = DEFAULT_MODEL
    out: Path = ROOT / "runs" / "model_repository"  # runs/ is git-ignored
    name: str = "digits"
    max_batch_size: int = 256
    queue_delay_us: int = 500  # dynamic batching waits this long for a fuller batch
    kind: str = "KIND_GPU"  # KIND_CPU / KIND_AUTO where there is no GPU

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name must be a plain folder name, got {self.name!r}")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.queue_delay_us < 0:
            raise ValueError(f"queue_delay_us must be >= 0, got {self.queue_delay_us}")
