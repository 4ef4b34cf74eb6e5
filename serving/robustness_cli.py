"""`python -m serving robustness`: accuracy on drawn-like digits through preprocessing + model."""

from __future__ import annotations

import argparse
import json

from serving.cli_groups import Command, bar_callback
from serving.predict_cli import model_arguments


def _options(p: argparse.ArgumentParser) -> None:
    model_arguments(p)
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

    from serving.mnist import load_mnist
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
            progress=bar_callback(bar),
        )
    fonts = {}
    if args.per_digit > 0:
        with tqdm(desc="fonts", unit="img", disable=args.json, leave=False) as bar:
            fonts = evaluate_fonts(
                predictor, per_digit=args.per_digit, seed=args.seed, progress=bar_callback(bar)
            )
    with tqdm(desc="UCI digits", unit="img", disable=args.json, leave=False) as bar:
        uci = evaluate_uci_digits(predictor, progress=bar_callback(bar))
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


COMMANDS = {
    "robustness": Command(
        "accuracy on drawn-like digits through preprocessing + model",
        "Accuracy on MNIST test digits made to look drawn (large canvas, "
        "off-centre, thick/thin strokes, dark ink on paper, RGBA canvas strokes), on digits "
        "typed in the handwriting-like fonts installed here, and on other people's handwriting "
        "(scikit-learn's UCI 8x8 digits, 43 writers), all through to_mnist + the model.",
        _options,
    ),
}
