"""`python -m bayes compare`: MLE and MAP point estimates beside Ridge/Lasso."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bayes.cli_common import add_command, add_data_flags, load_data, save, writable_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "compare",
        "MLE, Normal/Laplace MAP (PyMC) vs Ridge/Lasso (sklearn)",
        "Point estimates of the coefficients: least squares (MLE), the MAP under a Normal and "
        "a Laplace prior (PyMC), and Ridge/Lasso (scikit-learn) at the matching lambda.",
    )
    add_data_flags(p)
    p.add_argument("--degree", type=int, default=5, help="polynomial degree, 0..30")
    p.add_argument(
        "--lambda-l2",
        type=float,
        default=1.0,
        help="lambda of ||y-Xw||^2 + lambda*sum w_j^2 (j>=1); Normal prior scale "
        "sigma/sqrt(lambda)",
    )
    p.add_argument(
        "--lambda-l1",
        type=float,
        default=5.0,
        help="lambda of ||y-Xw||^2 + lambda*sum |w_j| (j>=1); Laplace scale 2 sigma^2/lambda; "
        "sklearn alpha = lambda/(2n)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="also save regularization-path PNGs in this folder")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    from bayes.analysis import point_estimates

    out = writable_dir(args.out) if args.out else None
    data = load_data(args)
    res = point_estimates(
        data, args.degree, args.lambda_l2, args.lambda_l1, args.basis, sigma=args.sigma
    )
    if out is not None:
        _compare_plots(data, args, res, out)
    for note in res["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(res))
        return 0
    print(
        f"{data.source}: degree {res['degree']}, sigma {res['sigma']:.4g} ({res['sigma_source']})"
        f", lambda_l2 {res['lambda_l2']}, lambda_l1 {res['lambda_l1']} ({args.basis} basis)"
    )
    for key in ("mle", "map_normal", "ridge", "map_laplace", "lasso"):
        values = res[key]
        row = "(none)" if values is None else " ".join(f"{v:9.4f}" for v in values)
        print(f"{key:>12}: {row}")
    return 0


def _compare_plots(data, args, res, out: Path) -> None:
    import numpy as np

    from bayes.analysis import regularization_paths
    from bayes.plots import path_figure

    paths = regularization_paths(data, args.degree, args.basis)
    for kind, lam, key, title in (
        ("ridge", args.lambda_l2, "map_normal", "ridge path, Normal-prior MAP marked"),
        ("lasso", args.lambda_l1, "map_laplace", "lasso path, Laplace-prior MAP marked"),
    ):
        w = None if res[key] is None else np.array(res[key])
        save(path_figure(paths["lambdas"], paths[kind], lam, w, title), out / f"path_{kind}.png")
