"""Command line: python -m serving {predict,robustness,quantize,bench,serve,loadtest,...} --help."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from serving import serve_cli
from serving.images import DEFAULT_MAX_PIXELS
from serving.session import DEFAULT_MODEL, INT8_MODEL, ModelError


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, but not the uninformative None / False of optional flags."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.const is not None:
            return action.help or ""
        return super()._get_help_string(action)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="ONNX Runtime inference for hand-drawn digits: predict image files, measure "
        "robustness, quantize to INT8, benchmark against PyTorch.",
        formatter_class=_Help,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _predict_parser(sub)
    _robustness_parser(sub)
    _quantize_parser(sub)
    _bench_parser(sub)
    serve_cli.register(sub, _Help)  # serve, loadtest, export-triton
    return parser


def _model_arguments(p: argparse.ArgumentParser) -> None:
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
        type=int,
        default=None,
        help="ONNX Runtime intra-op threads (default: all cores)",
    )


def _predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="read digits from image files",
        description="Predict the digit in each image file (PNG/JPEG/..., any size, gray/RGB/RGBA, "
        "either polarity). One result per file; unreadable files get an error line and the "
        "others are still predicted (exit status 1 if any file failed).",
        formatter_class=_Help,
    )
    p.add_argument(
        "images",
        nargs="+",
        type=Path,
        metavar="IMAGE",
        help="image files with one digit each (try examples/digit_3.png)",
    )
    _model_arguments(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: file, digit (null if empty), probabilities, ...",
    )
    p.add_argument("--top-k", type=int, default=3, help="how many candidates to show")
    p.add_argument(
        "--max-megapixels",
        type=float,
        default=DEFAULT_MAX_PIXELS / 1e6,
        help="refuse larger images (checked in the file's header, before decoding)",
    )
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from serving.images import ImageReadError, read_image
    from serving.predictor import Predictor, predict_image
    from serving.preprocess import PreprocessError
    from serving.records import error_record, prediction_record

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
    if result.digit is None:
        return f"{path}: no digit (empty or nearly empty drawing)"
    order = np.argsort(-result.probabilities, kind="stable")[:k]
    others = ", ".join(f"{d}: {result.probabilities[d]:.3f}" for d in order)
    if result.uncertainty is not None:
        others += f"; uncertainty {result.uncertainty:.2f}"
    if result.abstain:
        return f"{path}: not sure this is a digit (best guesses {others})"
    return f"{path}: {result.digit}  ({others}; {result.seconds * 1e3:.1f} ms)"


def _robustness_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "robustness",
        help="accuracy on drawn-like digits through preprocessing + model",
        description="Accuracy on MNIST test digits made to look drawn (large canvas, "
        "off-centre, thick/thin strokes, dark ink on paper, RGBA canvas strokes), on digits "
        "typed in the handwriting-like fonts installed here, and on other people's handwriting "
        "(scikit-learn's UCI 8x8 digits, 43 writers), all through to_mnist + the model.",
        formatter_class=_Help,
    )
    _model_arguments(p)
    p.add_argument("--count", type=int, default=1000, help="MNIST test digits per variant")
    p.add_argument(
        "--per-digit",
        type=int,
        default=10,
        help="renderings of each digit per font (0: skip fonts)",
    )
    p.add_argument("--seed", type=int, default=0, help="picks the digits and their changes")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=cmd_robustness)


def cmd_robustness(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cnn.data import load_mnist
    from serving.predictor import Predictor
    from serving.robustness import (
        RobustnessConfig,
        evaluate_fonts,
        evaluate_mnist_variants,
        evaluate_uci_digits,
        summarize,
    )

    predictor = Predictor(args.model, args.threads)
    test = load_mnist("test")
    with tqdm(desc="drawn-like MNIST", unit="img", disable=args.json, leave=False) as bar:
        variants = evaluate_mnist_variants(
            test.images,
            test.labels,
            predictor,
            RobustnessConfig(args.count, args.seed),
            progress=_bar_callback(bar),
        )
    fonts = {}
    if args.per_digit > 0:
        with tqdm(desc="fonts", unit="img", disable=args.json, leave=False) as bar:
            fonts = evaluate_fonts(
                predictor, per_digit=args.per_digit, seed=args.seed, progress=_bar_callback(bar)
            )
    with tqdm(desc="UCI digits", unit="img", disable=args.json, leave=False) as bar:
        uci = evaluate_uci_digits(predictor, progress=_bar_callback(bar))
    drawn = {k: v for k, v in variants.items() if k != "plain_28x28"}
    report = {
        "model": str(args.model),
        "mnist_variants": variants,
        "mnist_variants_pooled": summarize(drawn),
        "fonts": fonts,
        "fonts_pooled": summarize(fonts) if fonts else None,
        "uci_digits": uci,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"model: {args.model}")
    print("| source | accuracy | correct / total | no digit |\n| --- | ---: | ---: | ---: |")
    rows = {**variants, **{f"font {k}": v for k, v in fonts.items()}, "UCI digits (sklearn)": uci}
    for name, r in rows.items():
        print(
            f"| {name} | {r['accuracy']:.2%} | {r.get('correct', '')} / {r['total']} | "
            f"{r.get('no_digit', '')} |"
        )
    pooled = report["mnist_variants_pooled"]
    print(
        f"\ndrawn-like MNIST, pooled: {pooled['accuracy']:.2%} "
        f"({pooled['correct']}/{pooled['total']}; target >= 98%)"
    )
    if fonts:
        pooled = report["fonts_pooled"]
        print(
            f"handwriting fonts ({len(fonts)}), pooled: {pooled['accuracy']:.2%} "
            f"({pooled['correct']}/{pooled['total']})"
        )
    else:
        print(
            "no handwriting fonts found (Debian: bash .ci/install-system-packages.sh, or "
            "apt-get install fonts-dkg-handwriting fonts-breip fonts-comic-neue fonts-bwht "
            "fonts-sjfonts)"
        )
    return 0


def _bar_callback(bar):
    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)  # tqdm rate-limits the redraws

    return update


def _quantize_parser(sub: argparse._SubParsersAction) -> None:
    from serving.quantize import METHODS, QuantizeConfig

    d = QuantizeConfig()
    p = sub.add_parser(
        "quantize",
        help="static INT8 quantization calibrated on training images",
        description="Static INT8 quantization (ONNX Runtime, QDQ, U8 activations / S8 weights) "
        "calibrated on MNIST training images; reports fp32 vs INT8 test accuracy. The output "
        "depends only on the fp32 model and these options.",
        formatter_class=_Help,
    )
    p.add_argument("--model", type=Path, default=d.model, help="fp32 ONNX model")
    p.add_argument("--out", type=Path, default=d.out, help="where to write the INT8 model")
    p.add_argument(
        "--calibration-images",
        type=int,
        default=d.calibration_images,
        help="training images used to measure activation ranges",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="picks the calibration images")
    p.add_argument(
        "--method",
        choices=sorted(METHODS),
        default=d.method,
        help="how activation ranges are chosen from the calibration data",
    )
    p.add_argument(
        "--per-tensor",
        action="store_true",
        help="one weight scale per tensor instead of per output channel",
    )
    p.add_argument(
        "--full-range",
        action="store_true",
        help="8-bit instead of 7-bit weights (only safe on CPUs with VNNI)",
    )
    p.add_argument("--no-eval", action="store_true", help="skip the test-set accuracy check")
    p.add_argument(
        "--max-loss",
        type=float,
        default=100 * d.max_accuracy_loss,
        help="refuse to write the INT8 model if it loses more test accuracy (percentage points)",
    )
    p.set_defaults(func=cmd_quantize)


def cmd_quantize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cnn.data import load_mnist
    from serving.quantize import QuantizeConfig, check_request, quantize_model

    config = QuantizeConfig(
        model=args.model,
        out=args.out,
        calibration_images=args.calibration_images,
        seed=args.seed,
        method=args.method,
        per_channel=not args.per_tensor,
        reduce_range=not args.full_range,
        max_accuracy_loss=args.max_loss / 100,
    )
    check_request(config)  # before loading MNIST: refusals come at once
    test = None
    if not args.no_eval:
        split = load_mnist("test")
        test = (split.images, split.labels)
    with tqdm(desc="calibration", unit="img", leave=False) as bar:
        result = quantize_model(
            load_mnist("train").images, config, test, progress=_bar_callback(bar)
        )
    print(f"wrote {result['out']} (sha256 {result['sha256'][:16]}...)")
    if test is not None:
        fp32, int8 = result["fp32_test_accuracy"], result["int8_test_accuracy"]
        print(
            f"test accuracy: fp32 {fp32:.2%}, int8 {int8:.2%}, "
            f"loss {100 * (fp32 - int8):.2f} percentage points (target <= 0.10)"
        )
    return 0


def _bench_parser(sub: argparse._SubParsersAction) -> None:
    from serving.bench import BenchConfig

    d = BenchConfig()
    p = sub.add_parser(
        "bench",
        help="PyTorch eager vs ONNX Runtime fp32 vs INT8, side by side",
        description="Batch-1 latency p50/p99 and batch-256 throughput of PyTorch eager, ONNX "
        "Runtime fp32 and ONNX Runtime INT8, measured in one run, with ratios.",
        formatter_class=_Help,
    )
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
        type=int,
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


if __name__ == "__main__":
    sys.exit(main())
