"""``python -m serving bench``'s settings, without ONNX Runtime (``--help`` shows them at once);
serving.bench measures with them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.paths import DEFAULT_MODEL, INT8_MODEL, MAP_MODEL


@dataclass(frozen=True)
class BenchConfig:
    """Repetitions sized so the whole run takes well under a minute on 2 cores."""

    fp32_model: Path = DEFAULT_MODEL
    int8_model: Path = INT8_MODEL
    # The plain MAP export, timed beside the Bayesian default graph (None or same file: skip).
    map_model: Path | None = MAP_MODEL
    threads: int | None = None  # None: every core, for all engines alike
    latency_runs: int = 500
    throughput_batch: int = 256
    throughput_runs: int = 30
    warmup: int = 10
    rounds: int = 5  # engines take turns this many times
    settle_s: float = 0.3  # idle pause before each engine's turn (see run_benchmark)
    seed: int = 0
