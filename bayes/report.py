"""What ``python -m bayes fit`` writes: netCDF, summary CSV, diagnostics JSON and PNGs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def fit_report(data, args, config, out: Path) -> tuple[dict, list[str]]:
    """Sample (with a progress bar), check, and write every output; return the report (the
    ``diagnostics.json`` object) and the failed checks as sentences."""
    import arviz as az
    from tqdm import tqdm

    from bayes.analysis import posterior, predictive_curves, prior_curves, prior_spec
    from bayes.design import Basis
    from bayes.evidence import psis_loo
    from bayes.fit import problems
    from bayes.models import ModelError
    from bayes.plots import (
        forest_figure,
        posterior_predictive_figure,
        prior_predictive_figure,
        trace_figure,
    )

    total = config.chains * (config.draws + config.tune)
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
            sigma=args.sigma,
        )
    idata = res.idata
    idata.to_netcdf(out / "idata.nc")
    names = ["w", "w_monomial"] + (["sigma"] if "sigma" in idata.posterior else [])
    az.summary(idata, var_names=names).to_csv(out / "summary.csv")
    loo = psis_loo(idata)
    found = problems(res.diagnostics)
    report = {
        **res.diagnostics,
        "compile_s": res.compile_s,
        "loo_elpd": loo.elpd,
        "loo_se": loo.se,
        "pareto_k_max": float(loo.pareto_k.max()),
        "n_pareto_k_high": loo.n_high_k,
        "data": data.source,
        "sigma": "learned"
        if "sigma" in idata.posterior
        else float(args.sigma if args.sigma is not None else data.sigma),
        "problems": found,
    }
    (out / "diagnostics.json").write_text(json.dumps(report, indent=2))
    basis = Basis(args.degree, args.basis, data.x_range)
    grid = np.linspace(*data.x_range, 200)
    title = f"degree {args.degree}, {args.prior} prior"
    labels = (data.x_label, data.y_label)
    band = predictive_curves(res, data, basis, grid, seed=args.seed)
    _save(
        posterior_predictive_figure(data.x, data.y, band, data.truth, title, labels),
        out / "posterior_predictive.png",
    )
    spec = prior_spec(data, args.prior, args.scale, args.learn_sigma, "direct", args.sigma)
    try:
        prior = prior_curves(data, args.degree, spec, grid, args.basis, seed=args.seed)
        fig = prior_predictive_figure(data.x, data.y, prior, f"prior only: {title}", labels)
    except ModelError as exc:  # the flat prior has no prior predictive: say so in the PNG
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.2))
        ax.text(0.5, 0.5, str(exc), ha="center", va="center", wrap=True)
        ax.set_axis_off()
    _save(fig, out / "prior_predictive.png")
    _save(trace_figure(idata), out / "trace_rank.png")
    _save(forest_figure(idata), out / "forest.png")
    return report, found
