"""`python -m serving bench`: PyTorch eager vs ONNX Runtime fp32 vs INT8, side by side."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from serving.cli_groups import Command
from serving.predict_cli import positive_int


def _options(p: argparse.ArgumentParser) -> None:
    from serving.bench import BenchConfig

    d = BenchConfig()
    p.add_argument("--fp32-model", type=Path, default=d.fp32_model, help="fp32 ONNX model")
    p.add_argument(
        "--map-model",
        type=Path,
        default=d.map_model,
        help="plain MAP export timed beside a Bayesian --fp32-model (its posterior's cost)",
    )
    p.add_argument(
        "--int8-model",
        type=Path,
        default=d.int8_model,
        help="INT8 model (python -m serving quantize)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="PyTorch checkpoint (default: an untrained DigitCNN; speed is the same)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="threads for all three engines (default: all cores)",
    )
    p.add_argument(
        "--latency-runs", type=int, default=d.latency_runs, help="timed batch-1 calls per engine"
    )
    p.add_argument(
        "--throughput-runs",
        type=int,
        default=d.throughput_runs,
        help="timed batch-256 calls per engine",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=d.rounds,
        help="the engines take turns this many times (a busy CPU slows all alike)",
    )
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from serving.bench import BenchConfig, format_table, run_benchmark

    config = BenchConfig(
        fp32_model=args.fp32_model,
        int8_model=args.int8_model,
        map_model=args.map_model,
        checkpoint=args.checkpoint,
        threads=args.threads,
        latency_runs=args.latency_runs,
        throughput_runs=args.throughput_runs,
        rounds=args.rounds,
    )
    log = None if args.json else (lambda step: print(f"measuring: {step}", file=sys.stderr))
    result = run_benchmark(config, progress=log)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
        print(f"\nmachine: {result['machine']}")
    return 0


COMMANDS = {
    "bench": Command(
        "PyTorch eager vs ONNX Runtime fp32 vs INT8, side by side",
        "Batch-1 latency p50/p99 and batch-256 throughput of PyTorch eager, ONNX "
        "Runtime fp32 and ONNX Runtime INT8, measured in one run, with ratios.",
        _options,
    ),
}
