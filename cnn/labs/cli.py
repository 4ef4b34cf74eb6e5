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


FORMATTER = argparse.ArgumentDefaultsHelpFormatter


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


def _common(p: argparse.ArgumentParser, seed: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="print the lab's numbers as one JSON object")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write the figures (PNG) and <lab>.json into DIR; without it nothing is written",
    )
    if seed:
        p.add_argument(
            "--seed", type=int, default=0, help="seed of the data and of the first weight draw"
        )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_lab_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the lab subcommands on ``python -m cnn``'s subparsers."""
    from cnn.labs.block import ACTIVATIONS, INITIALIZERS
    from cnn.labs.conv_lab import ConvLabConfig
    from cnn.labs.init import InitLabConfig
    from cnn.labs.optim_race import FUNCTIONS, RACERS, OptimLabConfig
    from cnn.labs.reg_lab import RegLabConfig

    d = InitLabConfig()
    p = sub.add_parser(
        "init-lab",
        help="weight initialization: the BLOCK model at epoch 0",
        formatter_class=FORMATTER,
        description="One forward/backward pass of the 10-D ball data through the "
        "BLOCK model per activation x initializer: per-layer activations, per-sample "
        "backpropagated signal, weight gradients and gradient/weight ratio (medians over "
        "seeds), the course's claims checked, and a short training run per configuration.",
    )
    p.add_argument(
        "--activation",
        type=dashed,
        choices=[*ACTIVATIONS, "all"],
        default=d.activation,
        help="hidden-layer activation",
    )
    p.add_argument(
        "--init",
        type=dashed,
        choices=[*INITIALIZERS, "all"],
        default=d.init,
        help="weight initializer (glorot_normal and glorot-normal both work)",
    )
    p.add_argument(
        "--seeds", type=positive_int, default=d.seeds, help="seeds behind each median and band"
    )
    p.add_argument(
        "--train-epochs",
        type=non_negative_int,
        default=d.train_epochs,
        help="epochs of the 'does it train?' run (SGD, rate 0.01, batches of 32); 0 skips it",
    )
    p.add_argument(
        "--train-seeds",
        type=positive_int,
        default=d.train_seeds,
        help="seeds per configuration in the training run",
    )
    _common(p)

    d = OptimLabConfig()
    p = sub.add_parser(
        "optim-lab",
        help="optimizer race: the course's update rules",
        formatter_class=FORMATTER,
        description="The course's optimizers (SGD, momentum, Nesterov, Adagrad, Adadelta, "
        "RProp, Adam) on the ball data, each at its own best learning rate from a log-grid "
        "sweep over several seeds (held-out accuracy); RProp full batch vs mini-batches; the "
        "course's Adam vs torch's; and paths on 2-D test functions.",
    )
    p.add_argument(
        "--ball-steps",
        type=positive_int,
        default=d.ball_steps,
        help="full-batch steps per run on the ball data",
    )
    p.add_argument(
        "--seeds", type=positive_int, default=d.seeds, help="weight seeds per learning rate"
    )
    p.add_argument(
        "--lrs",
        nargs="+",
        type=positive_float,
        default=list(d.lrs),
        help="the learning-rate grid of the sweep",
    )
    p.add_argument(
        "--rprop-epochs",
        type=non_negative_int,
        default=d.rprop_epochs,
        help="epochs of the RProp full- vs mini-batch run; 0 skips it",
    )
    p.add_argument(
        "--function-steps",
        type=positive_int,
        default=d.function_steps,
        help="steps on each 2-D function",
    )
    p.add_argument(
        "--functions",
        nargs="+",
        choices=list(FUNCTIONS),
        default=list(d.functions),
        help="2-D test functions",
    )
    p.add_argument(
        "--optimizers",
        nargs="+",
        choices=list(RACERS),
        default=list(RACERS),
        help="racers (adam = the course's rule, adam-bc = bias-corrected, as torch.optim.Adam)",
    )
    _common(p)

    d = RegLabConfig()
    p = sub.add_parser(
        "reg-lab",
        help="regularization: L1 feature selection vs L2, AdamW, dropout",
        formatter_class=FORMATTER,
        description="Ball data plus pure-noise features, trained with no penalty, "
        "L1 and L2 (weights only): what happens to the noise features' weights; a lambda "
        "path with L1 as a proximal step (exact zeros) beside its subgradient and L2; AdamW "
        "vs L2 in the loss under Adam; dropout in train vs eval mode.",
    )
    p.add_argument(
        "--noise-features",
        type=int,
        default=d.noise_features,
        help="pure-noise inputs added to the 10 real ones",
    )
    p.add_argument("--l1", type=float, default=d.l1, help="L1 strength lambda")
    p.add_argument("--l2", type=float, default=d.l2, help="L2 strength lambda")
    p.add_argument(
        "--steps",
        type=positive_int,
        default=d.steps,
        help="full-batch Adam steps per model of the three-net comparison",
    )
    p.add_argument(
        "--path-steps",
        type=non_negative_int,
        default=d.path_steps,
        help="full-batch steps per run of the lambda path; 0 skips the path",
    )
    p.add_argument(
        "--seeds", type=positive_int, default=d.path_seeds, help="seeds per lambda on the path"
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=d.dropout_p,
        help="dropout probability for the demo",
    )
    _common(p)

    d = ConvLabConfig()
    p = sub.add_parser(
        "conv-lab",
        help="convolution and pooling: the course's worked examples",
        formatter_class=FORMATTER,
        description="NumPy conv/max-pool with TensorFlow's VALID/SAME rule on the "
        "course's examples, the 1-D padding example, the horizontal Sobel kernel "
        "on a digit, and the trained CNN's feature maps (if a checkpoint exists). "
        "Input positions are counted from 1, as in the course's figure.",
    )
    p.add_argument(
        "--checkpoint",
        default=d.checkpoint,
        help="training checkpoint.pt or exported .onnx for the feature maps "
        "(the shipped model by default)",
    )
    p.add_argument(
        "--digit-index",
        type=int,
        default=d.digit_index,
        help="which MNIST test image to use (0-9999)",
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

            config = InitLabConfig(args.activation, args.init, args.seed, args.seeds,
                                   args.train_epochs, args.train_seeds)  # fmt: skip
            return init_lab(config, progress)
        if args.command == "optim-lab":
            from cnn.labs.optim_race import OptimLabConfig, optim_lab

            config = OptimLabConfig(args.ball_steps, args.function_steps, tuple(args.functions),
                                    tuple(args.optimizers), args.seed, args.seeds,
                                    tuple(args.lrs), args.rprop_epochs)  # fmt: skip
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
                path_steps=args.path_steps,
                path_seeds=args.seeds,
            )
            return reg_lab(config, progress)
        from cnn.labs.conv_lab import ConvLabConfig, conv_lab

        return conv_lab(ConvLabConfig(args.checkpoint, args.digit_index))
    finally:
        close()


def _init_summary(numbers: dict) -> list[str]:
    lines = [f"{'activation':8s} {'init':15s} activation std h1..h5    signal std h1..h5 "
             f"(medians over {numbers['profiles'][0]['seeds']} seeds)"]  # fmt: skip
    for r in numbers["profiles"]:
        a = " ".join(f"{v:7.1e}" for v in r["activation_std"]["median"])
        g = " ".join(f"{v:7.1e}" for v in r["signal_std"]["median"])
        lines.append(f"{r['activation']:8s} {r['init']:15s} {a}   {g}")
    for key, c in numbers["course_claims"].items():
        measure, value = next(
            (k, v) for k, v in c.items() if isinstance(v, float) and k != "handout_line"
        )
        lines.append(f"[{'holds' if c['holds'] else 'differs'}] line {c['handout_line']} "
                     f"{key}: {measure} = {value:.3g} -- {c['says']}")  # fmt: skip
    for r in numbers.get("training", []):
        end = "diverged" if r["diverged"] else f"{r['final_loss']:.3f}"
        start = r["loss_per_epoch"][0]
        lines.append(f"does it train? {r['activation']:8s} {r['init']:15s} BCE "
                     f"{start:.3f} -> {end} after {r['epochs']} epochs")  # fmt: skip
    return lines


def _optim_summary(numbers: dict) -> list[str]:
    lines = ["ball data, each optimizer at its best learning rate (median over seeds):"]
    for k, v in numbers["ball"].items():
        lo, hi = v["test_accuracy_range"]
        lines.append(f"  {k:9s} lr {v['best_lr']:<7g} test accuracy {v['test_accuracy']:.3f} "
                     f"({lo:.3f}-{hi:.3f}), training BCE {v['final_loss']:.2e}")  # fmt: skip
    rb = numbers.get("rprop_batches")
    if rb:
        for name in (k for k, v in rb.items() if isinstance(v, dict)):
            f, m = rb[name]["full_batch"], rb[name]["mini_batch"]
            lines.append(f"{name} full batch vs mini-batches of {rb['batch_size']} "
                         f"({rb['epochs']} epochs): BCE {f['final_loss']:.3f} vs "
                         f"{m['final_loss']:.3f}, test accuracy {f['test_accuracy']:.3f} vs "
                         f"{m['test_accuracy']:.3f}")  # fmt: skip
    if "adam_early_steps" in numbers:
        early = numbers["adam_early_steps"]
        lines.append(f"{early['sentence']} {early['at_best_rates']}")
    for fn, rows in numbers.items():
        if fn in FUNCTION_KEYS:
            lines.append(f"{fn}, final distance to the minimum: " + ", ".join(
                f"{k} {v['final_distance']:.1e}" for k, v in rows.items()))  # fmt: skip
    return lines


def _reg_summary(numbers: dict) -> list[str]:
    fs, drop = numbers["feature_selection"], numbers["dropout"]
    lines = [
        f"{k:4s}: {v['noise_weights_near_zero']:.0%} of noise-feature weights near 0, noise "
        f"features kept {v['noise_features_kept']}/{fs['noise_features']}, "
        f"test accuracy {v['test_accuracy']:.3f}"
        for k, v in fs.items() if isinstance(v, dict)
    ]  # fmt: skip
    for m, r in numbers.get("lambda_path", {}).items():
        best = max(range(len(r["lambdas"])), key=lambda i: r["test_accuracy"][i])
        lines.append(f"{m:14s} best lambda {r['lambdas'][best]:g}: test accuracy "
                     f"{r['test_accuracy'][best]:.3f}, exactly-zero input weights "
                     f"{r['zero_noise_input_weights'][best]:.0f} noise / "
                     f"{r['zero_signal_input_weights'][best]:.0f} signal")  # fmt: skip
    lines.append(f"dropout p={drop['p']}: train zeroes {drop['train_fraction_zeroed']:.1%}, "
                 f"keeps x{drop['train_kept_value']:.2f}; eval identity: "
                 f"{drop['eval_identical']}")  # fmt: skip
    return lines


def _conv_summary(numbers: dict) -> list[str]:
    ok = sum(e["matches"] for e in numbers["worked_examples"])
    p1 = numbers["padding_1d"]
    fm = numbers["feature_maps"]
    dropped = ", ".join(str(i) for i in p1["valid_dropped_positions"]) or "none"
    return [
        f"worked examples matching the course: {ok}/{len(numbers['worked_examples'])}",
        f"1-D: width {p1['input_width']}, filter {p1['filter_width']}, stride {p1['stride']}: "
        f"VALID {p1['valid_outputs']} outputs (drops inputs {dropped}, counted from 1), "
        f"SAME {p1['same_outputs']}",
        fm.get("missing") or f"feature maps from {fm['checkpoint']}: shapes {fm['shapes']}",
    ]


FUNCTION_KEYS = ("rosenbrock", "beale")


def _summary(name: str, numbers: dict) -> list[str]:
    """A few lines a person reads; --json has everything."""
    return {"init-lab": _init_summary, "optim-lab": _optim_summary, "reg-lab": _reg_summary,
            "conv-lab": _conv_summary}[name](numbers)  # fmt: skip


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
