"""`python -m cnn number-eval`: the held-out evaluation of reading drawn numbers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnn.cli_format import missing_model, positive_int

HELP = "read held-out pen-drawn numbers (2-4 digits): exact / wrong / null rates"


def add_parser(sub: argparse._SubParsersAction, formatter: type[argparse.HelpFormatter]) -> None:
    from cnn.reader.configs import NumberEvalConfig
    from serving.paths import DEFAULT_MODEL

    d = NumberEvalConfig()
    p = sub.add_parser(
        "number-eval",
        help=HELP,
        description="Numbers of 2-4 digits drawn with the pen by writers reserved for this "
        "evaluation, on 560x280 and 280x280 canvases, spaced, close or touching, read by "
        "serving/number.py with the served reader. Reports the share read exactly, read as a "
        "wrong number, and not answered (null), per canvas and gap class.",
        formatter_class=formatter,
    )
    p.add_argument("--count", type=positive_int, default=d.count, help="numbers per canvas")
    p.add_argument("--seed", type=int, default=d.seed, help="picks writers, digits and gaps")
    p.add_argument(
        "--development",
        action="store_true",
        help="writers of the development tag (tune on these) instead of the evaluation's",
    )
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the served ONNX model")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(posterior_command=run)  # dispatched like the reader's other commands


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cnn.reader.number_eval import NumberEvalConfig, evaluate, format_table
    from serving.cli_groups import bar_callback
    from serving.predictor import Predictor
    from serving.session import ModelError

    if missing_model(args.model):
        return 2
    config = NumberEvalConfig(count=args.count, seed=args.seed, development=args.development)
    try:
        reader = Predictor(args.model, intra_op_threads=1)
    except ModelError as exc:  # not an ONNX model, or not the served contract
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tqdm(desc="numbers", unit="drawing", disable=args.json, leave=False) as bar:
        result = evaluate(reader, config, progress=bar_callback(bar))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model: {args.model}, {result['config']['writers']} writers\n")
    print(format_table(result))
    print(f"\nnot answered, by reason: {result['null_reasons']}")
    print(f"median {result['median_ms']:.0f} ms per drawing (one thread)")
    return 0
