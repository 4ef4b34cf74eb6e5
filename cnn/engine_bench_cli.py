"""`python -m cnn bench-engines`: `python -m serving bench`'s table with PyTorch eager added."""

from __future__ import annotations

import argparse
from pathlib import Path

from serving.bench_cli import add_bench_options
from serving.cli_groups import Command


def _options(p: argparse.ArgumentParser) -> None:
    add_bench_options(p)
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="PyTorch checkpoint (default: an untrained DigitCNN; speed is the same)",
    )
    p.set_defaults(func=cmd_bench_engines)


def cmd_bench_engines(args: argparse.Namespace) -> int:
    from cnn.engine_bench import run_engine_benchmark
    from serving.bench_cli import bench_config, progress_log, report

    result = run_engine_benchmark(bench_config(args), args.checkpoint, progress_log(args))
    return report(args, result)


COMMANDS = {
    "bench-engines": Command(
        "PyTorch eager vs ONNX Runtime fp32 vs INT8, side by side",
        "Batch-1 latency p50/p99 and batch-256 throughput of PyTorch eager, ONNX Runtime fp32 "
        "(the served Bayesian graph), ONNX Runtime INT8 and the plain MAP graph, measured in "
        "one run, with ratios (python -m serving bench without PyTorch).",
        _options,
    ),
}
