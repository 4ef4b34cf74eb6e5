"""``python -m cnn posterior`` and ``python -m cnn uncertainty``: parsers and dispatch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnn.data import MnistError
from cnn.labs.cli import FORMATTER, positive_int

# One line each, for `python -m cnn --help`, which lists these without importing the reader.
HELP = {
    "posterior": "fit the last-layer Laplace posterior + feature density; write the Bayesian ONNX",
    "uncertainty": "compare MAP, temperature, MC dropout, ensemble, Laplace, the feature density "
    "(DDU: a Gaussian per class on the CNN's features) and the served graph",
}


def _rate(text: str) -> float:
    value = float(text)
    if not 0 < value < 0.5:
        raise argparse.ArgumentTypeError(f"must lie in (0, 0.5), got {value}")
    return value


def add_posterior_parsers(sub: argparse._SubParsersAction) -> None:
    """Register both subcommands on ``python -m cnn``'s subparsers."""
    from cnn.reader.configs import PosteriorConfig, UncertaintyConfig

    d = PosteriorConfig()
    p = sub.add_parser(
        "posterior",
        help=HELP["posterior"],
        formatter_class=FORMATTER,
        description="Last-layer Laplace (laplace-torch, prior precision by marginal likelihood) "
        "and the abstain gate's scores (class-conditional feature density, ViM residual, conv2 "
        "Mahalanobis, an 'is it a digit?' head trained with generated non-digit proxies) fitted "
        "on the 55,000 training images; temperature chosen on the 5,000 validation images, the "
        "gate calibrated on them drawn like the canvas (conformal p-values, combined); one ONNX "
        "graph with outputs logits, probabilities (probit posterior predictive) and "
        "uncertainty (>= 1: abstain). About 10 minutes on 2 CPU cores (features cached per "
        "model). Needs laplace-torch: pip install --no-deps -r .ci/posterior-requirements.txt",
    )
    p.add_argument("--model", type=Path, default=d.model, help="the MAP ONNX model")
    p.add_argument("--out", type=Path, default=d.out, help="the Bayesian ONNX model to write")
    p.add_argument(
        "--abstain-rate",
        type=_rate,
        default=d.abstain_rate,
        help="share of drawn validation digits to abstain on (sets the threshold)",
    )
    p.add_argument(
        "--drawn-validation",
        type=positive_int,
        default=d.drawn_validation,
        help="validation digits drawn like the canvas: the gate's calibration set",
    )
    p.add_argument(
        "--gate",
        nargs="+",
        choices=("density", "residual", "conv2", "oe"),
        default=list(d.gate),
        help="scores whose p-values enter the gate",
    )
    p.add_argument(
        "--combine",
        choices=("min-p", "fisher"),
        default=d.combine,
        help="how the p-values combine: smallest p, or Fisher's -2 sum log p",
    )
    p.add_argument("--no-temperature", action="store_true", help="keep T = 1 (pure Laplace)")
    p.add_argument(
        "--limit", type=positive_int, default=None, help="fit on the first N training images"
    )
    p.add_argument("--cache", type=Path, default=d.cache, help="feature cache folder")
    p.add_argument("--seed", type=int, default=d.seed, help="draws the validation drawings")
    p.set_defaults(posterior_command=run_posterior_command)

    u = UncertaintyConfig()
    p = sub.add_parser(
        "uncertainty",
        help=HELP["uncertainty"],
        formatter_class=FORMATTER,
        description="MNIST test accuracy/NLL/ECE/Brier; non-digits shown (answered) at >= 99% "
        "and abstained, per set, on the project's own non-digit drawings and on held-out ones "
        "(cnn.reader.heldout); AUROC of 'confidence, minus 1 when abstaining'; drawn, pen and "
        "MNIST digits abstained; every method and every variant of the abstain gate; prints "
        "markdown tables, writes three figures.",
    )
    p.add_argument("--model", type=Path, default=u.model, help="the MAP ONNX model")
    p.add_argument("--bayes", type=Path, default=u.bayes, help="the served Bayesian ONNX model")
    p.add_argument(
        "--ensemble", type=Path, nargs="*", default=[], help="ensemble member ONNX files"
    )
    p.add_argument(
        "--drawn", type=positive_int, default=u.drawn, help="drawn digits (validation, test)"
    )
    p.add_argument(
        "--nondigits", type=positive_int, default=u.nondigits, help="drawings per non-digit set"
    )
    p.add_argument("--mc-samples", type=positive_int, default=u.mc_samples, help="MC dropout")
    p.add_argument("--figures", type=Path, default=u.figures, help="folder for the two PNGs")
    p.add_argument("--cache", type=Path, default=u.cache, help="feature cache folder")
    p.add_argument("--json", type=Path, default=None, help="also write all numbers to this file")
    p.set_defaults(posterior_command=run_posterior_command)


def run_posterior_command(args: argparse.Namespace) -> int:
    """Run `posterior` or `uncertainty` from parsed arguments; returns the exit code."""
    import torch

    torch.set_num_threads(min(torch.get_num_threads(), 2))
    try:
        _check_request(args)  # before the minutes of features: refusals come at once
        if args.command == "posterior":
            return _posterior(args)
        return _uncertainty(args)
    except (ImportError, MnistError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _check_request(args: argparse.Namespace) -> None:
    """laplace-torch installed; readable models; no output file that is one of the inputs."""
    from cnn.files import refuse_input_as_output
    from cnn.reader.posterior import LAPLACE_HINT

    try:
        import laplace  # noqa: F401
    except ImportError as exc:
        raise ImportError(LAPLACE_HINT) from exc
    if args.command == "posterior":
        refuse_input_as_output(args.out, {"--model": args.model})
        return
    from serving.session import open_session

    for path in (args.bayes, *args.ensemble):  # a broken file fails now, not after minutes
        if Path(path).is_file():
            open_session(path)
    if args.json is not None:
        inputs = {"--model": args.model, "--bayes": args.bayes}
        inputs |= {f"--ensemble #{i + 1}": path for i, path in enumerate(args.ensemble)}
        refuse_input_as_output(args.json, inputs)


def _posterior(args: argparse.Namespace) -> int:
    from cnn.reader.pipeline import PosteriorConfig, run_posterior

    config = PosteriorConfig(
        model=args.model,
        out=args.out,
        abstain_rate=args.abstain_rate,
        drawn_validation=args.drawn_validation,
        gate=tuple(args.gate),
        combine=args.combine,
        temperature=not args.no_temperature,
        limit=args.limit,
        cache=args.cache,
        seed=args.seed,
    )
    report = run_posterior(config)
    print(
        f"wrote {report['out']}: test accuracy {report['test_accuracy']:.4f}, abstains on "
        f"{report['test_abstained']:.2%} of MNIST test; max |p - laplace-torch| "
        f"{report['parity']['probabilities_vs_laplace_torch']:.2e}"
    )
    return 0


def _uncertainty(args: argparse.Namespace) -> int:
    from cnn.reader.uncertainty import UncertaintyConfig, run_uncertainty

    config = UncertaintyConfig(
        model=args.model,
        bayes=args.bayes,
        ensemble=tuple(args.ensemble),
        drawn=args.drawn,
        nondigits=args.nondigits,
        mc_samples=args.mc_samples,
        figures=args.figures,
        cache=args.cache,
    )
    result = run_uncertainty(config)
    parts = ("table", "significance", "per_set", "gates_table", "sweep_table")
    print("\n\n".join(result[k] for k in parts))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({k: v for k, v in result.items()}, indent=2))
    return 0
