"""`python -m serving quantize`: static INT8 quantization calibrated on training images."""

from __future__ import annotations

import argparse
from pathlib import Path

from serving.cli_groups import Command, bar_callback


def _options(p: argparse.ArgumentParser) -> None:
    from serving.quantize_config import METHOD_NAMES, QuantizeConfig

    d = QuantizeConfig()
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
        choices=sorted(METHOD_NAMES),
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

    from serving.mnist import load_mnist
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
            load_mnist("train").images, config, test, progress=bar_callback(bar)
        )
    print(f"wrote {result['out']} (sha256 {result['sha256'][:16]}...)")
    if test is not None:
        fp32, int8 = result["fp32_test_accuracy"], result["int8_test_accuracy"]
        print(
            f"test accuracy: fp32 {fp32:.2%}, int8 {int8:.2%}, "
            f"loss {100 * (fp32 - int8):.2f} percentage points (target <= 0.10)"
        )
    return 0


COMMANDS = {
    "quantize": Command(
        "static INT8 quantization calibrated on training images",
        "Static INT8 quantization (ONNX Runtime, QDQ, U8 activations / S8 weights) "
        "calibrated on MNIST training images; reports fp32 vs INT8 test accuracy. The output "
        "depends only on the fp32 model and these options.",
        _options,
    ),
}
