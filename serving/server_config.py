"""``python -m serving serve``'s settings, without FastAPI or ONNX Runtime (``--help`` shows
them at once); serving.http_app serves with them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.images import DEFAULT_MAX_PIXELS
from serving.paths import DEFAULT_MODEL


@dataclass(frozen=True)
class ServerConfig:
    """What every engine serves and the limits it enforces (CPU-friendly defaults)."""

    model: Path = DEFAULT_MODEL
    threads: int = 1  # ONNX Runtime intra-op threads per session: requests run side by side
    max_body_bytes: int = 10 * 2**20  # 10 MB
    max_pixels: int = DEFAULT_MAX_PIXELS  # checked from the image header, before decoding
    max_batch_items: int = 256  # images or pixel arrays per POST /predict/batch
    top_k: int = 3

    def __post_init__(self) -> None:
        for name in ("threads", "max_body_bytes", "max_pixels", "max_batch_items", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.top_k > 10:
            raise ValueError(f"top_k must lie between 1 and 10, got {self.top_k}")
