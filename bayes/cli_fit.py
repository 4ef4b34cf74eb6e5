"""`python -m bayes fit`: the NUTS posterior, its files and its diagnostics."""

from __future__ import annotations

import argparse
import json
import sys

from bayes.cli_common import add_command, add_data_flags, load_data, writable_dir
from bayes.data import DataError


def register(sub: argparse._SubParsersAction) -> None:
    from bayes.models import PRIORS

    p = add_command(
        sub,
        "fit",
        "NUTS posterior: netCDF, summary CSV, PNG plots",
        "Sample the posterior with NUTS; write idata.nc, summary.csv, diagnostics.json and PNGs "
        "(prior and posterior predictive, rank plot, forest plot). Warns when a divergence, "
        "r_hat > 1.01 or ESS < 400 makes the fit untrustworthy; --strict then exits 1.",
    )
    add_data_flags(p)
    p.add_argument("--degree", type=int, default=5, help="polynomial degree, 0..30")
    p.add_argument(
        "--prior", choices=PRIORS, default="normal", help="prior on the slopes (intercept flat)"
    )
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="prior scale: Normal tau (None = 10), Laplace b (None = 5), horseshoe global "
        "scale tau0 (None = p0/(D-p0) sigma/sqrt(n))",
    )
    p.add_argument(
        "--learn-sigma",
        action="store_true",
        help="give sigma a HalfNormal prior instead of fixing it (always so for a CSV "
        "without --sigma)",
    )
    p.add_argument(
        "--parameterization",
        choices=["qr", "direct"],
        default="qr",
        help="sample in QR coordinates (same posterior; direct when n <= degree + 1)",
    )
    p.add_argument("--draws", type=int, default=1000, help="draws per chain")
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    p.add_argument("--chains", type=int, default=4, help="chains")
    p.add_argument(
        "--sampler",
        choices=["pymc", "nutpie"],
        default="pymc",
        help="NUTS implementation (nutpie only if installed)",
    )
    p.add_argument("--out", default="runs/bayes-fit", help="output folder")
    p.add_argument("--strict", action="store_true", help="exit 1 when a diagnostic check fails")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fit)


def cmd_fit(args) -> int:
    from bayes.fit import NutsConfig
    from bayes.report import fit_report

    for name in ("draws", "tune", "chains"):
        if getattr(args, name) < 1:
            raise DataError(f"--{name} must be >= 1 (got {getattr(args, name)})")
    out = writable_dir(args.out)  # before sampling: a bad --out must not cost a whole run
    data = load_data(args)
    config = NutsConfig(
        draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, sampler=args.sampler
    )
    report, problems = fit_report(data, args, config, out)
    print(json.dumps(report, indent=2))
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if report["n_pareto_k_high"]:
        print(
            f"note: {report['n_pareto_k_high']} points have Pareto k > 0.7: each of them alone "
            "changes the posterior so much that the leave-one-out shortcut (PSIS) is unreliable "
            "there; `python -m bayes select` refits without each such point instead",
            file=sys.stderr,
        )
    print(f"wrote {out}/idata.nc, summary.csv, diagnostics.json and 5 PNGs", file=sys.stderr)
    return 1 if problems and args.strict else 0
