"""`python -m bayes select`: log evidence and LOO per degree, and the chosen degree."""

from __future__ import annotations

import argparse
import json
import sys

from bayes.cli_common import add_command, add_data_flags, load_data, save, writable_dir
from bayes.data import DataError


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "select",
        "log evidence and LOO per degree; the chosen degree",
        "Closed-form log evidence (how probable the data are under each degree's model; the "
        "Normal prior's scale and, when unknown, sigma are set to the values that make the data "
        "most probable: type-II maximum likelihood) and LOO (leave-one-out: how well each point "
        "is predicted by a fit to the others; az.compare) for every degree; LOO's choice is the "
        "simplest degree within one standard error of the best.",
    )
    add_data_flags(p)
    p.add_argument("--max-degree", type=int, default=10, help="score degrees 0..MAX, MAX <= 30")
    p.add_argument(
        "--learn-sigma",
        action="store_true",
        help="treat sigma as unknown (estimated per degree: the value that makes the data most "
        "probable) instead of --noise",
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
    p.set_defaults(func=cmd_select)


def cmd_select(args) -> int:
    from tqdm import tqdm

    from bayes.analysis import degree_selection

    out = writable_dir(args.out) if args.out else None
    data = load_data(args)
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
        save(fig, out / "evidence.png")
    if args.json:
        print(json.dumps(res))
        return 0
    _print_selection(res, data.source)
    return 0


def _print_selection(res: dict, source: str) -> None:
    sigma = f"sigma {res['sigma']:g} (fixed)" if res["sigma_known"] else "sigma unknown (ML)"
    print(f"{source}, n {res['n']}, {sigma}")
    print("log evidence: how probable the data are under the degree's model (higher is better)")
    if "loo_elpd" in res:
        print(
            "LOO score (elpd): the log probability of each point predicted by a fit to the "
            "others, summed (higher is better); diff ± SE: below the best degree; weight: the "
            "share a stacked mix of all degrees gives this one; refit: points so influential "
            "that the quick LOO estimate (PSIS, Pareto k > 0.7) fails there, so they are "
            "refit without the point"
        )
    for i, d in enumerate(res["degrees"]):
        line = f"degree {d:2d}: log evidence {res['log_evidence'][i]:9.2f}"
        if not res["sigma_known"]:
            line += f" (sigma {res['sigma_estimate'][i]:.3g})"
        if "loo_elpd" in res:
            line += (
                f"  LOO score {res['loo_elpd'][i]:9.2f}, diff {res['elpd_diff'][i]:6.2f}"
                f" ± {res['elpd_diff_se'][i]:5.2f}, weight {res['stacking_weight'][i]:.2f}"
                f" ({res['n_pareto_k_high'][i]} points refit)"
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
