"""`python -m serving adapt`: teach the reader one person's handwriting (serving/adapt.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from serving.cli_groups import Command


def _options(p: argparse.ArgumentParser) -> None:
    from serving.adapt_config import AdaptConfig
    from serving.paths import DEFAULT_MODEL

    d = AdaptConfig()
    p.add_argument(
        "--examples",
        type=Path,
        required=True,
        help="folder of PNG/JPEG drawings named <digit>_<anything>.png (7_0003.png)",
    )
    p.add_argument("--out", type=Path, required=True, help="the adapted ONNX model to write")
    p.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL, help="the Bayesian graph to update (prior)"
    )
    p.add_argument(
        "--weight",
        default="1",
        help="likelihood weight of each example: 1 = plain Bayes (the 55,000 MNIST images' "
        "posterior is the prior), larger counts your drawings more (reads you a little better, "
        "forgets some MNIST); 'auto' chooses by leave-one-out on the examples among "
        f"{', '.join(f'{w:g}' for w in d.weight_grid)}",
    )
    p.add_argument(
        "--gate-mode",
        choices=("mixture", "min"),
        default=d.gate_mode,
        help="mixture: your digits' Gaussians join the gate's density (its other scores still "
        "judge every drawing); min: uncertainty = min(shipped gate, a gate of your digits alone)",
    )
    p.add_argument(
        "--gate-tail",
        type=float,
        default=d.gate_tail,
        help="--gate-mode min: share of your own new digits your gate lets abstain",
    )
    p.set_defaults(func=cmd_adapt)


def cmd_adapt(args: argparse.Namespace) -> int:
    from serving.adapt import AdaptConfig, AdaptError, run_adapt

    try:
        weight = None if args.weight == "auto" else float(args.weight)
    except ValueError:
        weight = -1.0
    if weight is not None and not 0 < weight < float("inf"):
        print(f"error: --weight must be a number > 0 or 'auto', got {args.weight}", file=sys.stderr)
        return 2
    if not 0 < args.gate_tail < 1:
        print(f"error: --gate-tail must be between 0 and 1, got {args.gate_tail}", file=sys.stderr)
        return 2
    config = AdaptConfig(weight=weight, gate_tail=args.gate_tail, gate_mode=args.gate_mode)
    try:
        run_adapt(args.examples, args.out, args.model, config, progress=_progress)
    except AdaptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _progress(line: str) -> None:
    print(line, flush=True)


COMMANDS = {
    "adapt": Command(
        "teach the reader your handwriting (a Bayesian update from labelled drawings)",
        "Update the served last-layer posterior with a few labelled drawings of one writer: "
        "the served posterior is the prior, the new posterior its Laplace approximation given "
        "the drawings, and the abstain gate learns the writer's digits too. Drawings are "
        "named <digit>_<anything>.png and preprocessed exactly as `predict` does. Writes a "
        "graph with the served contract, usable wherever a model is (--model).",
        _options,
    ),
}
