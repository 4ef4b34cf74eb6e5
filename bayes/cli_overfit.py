"""`python -m bayes overfit`: least-squares train/test error by degree."""

from __future__ import annotations

import argparse
import json

from bayes.cli_common import add_command, add_data_flags, load_data


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "overfit",
        "least-squares train/test error by degree, up to n-1",
        "The course's overfitting table: least squares of degree up to n - 1 on the course's "
        "polynomial, error on the training points and on a fresh test sample.",
    )
    add_data_flags(p, csv=False)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_overfit)


def cmd_overfit(args) -> int:
    from bayes.overfit import overfitting_table

    data = load_data(args)
    rows = overfitting_table(data, basis=args.basis)
    if args.json:
        print(json.dumps({"n": args.n, "rows": rows}))
        return 0
    for r in rows:
        d, tr, te = r["degree"], r["train_mse"], r["test_mse"]
        print(f"degree {d:3d}: train MSE {tr:.3e}  test MSE {te:.3e}")
    return 0
