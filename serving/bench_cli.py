"""`python -m serving bench`: ONNX Runtime fp32 vs INT8 (and the MAP graph), side by side.

``add_bench_options`` and ``bench_config`` are shared with ``python -m cnn bench-engines``, which
adds PyTorch eager to the same table (serving never imports cnn: the PyTorch side lives there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from serving.cli_groups import Command
from serving.predict_cli import positive_int


def add_bench_options(p: argparse.ArgumentParser) -> None:
    from serving.bench_config import BenchConfig

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
        "--threads",
        type=positive_int,
        default=None,
        help="threads for every engine (default: all cores)",
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


def _options(p: argparse.ArgumentParser) -> None:
    add_bench_options(p)
    p.set_defaults(func=cmd_bench)


def bench_config(args: argparse.Namespace):
    from serving.bench_config import BenchConfig

    return BenchConfig(
        fp32_model=args.fp32_model,
        int8_model=args.int8_model,
        map_model=args.map_model,
        threads=args.threads,
        latency_runs=args.latency_runs,
        throughput_runs=args.throughput_runs,
        rounds=args.rounds,
    )


def report(args: argparse.Namespace, result: dict) -> int:
    """Print the result as a table (or JSON); shared with `python -m cnn bench-engines`."""
    from serving.bench import format_table

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
        print(f"\nmachine: {result['machine']}")
    return 0


def progress_log(args: argparse.Namespace):
    return None if args.json else (lambda step: print(f"measuring: {step}", file=sys.stderr))


def cmd_bench(args: argparse.Namespace) -> int:
    from serving.bench import run_benchmark

    result = run_benchmark(bench_config(args), progress=progress_log(args))
    if not args.json:
        print("PyTorch eager beside these: python -m cnn bench-engines", file=sys.stderr)
    return report(args, result)


COMMANDS = {
    "bench": Command(
        "ONNX Runtime fp32 vs INT8 (and the MAP graph), side by side",
        "Batch-1 latency p50/p99 and batch-256 throughput of ONNX Runtime fp32 (the served "
        "Bayesian graph), INT8 and the plain MAP graph, measured in one run, with ratios. "
        "`python -m cnn bench-engines` adds PyTorch eager to the same table.",
        _options,
    ),
}
