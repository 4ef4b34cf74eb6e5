"""PyTorch eager vs ONNX Runtime fp32 vs ONNX Runtime INT8, measured in one run on this CPU.

Batch-1 latency (p50/p99: what one drawing waits) and batch-256 throughput (what a bulk job
gets), with ratios against the baselines, so the comparison never mixes runs or machines.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving.session import DEFAULT_MODEL, INT8_MODEL, open_session

Runner = Callable[[np.ndarray], object]


@dataclass(frozen=True)
class BenchConfig:
    """Repetitions sized so the whole run takes well under a minute on 2 cores."""

    fp32_model: Path = DEFAULT_MODEL
    int8_model: Path = INT8_MODEL
    checkpoint: Path | None = None  # PyTorch weights; None = a fresh DigitCNN (same speed)
    threads: int | None = None  # None: every core, for all three engines alike
    latency_runs: int = 300
    throughput_batch: int = 256
    throughput_runs: int = 20
    warmup: int = 10
    seed: int = 0


def torch_runner(checkpoint: Path | None, threads: int | None) -> Runner:
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


def onnx_runner(path: Path, threads: int | None) -> Runner:
    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def latency_ms(run: Runner, x: np.ndarray, runs: int, warmup: int) -> np.ndarray:
    """Wall time of each of ``runs`` calls, in milliseconds."""
    for _ in range(warmup):
        run(x)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        run(x)
        times[i] = time.perf_counter() - start
    return times * 1e3


def measure(run: Runner, config: BenchConfig, rng: np.random.Generator) -> dict[str, float]:
    one = rng.random((1, 1, 28, 28), dtype=np.float32)
    batch = rng.random((config.throughput_batch, 1, 28, 28), dtype=np.float32)
    single = latency_ms(run, one, config.latency_runs, config.warmup)
    bulk = latency_ms(run, batch, config.throughput_runs, max(2, config.warmup // 5))
    return {
        "batch1_p50_ms": float(np.percentile(single, 50)),
        "batch1_p99_ms": float(np.percentile(single, 99)),
        "throughput_img_s": config.throughput_batch / float(np.median(bulk)) * 1e3,
    }


def run_benchmark(
    config: BenchConfig = BenchConfig(), progress: Callable[[str], None] | None = None
) -> dict[str, object]:
    """Measure the three engines one after another on the same inputs; ratios included."""
    engines = {
        "pytorch_eager": lambda: torch_runner(config.checkpoint, config.threads),
        "onnxruntime_fp32": lambda: onnx_runner(config.fp32_model, config.threads),
        "onnxruntime_int8": lambda: onnx_runner(config.int8_model, config.threads),
    }
    results = {}
    for name, make in engines.items():
        if progress:
            progress(name)
        results[name] = measure(make(), config, np.random.default_rng(config.seed))
    torch_, fp32, int8 = (results[k] for k in engines)
    ratios = {
        "fp32_vs_torch_batch1_p50": torch_["batch1_p50_ms"] / fp32["batch1_p50_ms"],
        "int8_vs_fp32_batch1_p50": fp32["batch1_p50_ms"] / int8["batch1_p50_ms"],
        "fp32_vs_torch_throughput": fp32["throughput_img_s"] / torch_["throughput_img_s"],
        "int8_vs_fp32_throughput": int8["throughput_img_s"] / fp32["throughput_img_s"],
    }
    return {"machine": machine(config.threads), "engines": results, "ratios": ratios}


def machine(threads: int | None) -> dict[str, object]:
    import onnxruntime
    import torch

    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": threads or "all",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_table(result: dict) -> str:
    """Markdown table of the engines plus the ratios, for the terminal and BENCHMARKS.md."""
    lines = [
        "| engine | batch-1 p50 (ms) | batch-1 p99 (ms) | batch-256 throughput (img/s) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in result["engines"].items():
        lines.append(
            f"| {name} | {r['batch1_p50_ms']:.3f} | {r['batch1_p99_ms']:.3f} | "
            f"{r['throughput_img_s']:,.0f} |"
        )
    lines.append("")
    lines += [f"- {name}: {value:.2f}x" for name, value in result["ratios"].items()]
    return "\n".join(lines)
