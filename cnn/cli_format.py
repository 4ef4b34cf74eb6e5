"""One argparse help style for every command (defaults shown where they say something), and
the argument types that turn a bad count into one clear line instead of a crash deep inside."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" unless the help already names it or X is None/a flag's False."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if (
            "default" in help_text
            or action.default is None
            or action.default is False
            or action.default == argparse.SUPPRESS
            or action.nargs == 0  # store_true/store_false flags: their presence is the value
        ):
            return help_text
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    """argparse type for counts: a clear message instead of a crash deep inside on 0 or -1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text}")
    return value


def dashed(text: str) -> str:
    """Accept glorot_normal as well as glorot-normal (Keras spells it with an underscore)."""
    return text.replace("_", "-")


def missing_model(path: Path) -> bool:
    """True (and one clear line on stderr) when the ONNX model a reader command needs is not
    there: the commands that draw and read for minutes check before they start."""
    if Path(path).is_file():
        return False
    print(f"error: model file {path} does not exist; pass --model", file=sys.stderr)
    return True
