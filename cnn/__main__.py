"""Command line for the digit CNN: ``python -m cnn {train,export,evaluate,bench} ...``."""

from __future__ import annotations

import argparse
import sys

from cnn.cli_format import DefaultsHelpFormatter, positive_int
from serving.cli_groups import command_requested


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``argv`` only the lab or reader command it names gets its options
    (their defaults live beside torch), so ``--help`` answers at once."""
    from cnn.train_config import RECIPES, TrainConfig

    d = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m cnn",
        description="The course's MNIST CNN: train, export (ONNX), evaluate, bench, labs.",
        formatter_class=DefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train",
        help="train the CNN on MNIST (resumable, seeded; torchrun for several processes)",
        description="Train the course's digit CNN on 55,000 MNIST training images, watching 5,000 "
        "held-out validation images every epoch; the test set is evaluated once, at the end. "
        "Under `torchrun --nproc_per_node=N -m cnn train ...` the global batch is split over "
        "the N processes.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="default",
        help="course = the handout's setup (Adam lr 1e-4, batch 50, 20,000 steps, no "
        "augmentation, no schedule); default = this project's (lr 2e-3 one-cycle, batch 128, "
        "12 epochs, augmentation). Flags below override the recipe's values.",
    )
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs (recipe's if unset)")
    p.add_argument(
        "--steps", type=positive_int, default=None, help="total optimizer steps (overrides epochs)"
    )
    p.add_argument("--out", default=d.out, help="run folder for checkpoint + metrics")
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=d.device,
        help="auto = cuda if available else cpu",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed for everything")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument(
        "--overwrite", action="store_true", help="replace a run already in --out (else refused)"
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="train on the first N images of the training part only (default: all 55,000)",
    )
    p.add_argument(
        "--test-limit",
        type=positive_int,
        default=None,
        help="evaluate on the first N test images only (default: all 10,000)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="global batch size, split over torchrun processes (recipe's if unset)",
    )
    p.add_argument(
        "--lr", type=float, default=None, help="learning rate: constant, or one-cycle peak"
    )
    p.add_argument(
        "--schedule", choices=["onecycle", "constant"], default=None, help="learning-rate schedule"
    )
    p.add_argument("--beta1", type=float, default=d.beta1, help="Adam's beta1 (the course: 0.9)")
    p.add_argument("--dropout", type=float, default=d.dropout, help="dropout before fc2")
    aug = p.add_mutually_exclusive_group()
    aug.add_argument(
        "--augment", dest="augment", action="store_true", default=None,
        help="random rotation/scale/shift of training images",
    )  # fmt: skip
    aug.add_argument("--no-augment", dest="augment", action="store_false", help="no augmentation")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--compile",
        action="store_true",
        help="record the training step once: on CUDA the whole step (forward, backward, Adam) "
        "as one CUDA graph, ~10x the eager pace on an H200; on CPU torch.compile; falls back "
        "with a one-line note where it cannot",
    )
    p.add_argument(
        "--compile-backend",
        choices=["inductor", "aot_eager", "eager"],
        default=d.compile_backend,
        help="torch.compile backend for the step's forward (eager: as written, no compile "
        "time; aot_eager: the capture path without code generation)",
    )
    p.add_argument(
        "--outlier-exposure",
        metavar="PROXIES.npy",
        default=None,
        help="non-digit proxies [N, 28, 28] seen beside every batch by a training-only "
        "'is it a digit?' output on fc1 (cnn/outlier_exposure.py); the exported network is "
        "unchanged",
    )
    p.add_argument("--oe-weight", type=float, default=d.oe_weight, help="its loss weight")
    p.add_argument("--oe-batch", type=positive_int, default=d.oe_batch, help="proxies per step")
    p.add_argument(
        "--seeds",
        default=None,
        metavar="S1,S2,...",
        help="train one model per seed at once, stacked in one process (torchrun: the seeds "
        "split over processes); each is written to OUT/seed<S>/ like a single run",
    )

    p = sub.add_parser(
        "proxies",
        help="write the non-digit proxies the shipped trunk trains beside (--outlier-exposure)",
        description="Generated non-digits in MNIST form (cnn/reader/train_proxies.py: the "
        "proxies' generators and fonts, which no evaluation set uses; another seed than the "
        "gate's), uint8 [N, 28, 28] in a .npy file, for `cnn train --outlier-exposure`.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("--out", default="runs/proxies/train.npy", help=".npy file to write")
    p.add_argument("--count", type=positive_int, default=20_000, help="proxies to draw")
    p.add_argument("--seed", type=int, default=1, help="the gate's proxies use seed 0")
    p.add_argument(
        "--mixture",
        choices=("1", "2"),
        default="1",
        help="1: the shipped trunk's; 2: the gate's version-3 mixture, with look-alike S s Z z",
    )

    p = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX (pixels in [0,1] -> logits)",
        description="Write a training checkpoint as an ONNX model (normalization inside the "
        "graph, dynamic batch), with metadata (accuracies, training command), after ONNX's "
        "checker and a PyTorch/ONNX Runtime parity check on real test images.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "--checkpoint", required=True, help="OUT/checkpoint.pt from `train`, e.g. runs/mnist"
    )
    p.add_argument(
        "--out",
        default="runs/mnist/model.onnx",
        help="ONNX file to write (the shipped model is models/mnist_cnn.onnx)",
    )
    p.add_argument(
        "--check-images",
        type=positive_int,
        default=1000,
        help="real test images for the PyTorch/ONNX parity check",
    )

    p = sub.add_parser(
        "evaluate",
        help="test accuracy of an ONNX model (ONNX Runtime) or checkpoint",
        description="Accuracy on the 10,000 MNIST test images (only the two test files are "
        "needed); an .onnx file runs in ONNX Runtime, anything else is read as a checkpoint.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("--model", default="models/mnist_cnn.onnx", help="a .onnx file or checkpoint.pt")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser(
        "bench",
        help="time training steps and inference; prints images/s",
        description="Images per second of a training step (with augmentation; bf16 on CUDA) "
        "and of batch-1000 inference, on this machine's CPU or GPU.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto = cuda if available else cpu",
    )
    p.add_argument("--steps", type=positive_int, default=30, help="timed training steps")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="training batch size (default: 128; with --time-to 256)",
    )
    p.add_argument(
        "--time-to",
        type=float,
        default=None,
        metavar="ACCURACY",
        help="instead: train MNIST until the test accuracy reaches ACCURACY (e.g. 0.99) and "
        "report the seconds of training (evaluations untimed), the images/s and the device. "
        "Recipe: batch 256, one-cycle Adam to lr 3e-3 over 3 epochs, no augmentation, data on "
        "the device; on CUDA bf16, channels-last, fused Adam, the step compiled (CUDA graphs)",
    )
    p.add_argument("--lr", type=float, default=3e-3, help="--time-to: one-cycle peak rate")
    p.add_argument("--epochs", type=positive_int, default=3, help="--time-to: at most this many")
    p.add_argument(
        "--eval-every", type=positive_int, default=25, help="--time-to: steps between test checks"
    )
    p.add_argument("--limit", type=positive_int, default=None, help="--time-to: training images")
    p.add_argument("--test-limit", type=positive_int, default=None, help="--time-to: test images")
    comp = p.add_mutually_exclusive_group()
    comp.add_argument(
        "--compile", dest="compile", action="store_true", default=None,
        help="--time-to: capture the step with torch.compile (default: on CUDA only)",
    )  # fmt: skip
    comp.add_argument("--no-compile", dest="compile", action="store_false", help="--time-to: eager")
    p.add_argument(
        "--compile-backend",
        choices=["inductor", "aot_eager", "eager"],
        default="inductor",
        help="--time-to and --pace: torch.compile backend",
    )
    p.add_argument("--json", action="store_true", help="--time-to: print one JSON object")
    p.add_argument(
        "--pace",
        action="store_true",
        help="instead: the training step eager vs compiled vs --members seeds stacked, "
        "images/s side by side",
    )
    p.add_argument("--members", type=positive_int, default=5, help="--pace: stacked seeds")

    from cnn.labs.cli import add_lab_parsers

    add_lab_parsers(sub, argv)
    from cnn.reader.cli import HELP, add_posterior_parsers
    from serving.cli_groups import add_groups

    add_groups(sub, ("cnn.reader.adapt_eval_cli",), DefaultsHelpFormatter, argv)  # adapt-eval
    add_groups(sub, ("cnn.reader.app_shapes_cli",), DefaultsHelpFormatter, argv)  # app-shapes
    add_groups(sub, ("cnn.engine_bench_cli",), DefaultsHelpFormatter, argv)  # bench-engines

    if argv is None or command_requested(argv) in HELP:
        add_posterior_parsers(sub)
    else:
        for name, text in HELP.items():
            sub.add_parser(name, help=text)
    from cnn.reader import number_eval_cli

    if argv is None or command_requested(argv) == "number-eval":
        number_eval_cli.add_parser(sub, DefaultsHelpFormatter)
    else:
        sub.add_parser("number-eval", help=number_eval_cli.HELP)
    return parser


def _train_seeds(config, args) -> int:
    from cnn.multiseed import parse_seeds, seed_folder, train_seeds

    try:
        results = train_seeds(config, parse_seeds(args.seeds), progress=not args.quiet)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the last finished epoch of every seed is saved under {args.out}; "
            "continue with the same command plus --resume",
            file=sys.stderr,
        )
        return 130
    for metrics in results:
        seed = metrics["config"]["seed"]
        print(
            f"seed {seed}: validation accuracy {metrics['validation_accuracy']:.4f}; test "
            f"accuracy {metrics['test_accuracy']:.4f} on {metrics['test_images']} images; "
            f"run folder {seed_folder(args.out, seed)}"
        )
    return 0


def _time_to(args) -> None:
    import json

    from cnn.bench import TimeToConfig, time_to_accuracy

    result = time_to_accuracy(
        TimeToConfig(
            target=args.time_to,
            device=args.device,
            batch_size=args.batch_size or 256,
            lr=args.lr,
            epochs=args.epochs,
            eval_every=args.eval_every,
            compile=args.compile,
            compile_backend=args.compile_backend,
            limit=args.limit,
            test_limit=args.test_limit,
        ),
        progress=not args.json,
    )
    if args.json:
        print(json.dumps(result))
        return
    capture = result["compile"]
    how = f"compiled in {capture['seconds']:.1f} s, untimed" if capture["compiled"] else "eager"
    outcome = (
        f"test accuracy {result['target']:.4f} reached after {result['seconds_to_target']:.2f} s"
        if result["reached"]
        else f"test accuracy {result['target']:.4f} NOT reached ({result['test_accuracy']:.4f} "
        f"after {result['training_seconds']:.2f} s)"
    )
    print(
        f"device: {result['device_name']} (torch {result['torch']}); {outcome} of training "
        f"({result['steps']} steps of {args.batch_size or 256}, {result['epochs_seen']} epochs; "
        f"{how}); {result['images_per_s']:.0f} images/s"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    from cnn.data import MnistError
    from cnn.labs.cli import LAB_COMMANDS, run_lab

    if args.command in LAB_COMMANDS:
        return run_lab(args)
    if hasattr(args, "posterior_command"):
        return args.posterior_command(args)
    if hasattr(args, "func"):  # a command group's command (serving/cli_groups.py)
        try:
            return args.func(args)
        except (MnistError, FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        if args.command == "train":
            from cnn.train import recipe_config, train

            config = recipe_config(
                args.recipe,
                epochs=args.epochs,
                steps=args.steps,
                out=args.out,
                device=args.device,
                seed=args.seed,
                batch_size=args.batch_size,
                lr=args.lr,
                schedule=args.schedule,
                beta1=args.beta1,
                dropout=args.dropout,
                augment=args.augment,
                limit=args.limit,
                test_limit=args.test_limit,
                resume=args.resume,
                overwrite=args.overwrite,
                compile=args.compile,
                compile_backend=args.compile_backend,
                outlier_exposure=args.outlier_exposure,
                oe_weight=args.oe_weight,
                oe_batch=args.oe_batch,
            )
            if args.seeds is not None:
                return _train_seeds(config, args)
            try:
                metrics = train(config, progress=not args.quiet)
            except KeyboardInterrupt:
                print(
                    f"\ninterrupted: the last finished epoch is saved in {args.out}; continue "
                    "with the same command plus --resume",
                    file=sys.stderr,
                )
                return 130
            if metrics["test_accuracy"] is not None:  # rank 0 of a torchrun group
                print(
                    f"validation accuracy {metrics['validation_accuracy']:.4f}; test accuracy "
                    f"(evaluated once, at the end) {metrics['test_accuracy']:.4f} on "
                    f"{metrics['test_images']} images; metrics in {args.out}/metrics.json"
                )
        elif args.command == "proxies":
            from cnn.reader.train_proxies import write_training_proxies

            digest = write_training_proxies(args.out, args.count, args.seed, mixture=args.mixture)
            print(f"wrote {args.count} proxies to {args.out} (sha256 {digest})")
        elif args.command == "export":
            from cnn.export import export_onnx

            report = export_onnx(args.checkpoint, args.out, check_images=args.check_images)
            print(
                f"wrote {args.out}: max |logit diff| vs PyTorch {report['max_abs_diff']:.2e} "
                f"on {report['check_images']} test images"
            )
        elif args.command == "evaluate":
            from cnn.evaluate import evaluate_model

            result = evaluate_model(args.model)
            if args.json:
                import json

                print(json.dumps(result))
            else:
                print(
                    f"{args.model}: test accuracy {result['test_accuracy']:.4f} "
                    f"({result['correct']}/{result['total']})"
                )
        elif args.command == "bench":
            from cnn.bench import run_bench

            if args.pace:
                from cnn.bench import run_pace

                run_pace(
                    device=args.device,
                    steps=args.steps,
                    batch_size=args.batch_size or 128,
                    members=args.members,
                    backend=args.compile_backend,
                )
            elif args.time_to is None:
                run_bench(device=args.device, steps=args.steps, batch_size=args.batch_size or 128)
            else:
                _time_to(args)
    except (MnistError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
