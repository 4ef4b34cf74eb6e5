"""Lab subcommands of ``python -m cnn`` (init-lab, optim-lab, reg-lab, conv-lab).

Each lab prints a short summary (or, with ``--json``, one JSON object) and with ``--out DIR``
writes its figures as PNG files plus ``<lab>.json`` there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from cnn.data import MnistError

LAB_COMMANDS: tuple[str, ...] = ("init-lab", "optim-lab", "reg-lab", "conv-lab")


def positive_int(text: str) -> int:
    """argparse type for counts: a clear message instead of a crash deep inside on 0 or -1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _common(p: argparse.ArgumentParser, seed: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="print the lab's numbers as one JSON object")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write the figures (PNG) and <lab>.json into DIR (default: write nothing)",
    )
    if seed:
        p.add_argument(
            "--seed", type=int, default=0, help="one seed for data and weights (default 0)"
        )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_lab_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the lab subcommands on ``python -m cnn``'s subparsers."""
    from cnn.labs.block import ACTIVATIONS, INITIALIZERS
    from cnn.labs.conv_lab import ConvLabConfig
    from cnn.labs.optim_race import FUNCTIONS, RACERS, OptimLabConfig
    from cnn.labs.reg_lab import RegLabConfig

    p = sub.add_parser(
        "init-lab",
        help="weight initialization: the BLOCK model at epoch 0",
        description="One forward/backward pass of the 10-D ball data through the "
        "BLOCK model per activation x initializer: per-layer Z-values, "
        "activations, weights and gradients, and the course's claims checked.",
    )
    p.add_argument(
        "--activation",
        choices=[*ACTIVATIONS, "all"],
        default="all",
        help="hidden-layer activation (default all)",
    )
    p.add_argument(
        "--init",
        choices=[*INITIALIZERS, "all"],
        default="all",
        help="weight initializer (default all)",
    )
    _common(p)

    d = OptimLabConfig()
    p = sub.add_parser(
        "optim-lab",
        help="optimizer race: the course's update rules",
        description="The course's optimizers (SGD, momentum, Nesterov, Adagrad, "
        "Adadelta, RProp, Adam) race on the ball data and on 2-D test functions.",
    )
    p.add_argument(
        "--ball-steps",
        type=positive_int,
        default=d.ball_steps,
        help=f"full-batch steps on the ball data (default {d.ball_steps})",
    )
    p.add_argument(
        "--function-steps",
        type=positive_int,
        default=d.function_steps,
        help=f"steps on each 2-D function (default {d.function_steps})",
    )
    p.add_argument(
        "--functions",
        nargs="+",
        choices=list(FUNCTIONS),
        default=list(d.functions),
        help="2-D test functions (default: all)",
    )
    p.add_argument(
        "--optimizers",
        nargs="+",
        choices=list(RACERS),
        default=list(RACERS),
        help="racers (default: all; adam = the course's rule, adam-bc = bias-corrected)",
    )
    _common(p)

    d = RegLabConfig()
    p = sub.add_parser(
        "reg-lab",
        help="regularization: L1 feature selection vs L2, dropout",
        description="Ball data plus pure-noise features, trained with no penalty, "
        "L1 and L2 (weights only): what happens to the noise features' weights. "
        "And dropout in train vs eval mode.",
    )
    p.add_argument(
        "--noise-features",
        type=int,
        default=d.noise_features,
        help=f"pure-noise inputs added to the 10 real ones (default {d.noise_features})",
    )
    p.add_argument("--l1", type=float, default=d.l1, help=f"L1 strength lambda (default {d.l1})")
    p.add_argument("--l2", type=float, default=d.l2, help=f"L2 strength lambda (default {d.l2})")
    p.add_argument(
        "--steps",
        type=positive_int,
        default=d.steps,
        help=f"full-batch Adam steps per model (default {d.steps})",
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=d.dropout_p,
        help=f"dropout probability for the demo (default {d.dropout_p})",
    )
    _common(p)

    d = ConvLabConfig()
    p = sub.add_parser(
        "conv-lab",
        help="convolution and pooling: the course's worked examples",
        description="NumPy conv/max-pool with TensorFlow's VALID/SAME rule on the "
        "course's examples, the 1-D padding example, the horizontal Sobel kernel "
        "on a digit, and the trained CNN's feature maps (if a checkpoint exists).",
    )
    p.add_argument(
        "--checkpoint",
        default=d.checkpoint,
        help="training checkpoint.pt or exported .onnx for the feature maps "
        "(default: the shipped models/mnist_cnn.onnx)",
    )
    p.add_argument(
        "--digit-index",
        type=int,
        default=d.digit_index,
        help=f"which MNIST test image to use (default {d.digit_index})",
    )
    _common(p, seed=False)


def _progress_bar(quiet: bool, desc: str) -> tuple[Callable[[int, int], None] | None, Callable]:
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(desc=desc, file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def _run(args: argparse.Namespace):
    progress, close = _progress_bar(args.quiet or args.command == "conv-lab", args.command)
    try:
        if args.command == "init-lab":
            from cnn.labs.init import InitLabConfig, init_lab

            return init_lab(InitLabConfig(args.activation, args.init, args.seed), progress)
        if args.command == "optim-lab":
            from cnn.labs.optim_race import OptimLabConfig, optim_lab

            config = OptimLabConfig(args.ball_steps, args.function_steps, tuple(args.functions),
                                    tuple(args.optimizers), args.seed)  # fmt: skip
            return optim_lab(config, progress)
        if args.command == "reg-lab":
            from cnn.labs.reg_lab import RegLabConfig, reg_lab

            for flag in ("noise_features", "l1", "l2"):
                if getattr(args, flag) < 0:
                    raise ValueError(
                        f"--{flag.replace('_', '-')} must be >= 0, got {getattr(args, flag)}"
                    )
            config = RegLabConfig(
                noise_features=args.noise_features,
                l1=args.l1,
                l2=args.l2,
                steps=args.steps,
                dropout_p=args.dropout,
                seed=args.seed,
            )
            return reg_lab(config, progress)
        from cnn.labs.conv_lab import ConvLabConfig, conv_lab

        return conv_lab(ConvLabConfig(args.checkpoint, args.digit_index))
    finally:
        close()


def _summary(name: str, numbers: dict) -> list[str]:
    """A few lines a person reads; --json has everything."""
    if name == "init-lab":
        lines = [f"{'activation':8s} {'init':15s} activation std h1..h5    weight-grad std h1..h5"]
        for r in numbers["table"]:
            a = " ".join(f"{v:7.1e}" for v in r["std"]["activations"])
            g = " ".join(f"{v:7.1e}" for v in r["std"]["gradients"])
            lines.append(f"{r['activation']:8s} {r['init']:15s} {a}   {g}")
        for key, c in numbers["course_claims"].items():
            measure, value = next((k, v) for k, v in c.items() if k not in ("holds", "says"))
            lines.append(f"[{'holds' if c['holds'] else 'FAILS'}] {key}: {measure} = "
                         f"{value:.3g} -- {c['says']}")  # fmt: skip
        return lines
    if name == "optim-lab":
        lines = ["ball data, final training BCE: " + ", ".join(
            f"{k} {v['final_loss']:.2e}" for k, v in numbers["ball"].items())]  # fmt: skip
        for fn, rows in numbers.items():
            if fn != "ball":
                lines.append(f"{fn}, final distance to the minimum: " + ", ".join(
                    f"{k} {v['final_distance']:.1e}" for k, v in rows.items()))  # fmt: skip
        return lines
    if name == "reg-lab":
        fs, drop = numbers["feature_selection"], numbers["dropout"]
        lines = [
            f"{k:4s}: {v['noise_weights_near_zero']:.0%} of noise-feature weights near 0, noise "
            f"features kept {v['noise_features_kept']}/{fs['noise_features']}, "
            f"test accuracy {v['test_accuracy']:.3f}"
            for k, v in fs.items() if isinstance(v, dict)
        ]  # fmt: skip
        lines.append(f"dropout p={drop['p']}: train zeroes {drop['train_fraction_zeroed']:.1%}, "
                     f"keeps x{drop['train_kept_value']:.2f}; eval identity: "
                     f"{drop['eval_identical']}")  # fmt: skip
        return lines
    ok = sum(e["matches"] for e in numbers["worked_examples"])
    p1 = numbers["padding_1d"]
    fm = numbers["feature_maps"]
    return [
        f"worked examples matching the course: {ok}/{len(numbers['worked_examples'])}",
        f"1-D: width {p1['input_width']}, filter {p1['filter_width']}, stride {p1['stride']}: "
        f"VALID {p1['valid_outputs']} outputs (drops inputs {p1['valid_dropped_inputs']}), "
        f"SAME {p1['same_outputs']}",
        fm.get("missing") or f"feature maps from {fm['checkpoint']}: shapes {fm['shapes']}",
    ]


def run_lab(args: argparse.Namespace) -> int:
    """Run one lab from parsed arguments; returns the exit code."""
    import torch

    # The lab models are tiny: a second intra-op thread only adds contention.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = _run(args)
    except (MnistError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        from cnn.labs.report import save_lab

        paths = save_lab(result, args.out)
        print(f"wrote {len(paths)} files to {args.out}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.numbers))
    else:
        print("\n".join(_summary(result.name, result.numbers)))
    missing = result.numbers.get("feature_maps", {}).get("missing")
    if missing:
        print(f"note: {missing}", file=sys.stderr)
    return 0
