"""PyTorch eager beside ONNX Runtime fp32 and INT8, in one run (``python -m cnn bench-engines``).

``serving.bench`` times ONNX Runtime and takes extra engines; this module brings the PyTorch one
(``serving`` never imports ``cnn``: the inference layer sits below training).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from serving.bench import BenchConfig, Runner, run_benchmark


def torch_runner(checkpoint: Path | None, threads: int | None) -> Runner:
    """The DigitCNN in eval mode (a checkpoint's weights, or fresh ones: the speed is the same)."""
    import torch

    from cnn.model import DigitCNN

    if threads is not None:
        torch.set_num_threads(threads)
    if checkpoint is not None:
        from cnn.train import load_checkpoint_model

        model, _ = load_checkpoint_model(checkpoint)
    else:
        model = DigitCNN()
    model.eval()

    def run(x: np.ndarray) -> object:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return run


def run_engine_benchmark(
    config: BenchConfig = BenchConfig(),
    checkpoint: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """``serving.bench.run_benchmark`` with PyTorch eager as the first engine."""
    engines = {"pytorch_eager": lambda: torch_runner(checkpoint, config.threads)}
    return run_benchmark(config, progress=progress, engines=engines)
