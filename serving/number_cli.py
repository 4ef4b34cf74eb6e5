"""`python -m serving read-number`: read a drawn number, digit by digit (serving/number.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from serving.cli_groups import Command


def _options(p: argparse.ArgumentParser) -> None:
    from serving.predict_cli import model_arguments

    p.add_argument(
        "images",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="image files with one number each (digits side by side, left to right)",
    )
    model_arguments(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: file, number (null if unsure), digits (digit, "
        "confidence, abstain, uncertainty, box), abstain, reason, seconds",
    )
    p.set_defaults(func=cmd_read_number)


def cmd_read_number(args: argparse.Namespace) -> int:
    from serving.images import ImageReadError, read_image
    from serving.number import error_record, number_record, read_number
    from serving.predictor import Predictor
    from serving.preprocess import PreprocessError
    from serving.session import ModelError

    predictor = Predictor(args.model, args.threads)
    failed = 0
    for path in args.images:  # one line per file, whatever happens to the others
        try:
            result = read_number(read_image(path), predictor)
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
                print(json.dumps(error_record(str(path), message)), flush=True)
            else:
                print(f"error: {message}", file=sys.stderr)
            continue
        record = number_record(str(path), result)
        print(json.dumps(record) if args.json else _text(record), flush=True)
    return 1 if failed else 0


def _text(record: dict) -> str:
    digits = ", ".join(
        f"{'?' if d['digit'] is None else d['digit']} ({d['confidence']:.0%}"
        + (", not sure" if d["abstain"] else "")
        + ")"
        for d in record["digits"]
    )
    ms = f"{record['seconds'] * 1e3:.0f} ms"
    if record["number"] is not None:
        return f"{record['file']}: {record['number']}  (digits {digits}; {ms})"
    if record["reason"] == "empty":
        return f"{record['file']}: no number (empty drawing)"
    seen = f" (read {digits})" if digits else ""
    return f"{record['file']}: not sure of the number: {record['reason']}{seen}"


def _bench_options(p: argparse.ArgumentParser) -> None:
    from serving.number_bench_config import NumberBenchConfig

    d = NumberBenchConfig()
    p.add_argument("--number-image", type=Path, default=d.number_image, help="a 4-digit drawing")
    p.add_argument("--digit-image", type=Path, default=d.digit_image, help="a 1-digit drawing")
    p.add_argument("--requests", type=int, default=d.requests, help="timed requests per route")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=cmd_number_bench)


def cmd_number_bench(args: argparse.Namespace) -> int:
    from serving.number_bench import NumberBenchConfig, format_table, run_bench

    config = NumberBenchConfig(args.number_image, args.digit_image, args.requests)
    log = None if args.json else (lambda step: print(step, file=sys.stderr))
    result = run_bench(config, progress=log)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_table(result))
    print(
        f"\n{args.number_image.name} read as {result['number_read']!r}; "
        f"{result['requests']} requests per route, one client, loopback"
    )
    return 0


COMMANDS = {
    "read-number": Command(
        "read a drawn number (several digits) from image files",
        "Split each drawing into digits (connected strokes; touching digits cut where the "
        "reader reads both parts best), left to right, and read each with the served reader "
        "and its 'not sure' gate. The number is given only when every digit is read clearly; "
        "otherwise the reason says which digit made it unsure. One result per file; "
        "unreadable files get an error line (exit status 1 if any file failed).",
        _options,
    ),
    "number-bench": Command(
        "time POST /read-number beside POST /predict on the embedded server",
        "Start the embedded server on a free loopback port; one client sends, in turns, a "
        "4-digit drawing to /read-number, the same drawing to /predict and a one-digit drawing "
        "to /predict; prints median and p90 milliseconds per route and the ratios.",
        _bench_options,
    ),
}
