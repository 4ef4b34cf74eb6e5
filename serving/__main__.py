"""Command line: python -m serving {predict,robustness,quantize,bench,serve,loadtest,...} --help.

This module only parses and dispatches. Each command group is a module with ``COMMANDS``
(serving/cli_groups.py explains why); adding a group is one line in ``GROUPS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from serving.cli_groups import DefaultsFormatter, add_groups

GROUPS = (
    "serving.predict_cli",  # predict
    "serving.robustness_cli",  # robustness
    "serving.quantize_cli",  # quantize
    "serving.bench_cli",  # bench
    "serving.serve_cli",  # serve, loadtest
    "serving.triton_cli",  # export-triton
    "serving.adapt_cli",  # adapt
    "serving.number_cli",  # read-number
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # ModelError, ImageReadError, ... are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``argv``, only the command it names gets its options."""
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="ONNX Runtime inference for hand-drawn digits: predict image files, measure "
        "robustness, quantize to INT8, benchmark against PyTorch.",
        formatter_class=DefaultsFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_groups(sub, GROUPS, DefaultsFormatter, argv)
    return parser


if __name__ == "__main__":
    sys.exit(main())
