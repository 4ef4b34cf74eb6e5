"""ONNX Runtime fp32 vs INT8 (and the MAP graph beside the Bayesian one), measured in one run on
this CPU; a caller may add engines of its own (``python -m cnn bench-engines`` adds PyTorch
eager: ``cnn`` sits above ``serving`` and brings the PyTorch side).

Batch-1 latency (p50/p99: what one drawing waits) and batch-256 throughput (what a bulk job
gets), with ratios against the baselines, so the comparison never mixes runs or machines.
Timings are wall-clock per call; the throughput is the batch size over the median call.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from serving.bench_config import BenchConfig
from serving.session import open_session, run_session

Runner = Callable[[np.ndarray], object]


def onnx_runner(path: Path, threads: int | None) -> Runner:
    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    return lambda x: run_session(session, None, {name: x}, path)[0]


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


def run_benchmark(
    config: BenchConfig = BenchConfig(),
    progress: Callable[[str], None] | None = None,
    engines: dict[str, Callable[[], Runner]] | None = None,
) -> dict[str, object]:
    """Measure the engines on the same inputs, interleaved in rounds (so that a busy machine
    slows them alike), then pool each engine's timings; ratios included. ``engines`` (name ->
    maker) are timed first, beside ONNX Runtime's; ``pytorch_eager`` gets its ratios."""
    makers = {
        **(engines or {}),
        "onnxruntime_fp32": lambda: onnx_runner(config.fp32_model, config.threads),
        "onnxruntime_int8": lambda: onnx_runner(config.int8_model, config.threads),
    }
    if config.map_model is not None and Path(config.map_model) != Path(config.fp32_model):
        makers["onnxruntime_fp32_map"] = lambda: onnx_runner(config.map_model, config.threads)
    rng = np.random.default_rng(config.seed)
    one = rng.random((1, 1, 28, 28), dtype=np.float32)
    batch = rng.random((config.throughput_batch, 1, 28, 28), dtype=np.float32)
    runners = {name: make() for name, make in makers.items()}
    single = {name: [] for name in runners}
    bulk = {name: [] for name in runners}
    for name, run in runners.items():  # warm up: first calls allocate and plan
        latency_ms(run, one, 1, config.warmup)
        latency_ms(run, batch, 1, 1)
    for r in range(config.rounds):
        if progress:
            progress(f"round {r + 1}/{config.rounds}")
        for name, run in runners.items():
            # The engine timed before keeps its worker threads spinning for a while after its
            # last call (ONNX Runtime's pool, PyTorch's OpenMP): on 2 cores that steals a core
            # from whoever runs next. A short idle pause lets them park first.
            time.sleep(config.settle_s)
            single[name].append(latency_ms(run, one, _share(config.latency_runs, config, r), 0))
            bulk[name].append(latency_ms(run, batch, _share(config.throughput_runs, config, r), 0))
    results = {name: _summary(single[name], bulk[name], config) for name in runners}
    fp32, int8 = results["onnxruntime_fp32"], results["onnxruntime_int8"]
    ratios = {}
    if "pytorch_eager" in results:
        torch_ = results["pytorch_eager"]
        ratios["fp32_vs_torch_batch1_p50"] = torch_["batch1_p50_ms"] / fp32["batch1_p50_ms"]
    ratios["int8_vs_fp32_batch1_p50"] = fp32["batch1_p50_ms"] / int8["batch1_p50_ms"]
    if "pytorch_eager" in results:
        ratios["fp32_vs_torch_throughput"] = fp32["throughput_img_s"] / torch_["throughput_img_s"]
    ratios["int8_vs_fp32_throughput"] = int8["throughput_img_s"] / fp32["throughput_img_s"]
    if "onnxruntime_fp32_map" in results:  # the posterior's cost: goal <= 1.25x
        map_p50 = results["onnxruntime_fp32_map"]["batch1_p50_ms"]
        ratios["fp32_vs_map_batch1_p50_cost"] = fp32["batch1_p50_ms"] / map_p50
    return {"machine": machine(config.threads), "engines": results, "ratios": ratios}


def _share(total: int, config: BenchConfig, round_index: int) -> int:
    """Split ``total`` calls over the rounds (at least one call per round)."""
    base, extra = divmod(total, config.rounds)
    return max(1, base + (round_index < extra))


def _summary(single: list[np.ndarray], bulk: list[np.ndarray], config: BenchConfig) -> dict:
    one, many = np.concatenate(single), np.concatenate(bulk)
    return {
        "batch1_p50_ms": float(np.percentile(one, 50)),
        "batch1_p99_ms": float(np.percentile(one, 99)),
        "throughput_img_s": config.throughput_batch / float(np.median(many)) * 1e3,
        "batch1_calls": len(one),
        "batch_calls": len(many),
    }


def machine(threads: int | None) -> dict[str, object]:
    import sys

    import onnxruntime

    torch = sys.modules.get("torch")  # only when an engine brought it: never imported here
    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": threads or "all",
        "python": platform.python_version(),
        "torch": torch.__version__ if torch is not None else None,
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
    lines += [
        f"- {name}: {value:.2f}x ({RATIO_WORDS.get(name, '')})"
        for name, value in result["ratios"].items()
    ]
    return "\n".join(lines)


# What each ratio says, in words (the names are the JSON keys).
RATIO_WORDS = {
    "fp32_vs_torch_batch1_p50": "how many times faster ONNX Runtime answers one drawing than "
    "PyTorch eager (median)",
    "int8_vs_fp32_batch1_p50": "how many times faster INT8 answers one drawing than fp32",
    "fp32_vs_torch_throughput": "ONNX Runtime's images/s over PyTorch's, batches of 256",
    "int8_vs_fp32_throughput": "INT8's images/s over fp32's, batches of 256",
    "fp32_vs_map_batch1_p50_cost": "what the Bayesian graph costs per drawing over the plain "
    "(MAP) network it wraps; 1.25x is the budget",
}
