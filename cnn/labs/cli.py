"""Lab subcommands of ``python -m cnn`` (init-lab, optim-lab, reg-lab, conv-lab): the parsers.

Each lab prints a short summary (or, with ``--json``, one JSON object) and with ``--out DIR``
writes its figures as PNG files plus ``<lab>.json`` there. The defaults come from
``cnn.labs.config`` (no torch), the work from ``cnn.labs.run``.
"""

from __future__ import annotations

import argparse

from cnn.cli_format import dashed, non_negative_int, positive_float, positive_int
from cnn.labs.config import (
    ACTIVATION_NAMES,
    FUNCTION_NAMES,
    INITIALIZER_NAMES,
    RACERS,
    ConvLabConfig,
    InitLabConfig,
    OptimLabConfig,
    RegLabConfig,
)
from serving.cli_groups import Command, add_groups

LAB_COMMANDS: tuple[str, ...] = ("init-lab", "optim-lab", "reg-lab", "conv-lab")
FORMATTER = argparse.ArgumentDefaultsHelpFormatter
__all__ = ["FORMATTER", "LAB_COMMANDS", "add_lab_parsers", "positive_int", "run_lab"]


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


def _init_options(p: argparse.ArgumentParser) -> None:
    d = InitLabConfig()
    p.add_argument(
        "--activation",
        type=dashed,
        choices=[*ACTIVATION_NAMES, "all"],
        default=d.activation,
        help="hidden-layer activation",
    )
    p.add_argument(
        "--init",
        type=dashed,
        choices=[*INITIALIZER_NAMES, "all"],
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
    p.set_defaults(func=run_lab)


def _optim_options(p: argparse.ArgumentParser) -> None:
    d = OptimLabConfig()
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
        choices=list(FUNCTION_NAMES),
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
    p.set_defaults(func=run_lab)


def _reg_options(p: argparse.ArgumentParser) -> None:
    d = RegLabConfig()
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
    p.set_defaults(func=run_lab)


def _conv_options(p: argparse.ArgumentParser) -> None:
    d = ConvLabConfig()
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
    p.set_defaults(func=run_lab)


def run_lab(args: argparse.Namespace) -> int:
    """Run one lab from parsed arguments; returns the exit code."""
    from cnn.labs.run import run_lab as run

    return run(args)


COMMANDS = {
    "init-lab": Command(
        "weight initialization: the BLOCK model at epoch 0",
        "One forward/backward pass of the 10-D ball data through the "
        "BLOCK model per activation x initializer: per-layer activations, per-sample "
        "backpropagated signal, weight gradients and gradient/weight ratio (medians over "
        "seeds), the course's claims checked, and a short training run per configuration.",
        _init_options,
    ),
    "optim-lab": Command(
        "optimizer race: the course's update rules",
        "The course's optimizers (SGD, momentum, Nesterov, Adagrad, Adadelta, "
        "RProp, Adam) on the ball data, each at its own best learning rate from a log-grid "
        "sweep over several seeds (held-out accuracy); RProp full batch vs mini-batches; the "
        "course's Adam vs torch's; and paths on 2-D test functions.",
        _optim_options,
    ),
    "reg-lab": Command(
        "regularization: L1 feature selection vs L2, AdamW, dropout",
        "Ball data plus pure-noise features, trained with no penalty, "
        "L1 and L2 (weights only): what happens to the noise features' weights; a lambda "
        "path with L1 as a proximal step (exact zeros) beside its subgradient and L2; AdamW "
        "vs L2 in the loss under Adam; dropout in train vs eval mode.",
        _reg_options,
    ),
    "conv-lab": Command(
        "convolution and pooling: the course's worked examples",
        "NumPy conv/max-pool with TensorFlow's VALID/SAME rule on the "
        "course's examples, the 1-D padding example, the horizontal Sobel kernel "
        "on a digit, and the trained CNN's feature maps (if a checkpoint exists). "
        "Input positions are counted from 1, as in the course's figure.",
        _conv_options,
    ),
}


def add_lab_parsers(sub: argparse._SubParsersAction, argv: list[str] | None = None) -> None:
    """Register the lab subcommands on ``python -m cnn``'s subparsers (see add_groups)."""
    add_groups(sub, ["cnn.labs.cli"], FORMATTER, argv)
