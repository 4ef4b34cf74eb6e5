"""Command line: ``python -m bayes {compare,fit,select,overfit,bench} ...``.

Every analysis subcommand takes the same data flags: the course's fifth-degree polynomial with
noise (--n, --noise, --seed, --x-range), or the user's own CSV (--csv FILE --x COL --y COL).
This module only parses and dispatches; the work lives in ``bayes.analysis`` and friends.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bayes.data import MAX_N, DataConfig, DataError
from bayes.design import BASES, DesignError


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default; keeps the description's line breaks."""


def _add_data_flags(p: argparse.ArgumentParser, csv: bool = True) -> None:
    d = DataConfig()
    g = p.add_argument_group("data: the course's polynomial plus Gaussian noise")
    g.add_argument("--n", type=int, default=d.n, help=f"number of points, 2..{MAX_N:,}")
    g.add_argument(
        "--noise",
        type=float,
        default=d.noise,
        help="noise sigma; the models treat it as known unless --learn-sigma",
    )
    g.add_argument("--seed", type=int, default=d.seed, help="one seed for data and sampling")
    g.add_argument(
        "--x-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=d.x_range,
        help="x drawn uniformly on [LOW, HIGH]",
    )
    g.add_argument(
        "--basis",
        choices=BASES,
        default="legendre",
        help="design basis: Legendre polynomials of the scaled x (sound) or raw monomials",
    )
    if not csv:
        return
    g = p.add_argument_group(
        "your own data (replaces the course's polynomial; sigma is then unknown unless --sigma)"
    )
    g.add_argument("--csv", default=None, metavar="FILE", help="CSV file with a header line")
    g.add_argument("--x", default="x", metavar="COL", help="column of the inputs")
    g.add_argument("--y", default="y", metavar="COL", help="column of the outputs")
    g.add_argument("--sep", default=",", help="column separator of the CSV file")
    g.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="fix the noise sigma to this value (default: --noise for the course's data, "
        "unknown for a CSV)",
    )


def _sub(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description, formatter_class=Formatter)


def build_parser() -> argparse.ArgumentParser:
    from bayes.models import PRIORS

    parser = argparse.ArgumentParser(
        prog="python -m bayes",
        description="Bayesian polynomial regression (PyMC): MAP vs L1/L2, posteriors, evidence.",
        formatter_class=Formatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(
        sub,
        "compare",
        "MLE, Normal/Laplace MAP (PyMC) vs Ridge/Lasso (sklearn)",
        "Point estimates of the coefficients: least squares (MLE), the MAP under a Normal and "
        "a Laplace prior (PyMC), and Ridge/Lasso (scikit-learn) at the matching lambda.",
    )
    _add_data_flags(p)
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

    p = _sub(
        sub,
        "fit",
        "NUTS posterior: netCDF, summary CSV, PNG plots",
        "Sample the posterior with NUTS; write idata.nc, summary.csv, diagnostics.json and PNGs "
        "(prior and posterior predictive, rank plot, forest plot). Warns when a divergence, "
        "r_hat > 1.01 or ESS < 400 makes the fit untrustworthy; --strict then exits 1.",
    )
    _add_data_flags(p)
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

    p = _sub(
        sub,
        "select",
        "log evidence and LOO per degree; the chosen degree",
        "Closed-form log evidence (Normal prior, its scale and, when unknown, sigma by type-II "
        "maximum likelihood) and LOO (az.compare) for every degree; LOO's choice is the "
        "simplest degree within one standard error of the best.",
    )
    _add_data_flags(p)
    p.add_argument("--max-degree", type=int, default=10, help="score degrees 0..MAX, MAX <= 30")
    p.add_argument(
        "--learn-sigma",
        action="store_true",
        help="treat sigma as unknown (type-II ML per degree) instead of --noise",
    )
    p.add_argument("--no-loo", action="store_true", help="evidence only")
    p.add_argument(
        "--smc",
        choices=["normal", "laplace", "horseshoe"],
        default=None,
        help="also estimate the evidence of this prior by SMC (pm.sample_smc; a wide Normal "
        "intercept; ~5 s per degree); None = closed form only",
    )
    p.add_argument("--smc-draws", type=int, default=2000, help="SMC draws per chain")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="also save evidence.png in this folder")

    p = _sub(
        sub,
        "overfit",
        "least-squares train/test error by degree, up to n-1",
        "The course's overfitting table: least squares of degree up to n - 1 on the course's "
        "polynomial, error on the training points and on a fresh test sample.",
    )
    _add_data_flags(p, csv=False)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = _sub(
        sub,
        "bench",
        "our parameterization vs naive monomials: compile, ESS/s",
        "NUTS on the same data three ways (Legendre+QR, naive monomials, monomials in QR "
        "coordinates): compile time, ESS per second. --blas-compare instead times Legendre+QR "
        "with PyTensor's BLAS fallback vs SciPy's OpenBLAS, each in a fresh process.",
    )
    _add_data_flags(p, csv=False)
    p.add_argument("--degree", type=int, default=5, help="polynomial degree")
    p.add_argument("--draws", type=int, default=1000, help="draws per chain")
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    p.add_argument("--nutpie", action="store_true", help="also benchmark nutpie (if installed)")
    p.add_argument(
        "--variant",
        action="append",
        choices=["legendre+qr", "monomial+direct", "monomial+qr"],
        default=None,
        help="run only this variant (repeatable; None = all three)",
    )
    p.add_argument(
        "--blas-compare",
        action="store_true",
        help="ESS/s without and with the BLAS configured by bayes.blas (two subprocesses)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _data(args):
    """The course's polynomial, or the user's CSV when --csv is given."""
    if getattr(args, "csv", None):
        from bayes.userdata import load_csv

        return load_csv(args.csv, args.x, args.y, args.sep)
    from bayes.data import make_data

    return make_data(
        DataConfig(n=args.n, noise=args.noise, seed=args.seed, x_range=tuple(args.x_range))
    )


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def _writable_dir(path: str) -> Path:
    """Create ``path`` and prove it takes a file, before any work (sampling is not cheap)."""
    import tempfile

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DataError(f"cannot write to --out {out}: {reason}; pass another --out") from exc
    return out


def cmd_compare(args) -> int:
    from bayes.analysis import point_estimates

    out = _writable_dir(args.out) if args.out else None
    data = _data(args)
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
        _save(path_figure(paths["lambdas"], paths[kind], lam, w, title), out / f"path_{kind}.png")


def cmd_fit(args) -> int:
    from bayes.fit import NutsConfig
    from bayes.report import fit_report

    for name in ("draws", "tune", "chains"):
        if getattr(args, name) < 1:
            raise DataError(f"--{name} must be >= 1 (got {getattr(args, name)})")
    out = _writable_dir(args.out)  # before sampling: a bad --out must not cost a whole run
    data = _data(args)
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
            "changes the posterior so much that the LOO shortcut (PSIS) is unreliable there; "
            "`python -m bayes select` computes exact LOO for such points",
            file=sys.stderr,
        )
    print(f"wrote {out}/idata.nc, summary.csv, diagnostics.json and 5 PNGs", file=sys.stderr)
    return 1 if problems and args.strict else 0


def cmd_select(args) -> int:
    from tqdm import tqdm

    from bayes.analysis import degree_selection

    out = _writable_dir(args.out) if args.out else None
    data = _data(args)
    with tqdm(total=args.max_degree + 1, desc="degrees", disable=args.json, file=sys.stderr) as bar:
        res = degree_selection(
            data,
            args.max_degree,
            args.basis,
            not args.no_loo,
            progress=lambda done, total: bar.update(done - bar.n),
            sigma=args.sigma,
            learn_sigma=args.learn_sigma,
        )
    if args.smc:
        from bayes.analysis import smc_evidence_curve

        if args.smc_draws < 100:
            raise DataError(f"--smc-draws must be >= 100 (got {args.smc_draws})")
        smc = smc_evidence_curve(
            data, args.smc, args.max_degree, args.basis, sigma=args.sigma, draws=args.smc_draws
        )
        res.update({k: v for k, v in smc.items() if k != "degrees"})
    if out is not None:
        from bayes.plots import evidence_figure

        fig = evidence_figure(
            res["degrees"],
            res["log_evidence"],
            res.get("loo_elpd"),
            res["chosen_degree"],
            res.get("elpd_diff_se"),
            res.get("loo_ties"),
        )
        _save(fig, out / "evidence.png")
    if args.json:
        print(json.dumps(res))
        return 0
    _print_selection(res, data.source)
    return 0


def _print_selection(res: dict, source: str) -> None:
    sigma = f"sigma {res['sigma']:g} (fixed)" if res["sigma_known"] else "sigma unknown (ML)"
    print(f"{source}, n {res['n']}, {sigma}")
    for i, d in enumerate(res["degrees"]):
        line = f"degree {d:2d}: log evidence {res['log_evidence'][i]:9.2f}"
        if not res["sigma_known"]:
            line += f" (sigma {res['sigma_estimate'][i]:.3g})"
        if "loo_elpd" in res:
            line += (
                f"  LOO elpd {res['loo_elpd'][i]:9.2f}, diff {res['elpd_diff'][i]:6.2f}"
                f" ± {res['elpd_diff_se'][i]:5.2f}, weight {res['stacking_weight'][i]:.2f}"
                f" ({res['n_pareto_k_high'][i]} points k>0.7 -> exact LOO)"
            )
        print(line)
    print(f"chosen degree (evidence): {res['chosen_degree']}")
    if "smc_log_evidence" in res:
        s0 = res["intercept_scale"]
        print(f"SMC log evidence, {res['prior']} prior (intercept Normal(0, {s0:.3g})):")
        for d, (e, s) in enumerate(zip(res["smc_log_evidence"], res["smc_chain_spread"])):
            print(f"degree {d:2d}: {e:9.2f} (chains spread {s:.2f})")
        print(f"chosen degree (SMC evidence): {res['chosen_degree_smc']}")
    if "loo_ties" in res:
        ties = ", ".join(map(str, res["loo_ties"]))
        print(
            f"chosen degree (LOO, simplest within one SE of the best {res['chosen_degree_loo']}):"
            f" {res['chosen_degree_loo_1se']} (tied: {ties})"
        )


def cmd_overfit(args) -> int:
    from bayes.overfit import overfitting_table

    data = _data(args)
    rows = overfitting_table(data, basis=args.basis)
    if args.json:
        print(json.dumps({"n": args.n, "rows": rows}))
        return 0
    for r in rows:
        d, tr, te = r["degree"], r["train_mse"], r["test_mse"]
        print(f"degree {d:3d}: train MSE {tr:.3e}  test MSE {te:.3e}")
    return 0


def cmd_bench(args) -> int:
    from bayes.bench import BenchConfig, blas_compare, format_blas, format_table, run_bench

    data = _data(args)
    samplers = ("pymc", "nutpie") if args.nutpie else ("pymc",)
    config = BenchConfig(
        degree=args.degree,
        draws=args.draws,
        tune=args.tune,
        seed=args.seed,
        samplers=samplers,
        variants=tuple(args.variant) if args.variant else BenchConfig.variants,
    )
    log = lambda s: print(f"running {s}", file=sys.stderr)  # noqa: E731
    if args.blas_compare:
        res = blas_compare(args, progress=log)
        print(json.dumps(res) if args.json else format_blas(res))
        return 0
    res = run_bench(data, config, progress=log)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"import pymc: {res['import_pymc_s']:.1f} s; degree {res['degree']}, n {args.n}")
    print(f"BLAS: {res['blas']}")
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

    # an ArviZ notice about its next major version, not about the user's input
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
