"""`python -m serving predict`: the digit in each image file, one line (or JSON object) per file."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from serving.cli_groups import Command


def model_arguments(p: argparse.ArgumentParser) -> None:
    """--model / --int8 and --threads, shared by the commands that run one model."""
    from serving.paths import DEFAULT_MODEL, INT8_MODEL

    group = p.add_mutually_exclusive_group()
    group.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX model file")
    group.add_argument(
        "--int8",
        action="store_const",
        dest="model",
        const=INT8_MODEL,
        help=f"use the INT8 model ({INT8_MODEL.name}) instead",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="ONNX Runtime intra-op threads (default: all cores)",
    )


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (--threads 0 used to blame the model file)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _top_k(text: str) -> int:
    value = positive_int(text)
    if value > 10:
        raise argparse.ArgumentTypeError(f"there are 10 digits: 1..10, got {value}")
    return value


def _megapixels(text: str) -> float:
    """A finite number > 0 ("nan" used to end in "cannot convert float NaN to integer")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _predict_options(p: argparse.ArgumentParser) -> None:
    from serving.images import DEFAULT_MAX_PIXELS

    p.add_argument(
        "images",
        nargs="+",
        type=Path,
        metavar="IMAGE",
        help="image files with one digit each (try examples/digit_3.png)",
    )
    model_arguments(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: file, digit (null if empty), probabilities, ...",
    )
    p.add_argument("--top-k", type=_top_k, default=3, help="how many candidates to show (1-10)")
    p.add_argument(
        "--max-megapixels",
        type=_megapixels,
        default=DEFAULT_MAX_PIXELS / 1e6,
        help="refuse larger images (checked in the file's header, before decoding)",
    )
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from serving.images import ImageReadError, read_image
    from serving.predictor import Predictor, predict_image
    from serving.preprocess import PreprocessError
    from serving.records import error_record, prediction_record
    from serving.session import ModelError

    predictor = Predictor(args.model, args.threads)
    max_pixels = max(1, round(args.max_megapixels * 1e6))
    failed = 0
    for path in args.images:  # one line per file, whatever happens to the others
        try:
            result = predict_image(read_image(path, max_pixels=max_pixels), predictor)
        except (ImageReadError, PreprocessError, ModelError) as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not cost the other files' lines
            message = f"unexpected {type(exc).__name__}: {exc}".splitlines()[0]
        else:
            message = None
        if message is not None:
            failed += 1
            message = message if str(path) in message else f"{path}: {message}"
            if args.json:
                print(json.dumps(error_record(str(path), message)))
            else:
                print(f"error: {message}", file=sys.stderr)
            continue
        print(
            json.dumps(prediction_record(str(path), result, args.top_k))
            if args.json
            else _result_text(path, result, args.top_k),
            flush=True,
        )
    return 1 if failed else 0


def _result_text(path: Path, result, k: int) -> str:
    import numpy as np

    from serving.preprocess import NOTHING_TO_READ

    if result.digit is None:
        return f"{path}: {result.reason or NOTHING_TO_READ}"
    order = np.argsort(-result.probabilities, kind="stable")[:k]
    others = ", ".join(f"{d}: {result.probabilities[d]:.3f}" for d in order)
    if result.uncertainty is not None:
        others += f"; uncertainty {result.uncertainty:.2f}"
    if result.abstain:
        return f"{path}: not sure this is a digit (best guesses {others})"
    return f"{path}: {result.digit}  ({others}; {result.seconds * 1e3:.1f} ms)"


COMMANDS = {
    "predict": Command(
        "read digits from image files",
        "Predict the digit in each image file (PNG/JPEG/..., any size, gray/RGB/RGBA, "
        "either polarity). One result per file; unreadable files get an error line and the "
        "others are still predicted (exit status 1 if any file failed).",
        _predict_options,
    ),
}
