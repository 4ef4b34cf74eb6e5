"""`python -m bayes bench`: our parameterization vs naive monomials under NUTS."""

from __future__ import annotations

import argparse
import json
import sys

from bayes.cli_common import add_command, add_data_flags, load_data


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "bench",
        "our parameterization vs naive monomials: compile, ESS/s",
        "NUTS on the same data three ways (Legendre+QR, naive monomials, monomials in QR "
        "coordinates): compile time, ESS per second. --blas-compare instead times Legendre+QR "
        "with PyTensor's BLAS fallback vs SciPy's OpenBLAS, each in a fresh process.",
    )
    add_data_flags(p, csv=False)
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
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from bayes.bench import BenchConfig, blas_compare, format_blas, format_table, run_bench

    data = load_data(args)
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
