"""``python -m cnn app-shapes``: parser and dispatch (the work is cnn/reader/app_shapes.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cnn.cli_format import missing_model, positive_int
from serving.cli_groups import Command


def _options(p: argparse.ArgumentParser) -> None:
    from serving.paths import DEFAULT_MODEL

    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the served ONNX graph")
    p.add_argument("--count", type=positive_int, default=100, help="drawings (writers) per shape")
    p.add_argument("--seed", type=int, default=0, help="varies each writer's drawing")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(posterior_command=cmd_app_shapes)


def cmd_app_shapes(args: argparse.Namespace) -> int:
    if missing_model(args.model):
        return 2
    from dataclasses import asdict

    from cnn.reader.app_shapes import measure, report

    results = measure(args.model, args.count, args.seed)
    print(json.dumps([asdict(r) for r in results], indent=1) if args.json else report(results))
    return 0


COMMANDS = {
    "app-shapes": Command(
        "how often the app abstains on a drawn A, S and smiley, and reads a flagged 1 as 1",
        "Draws an A, an S, a smiley and a 1 with a flag with the app's round pen on its 280x280 "
        "canvas, one writer per drawing (slant, size, place, pen width and wobble vary), runs "
        "them through the app's preprocessing and the served graph, and prints the share "
        "abstained on ('Not sure this is a digit'), shown at >= 99% confidence, and the digits "
        "answered. Evaluation only: nothing trains on these drawings.",
        _options,
    ),
}
