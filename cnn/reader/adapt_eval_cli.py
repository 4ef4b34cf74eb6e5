"""``python -m cnn adapt-eval``: parser and dispatch (the work is cnn/reader/adapt_eval.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cnn.cli_format import missing_model, positive_int
from serving.cli_groups import Command


def _options(p: argparse.ArgumentParser) -> None:
    from cnn.reader.configs import AdaptEvalConfig

    d = AdaptEvalConfig()
    p.add_argument("--model", type=Path, default=d.model, help="the Bayesian graph to adapt")
    p.add_argument("--new-per-digit", type=positive_int, default=d.new_per_digit,
                   help="new drawings per digit and writer (the evaluation)")  # fmt: skip
    p.add_argument("--figure", type=Path, default=d.figure, help="where to draw the figure")
    p.add_argument("--no-timing", action="store_true", help="skip the cold-process timing")
    p.add_argument("--json", type=Path, default=None, help="also write every number here")
    p.set_defaults(posterior_command=cmd_adapt_eval)


def cmd_adapt_eval(args: argparse.Namespace) -> int:
    from cnn.reader.adapt_eval import AdaptEvalConfig, markdown_table, run_adapt_eval

    if missing_model(args.model):
        return 2
    config = AdaptEvalConfig(
        model=args.model,
        new_per_digit=args.new_per_digit,
        figure=args.figure,
        timing=not args.no_timing,
    )
    result = run_adapt_eval(config)
    print(markdown_table(result["rows"]))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


COMMANDS = {
    "adapt-eval": Command(
        "teach the reader two held-out writers: Bayesian update vs fine-tuning vs nothing",
        "For two held-out pen writers who flag their 1s, and 1, 2, 5, 10 labelled drawings per "
        "digit: the writer's accuracy and abstentions on new drawings and MNIST test accuracy, "
        "for `python -m serving adapt` (weight 1 and weight by leave-one-out), fine-tuning the "
        "last layer without a prior, and no update; a figure and a markdown table.",
        _options,
    ),
}
