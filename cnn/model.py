"""The course's digit CNN: conv5x5x32 -> pool -> conv5x5x64 -> pool -> fc1024 + dropout -> 10."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from cnn.data import MNIST_MEAN, MNIST_STD

ARCHITECTURE = "course-digit-cnn: conv5x5x32-pool-conv5x5x64-pool-fc1024-dropout-fc10"
PARAMETER_COUNT = 3_274_634


class DigitCNN(nn.Module):
    """Takes [B, 1, 28, 28] pixels in [0, 1] (ink high); normalizes inside, so export keeps it."""

    def __init__(self, dropout: float = 0.5) -> None:
        super().__init__()
        # padding=2 is TensorFlow's SAME for a 5x5 kernel, as in the course: 28 -> 14 -> 7.
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.fc1 = nn.Linear(7 * 7 * 64, 1024)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, 10)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after each conv+ReLU (for the conv lab's pictures)."""
        h1 = F.relu(self.conv1(normalize(x)))
        h2 = F.relu(self.conv2(F.max_pool2d(h1, 2)))
        return [h1, h2]

    def fc1_features(self, x: torch.Tensor) -> torch.Tensor:
        """fc1's activations (after ReLU, before dropout): the reader's feature space."""
        x = F.max_pool2d(F.relu(self.conv1(normalize(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(normalize(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)


def normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - MNIST_MEAN) / MNIST_STD


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
