"""Outlier exposure while training: the trunk learns to keep non-digits apart from digits.

The served reader's "is it a digit?" head is trained on *frozen* features (cnn.reader.gate); it
can only separate what the trunk keeps apart, and a trunk trained on digits alone maps an S
onto a 5. With ``--outlier-exposure PROXIES.npy`` every training batch is joined by
``oe_batch`` generated non-digits (cnn.reader.proxies: no evaluation set's generator or font),
and an auxiliary logistic output on fc1 learns digit vs proxy beside the digits' cross-entropy
(Hendrycks et al., "Deep Anomaly Detection with Outlier Exposure", 2019, with a separate output
instead of a uniform target on the 10 classes, which hurt calibration here: issue 20). The
auxiliary output is training-only: the exported network is the course's, unchanged, and the
digit probabilities are still trained on digits alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

FEATURES = 1024  # fc1


def load_proxies(path: Path | str, device: torch.device) -> torch.Tensor:
    """Proxies [N, 1, 28, 28] float32 in [0, 1] on ``device``, or a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"--outlier-exposure {path}: no such file; write proxies first, e.g. "
            "python -m cnn.reader.proxies --count 20000 --out runs/proxies/train.npy"
        )
    try:
        pixels = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"--outlier-exposure {path} is not a .npy array ({exc})") from exc
    if pixels.ndim != 3 or pixels.shape[1:] != (28, 28) or len(pixels) == 0:
        raise ValueError(
            f"--outlier-exposure {path} holds an array of shape {pixels.shape}; expected "
            "[N, 28, 28] non-digits in MNIST form"
        )
    pixels = pixels.astype(np.float32)
    if pixels.max() > 1.0:  # uint8 images
        pixels = pixels / 255.0
    return torch.from_numpy(pixels).to(device).unsqueeze(1)


class OutlierExposure(nn.Module):
    """The proxies and the auxiliary head; ``loss`` is the term added to the step's loss."""

    def __init__(self, proxies: torch.Tensor, weight: float, batch: int) -> None:
        super().__init__()
        if weight <= 0:
            raise ValueError(f"oe_weight must be positive, got {weight}")
        if batch < 1:
            raise ValueError(f"oe_batch must be at least 1, got {batch}")
        self.register_buffer("proxies", proxies, persistent=False)
        self.head = nn.Linear(FEATURES, 1)
        self.weight, self.batch = weight, batch

    def sample(self) -> torch.Tensor:
        """``batch`` proxies drawn with replacement (the step's generator: graph-safe)."""
        idx = torch.randint(len(self.proxies), (self.batch,), device=self.proxies.device)
        return self.proxies.index_select(0, idx)

    def loss(self, features: torch.Tensor, digits: int) -> torch.Tensor:
        """Logistic loss of "is it a digit?" on fc1 features: the first ``digits`` rows are
        digits, the rest proxies."""
        logit = self.head(features).squeeze(1).float()
        target = torch.zeros_like(logit)
        target[:digits] = 1.0
        return self.weight * F.binary_cross_entropy_with_logits(logit, target)
