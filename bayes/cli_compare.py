"""`python -m bayes compare`: MLE and MAP point estimates beside Ridge/Lasso."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bayes.cli_common import add_command, add_data_flags, load_data, save, writable_dir
from bayes.data import DataConfig
from bayes.design import Basis
from bayes.models import DEFAULT_SCALE

# One set of defaults with the app's Bayes page: its prior scales, at the default noise sigma.
_SIGMA = DataConfig().noise
DEFAULT_LAMBDA_L2 = _SIGMA**2 / DEFAULT_SCALE["normal"] ** 2  # ridge lambda = sigma^2 / tau^2
DEFAULT_LAMBDA_L1 = 2 * _SIGMA**2 / DEFAULT_SCALE["laplace"]  # lasso lambda = 2 sigma^2 / b


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
        default=DEFAULT_LAMBDA_L2,
        help="lambda of ||y-Xw||^2 + lambda*sum w_j^2 (j>=1); Normal prior scale "
        "sigma/sqrt(lambda). The default is the app's and `bayes fit`'s Normal prior, "
        f"tau = {DEFAULT_SCALE['normal']:g}, at the default noise",
    )
    p.add_argument(
        "--lambda-l1",
        type=float,
        default=DEFAULT_LAMBDA_L1,
        help="lambda of ||y-Xw||^2 + lambda*sum |w_j| (j>=1); Laplace scale 2 sigma^2/lambda; "
        "sklearn alpha = lambda/(2n). The default is the app's and `bayes fit`'s Laplace "
        f"prior, b = {DEFAULT_SCALE['laplace']:g}, at the default noise",
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
        f", lambda_l2 {res['lambda_l2']}, lambda_l1 {res['lambda_l1']}"
    )
    print(f"coefficients in the {BASIS_NAMES[args.basis]}:")
    _print_rows(res, lambda w: w)
    if args.basis != "monomial":  # the app shows plain powers: the same fits, comparable
        print(f"the same fits in {BASIS_NAMES['monomial']} (as the app shows them):")
        _print_rows(res, Basis(res["degree"], args.basis, data.x_range).to_monomial)
    return 0


BASIS_NAMES = {
    "legendre": "Legendre basis (of P0(u), P1(u), ... with u = x mapped onto [-1, 1]; "
    "the fit's own coordinates)",
    "monomial": "plain powers (of x^0, x^1, ...)",
}


def _print_rows(res: dict, convert) -> None:
    import numpy as np

    for key in ("mle", "map_normal", "ridge", "map_laplace", "lasso"):
        values = None if res[key] is None else convert(np.asarray(res[key]))
        row = "(none)" if values is None else " ".join(f"{v:9.4f}" for v in values)
        print(f"{key:>12}: {row}")


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
