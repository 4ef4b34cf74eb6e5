"""Run one lab from parsed command-line arguments: progress bar, files, summary or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from cnn.data import MnistError
from cnn.labs.summary import summary


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
        print("\n".join(summary(result.name, result.numbers)))
    missing = result.numbers.get("feature_maps", {}).get("missing")
    if missing:
        print(f"note: {missing}", file=sys.stderr)
    return 0
