"""Command line: ``python -m bayes {compare,fit,select,overfit,bench} ...``.

Every subcommand takes the same data flags (--n, --noise, --seed, --x-range); the default truth
is the course's fifth-degree polynomial.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bayes.data import DataConfig, DataError
from bayes.design import BASES, DesignError


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    d = DataConfig()
    g = p.add_argument_group("data (the course's polynomial plus Gaussian noise)")
    g.add_argument("--n", type=int, default=d.n, help=f"number of points (default {d.n})")
    g.add_argument(
        "--noise",
        type=float,
        default=d.noise,
        help=f"noise sigma, also the known sigma of the models (default {d.noise})",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help=f"one seed for everything (default {d.seed})",
    )
    g.add_argument(
        "--x-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=d.x_range,
        help="x drawn uniformly on [LOW, HIGH] (default -1 1)",
    )
    g.add_argument(
        "--basis",
        choices=BASES,
        default="legendre",
        help="design basis: legendre on the scaled x (sound) or raw monomials (default legendre)",
    )


def build_parser() -> argparse.ArgumentParser:
    from bayes.models import PRIORS

    parser = argparse.ArgumentParser(
        prog="python -m bayes",
        description="Bayesian polynomial regression (PyMC): MAP vs L1/L2, posteriors, evidence.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compare", help="MLE, Normal/Laplace MAP (PyMC) vs Ridge/Lasso (sklearn)")
    _add_data_flags(p)
    p.add_argument("--degree", type=int, default=5, help="polynomial degree (default 5)")
    p.add_argument(
        "--lambda-l2",
        type=float,
        default=1.0,
        help="lambda of ||y-Xw||^2 + lambda*sum w_j^2 (j>=1); Normal prior scale "
        "sigma/sqrt(lambda) (default 1.0)",
    )
    p.add_argument(
        "--lambda-l1",
        type=float,
        default=5.0,
        help="lambda of ||y-Xw||^2 + lambda*sum |w_j| (j>=1); Laplace scale "
        "2 sigma^2/lambda; sklearn alpha = lambda/(2n) (default 5.0)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="also save regularization-path PNGs in this folder")

    p = sub.add_parser("fit", help="NUTS posterior: netCDF, summary CSV, PNG plots")
    _add_data_flags(p)
    p.add_argument("--degree", type=int, default=5, help="polynomial degree (default 5)")
    p.add_argument(
        "--prior",
        choices=PRIORS,
        default="normal",
        help="prior on the slopes (intercept always flat; default normal)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="prior scale: Normal tau (default 10), Laplace b (default 5), horseshoe "
        "global scale tau0 (default p0/(D-p0) sigma/sqrt(n))",
    )
    p.add_argument(
        "--learn-sigma",
        action="store_true",
        help="give sigma a HalfNormal prior instead of fixing it to --noise",
    )
    p.add_argument(
        "--parameterization",
        choices=["qr", "direct"],
        default="qr",
        help="sample in QR coordinates (same posterior) or directly (default qr)",
    )
    p.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    p.add_argument(
        "--sampler",
        choices=["pymc", "nutpie"],
        default="pymc",
        help="NUTS implementation (nutpie only if installed; default pymc)",
    )
    p.add_argument("--out", default="runs/bayes-fit", help="output folder (default runs/bayes-fit)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("select", help="log evidence and LOO per degree; the chosen degree")
    _add_data_flags(p)
    p.add_argument("--max-degree", type=int, default=10, help="degrees 0..MAX (default 10)")
    p.add_argument("--no-loo", action="store_true", help="evidence only")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="also save evidence.png in this folder")

    p = sub.add_parser("overfit", help="least-squares train/test error by degree, up to n-1")
    _add_data_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("bench", help="our parameterization vs naive monomials: compile, ESS/s")
    _add_data_flags(p)
    p.add_argument("--degree", type=int, default=5, help="polynomial degree (default 5)")
    p.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain (default 1000)")
    p.add_argument("--nutpie", action="store_true", help="also benchmark nutpie (if installed)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _data(args):
    from bayes.data import make_data

    return make_data(
        DataConfig(n=args.n, noise=args.noise, seed=args.seed, x_range=tuple(args.x_range))
    )


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_compare(args) -> int:
    from bayes.analysis import point_estimates

    data = _data(args)
    res = point_estimates(data, args.degree, args.lambda_l2, args.lambda_l1, args.basis)
    if args.out:
        _compare_plots(data, args, res)
    if args.json:
        print(json.dumps(res))
        return 0
    print(
        f"degree {res['degree']}, sigma {res['sigma']}, lambda_l2 {res['lambda_l2']}, "
        f"lambda_l1 {res['lambda_l1']} ({args.basis} basis)"
    )
    for key in ("mle", "map_normal", "ridge", "map_laplace", "lasso"):
        print(f"{key:>12}: " + " ".join(f"{v:9.4f}" for v in res[key]))
    return 0


def _compare_plots(data, args, res) -> None:
    import numpy as np

    from bayes.analysis import regularization_paths
    from bayes.plots import path_figure

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = regularization_paths(data, args.degree, args.basis)
    _save(
        path_figure(
            paths["lambdas"],
            paths["ridge"],
            args.lambda_l2,
            np.array(res["map_normal"]),
            "ridge path, Normal-prior MAP marked",
        ),
        out / "path_ridge.png",
    )
    _save(
        path_figure(
            paths["lambdas"],
            paths["lasso"],
            args.lambda_l1,
            np.array(res["map_laplace"]),
            "lasso path, Laplace-prior MAP marked",
        ),
        out / "path_lasso.png",
    )


def cmd_fit(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from bayes.analysis import posterior
    from bayes.design import Basis
    from bayes.evidence import psis_loo
    from bayes.fit import NutsConfig
    from bayes.plots import (
        forest_figure,
        posterior_predictive_figure,
        predictive_band,
        trace_figure,
    )

    for name in ("draws", "tune", "chains"):
        if getattr(args, name) < 1:
            raise DataError(f"--{name} must be >= 1 (got {getattr(args, name)})")
    data = _data(args)
    config = NutsConfig(
        draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, sampler=args.sampler
    )
    total = args.chains * (args.draws + args.tune)
    with tqdm(total=total, desc="NUTS", disable=args.quiet, file=sys.stderr) as bar:
        res = posterior(
            data,
            args.degree,
            args.prior,
            args.scale,
            args.learn_sigma,
            args.basis,
            args.parameterization,
            config,
            progress=lambda done, _total: bar.update(done - bar.n),
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    idata = res.idata
    idata.to_netcdf(out / "idata.nc")
    import arviz as az

    names = ["w", "w_monomial"] + (["sigma"] if args.learn_sigma else [])
    az.summary(idata, var_names=names).to_csv(out / "summary.csv")
    loo = psis_loo(idata)
    report = {
        **res.diagnostics,
        "compile_s": res.compile_s,
        "loo_elpd": loo.elpd,
        "loo_se": loo.se,
        "pareto_k_max": float(loo.pareto_k.max()),
        "n_pareto_k_high": loo.n_high_k,
    }
    (out / "diagnostics.json").write_text(json.dumps(report, indent=2))
    basis = Basis(args.degree, args.basis, data.x_range)
    sig = idata.posterior["sigma"].values if args.learn_sigma else data.sigma
    grid = np.linspace(*data.x_range, 200)
    band = predictive_band(basis, idata.posterior["w"].values, sig, grid, seed=args.seed)
    _save(
        posterior_predictive_figure(
            data.x, data.y, band, title=f"degree {args.degree}, {args.prior} prior"
        ),
        out / "posterior_predictive.png",
    )
    _save(trace_figure(idata), out / "trace_rank.png")
    _save(forest_figure(idata), out / "forest.png")
    print(json.dumps(report, indent=2))
    if loo.n_high_k:
        print(
            f"note: {loo.n_high_k} points have Pareto k > 0.7 (PSIS-LOO unreliable there); "
            "`python -m bayes select` uses exact LOO for them",
            file=sys.stderr,
        )
    print(f"wrote {out}/idata.nc, summary.csv, diagnostics.json and 3 PNGs", file=sys.stderr)
    return 0


def cmd_select(args) -> int:
    from tqdm import tqdm

    from bayes.analysis import degree_selection

    data = _data(args)
    with tqdm(total=args.max_degree + 1, desc="degrees", disable=args.json, file=sys.stderr) as bar:
        res = degree_selection(
            data,
            args.max_degree,
            args.basis,
            not args.no_loo,
            progress=lambda done, _t: bar.update(done - bar.n),
        )
    if args.out:
        from bayes.plots import evidence_figure

        Path(args.out).mkdir(parents=True, exist_ok=True)
        _save(
            evidence_figure(
                res["degrees"], res["log_evidence"], res.get("loo_elpd"), res["chosen_degree"]
            ),
            Path(args.out) / "evidence.png",
        )
    if args.json:
        print(json.dumps(res))
        return 0
    for i, d in enumerate(res["degrees"]):
        line = f"degree {d:2d}: log evidence {res['log_evidence'][i]:9.2f}"
        if "loo_elpd" in res:
            line += (
                f"  LOO elpd {res['loo_elpd'][i]:9.2f} (k max {res['pareto_k_max'][i]:.2f},"
                f" {res['n_pareto_k_high'][i]} points k>0.7 -> exact LOO)"
            )
        print(line)
    print(f"chosen degree (evidence): {res['chosen_degree']}")
    return 0


def cmd_overfit(args) -> int:
    from bayes.data import make_data
    from bayes.overfit import overfitting_table

    data = make_data(
        DataConfig(n=args.n, noise=args.noise, seed=args.seed, x_range=tuple(args.x_range))
    )
    rows = overfitting_table(data, basis=args.basis)
    if args.json:
        print(json.dumps({"n": args.n, "rows": rows}))
        return 0
    for r in rows:
        d, tr, te = r["degree"], r["train_mse"], r["test_mse"]
        print(f"degree {d:3d}: train MSE {tr:.3e}  test MSE {te:.3e}")
    return 0


def cmd_bench(args) -> int:
    from bayes.bench import BenchConfig, format_table, run_bench

    data = _data(args)
    samplers = ("pymc", "nutpie") if args.nutpie else ("pymc",)
    config = BenchConfig(
        degree=args.degree, draws=args.draws, tune=args.tune, seed=args.seed, samplers=samplers
    )
    res = run_bench(data, config, progress=lambda s: print(f"running {s}", file=sys.stderr))
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"import pymc: {res['import_pymc_s']:.1f} s; degree {res['degree']}, n {args.n}")
    print(format_table(res))
    return 0


COMMANDS = {
    "compare": cmd_compare,
    "fit": cmd_fit,
    "select": cmd_select,
    "overfit": cmd_overfit,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import warnings

    # environment notices, not about the user's input: keep the CLI output readable
    warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    from bayes.analysis import SettingsError
    from bayes.fit import MapError
    from bayes.models import ModelError
    from bayes.penalized import PenaltyError

    try:
        return COMMANDS[args.command](args)
    except (
        DataError,
        DesignError,
        ModelError,
        PenaltyError,
        SettingsError,
        MapError,
        ModuleNotFoundError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
