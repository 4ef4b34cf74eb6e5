"""Command line: ``python -m bayes {compare,fit,select,overfit,bench} ...``.

Every analysis subcommand takes the same data flags: the course's fifth-degree polynomial with
noise (--n, --noise, --seed, --x-range), or the user's own CSV (--csv FILE --x COL --y COL).
This module only parses and dispatches: each command group is a module with ``register(sub)``
(adding one is a line in ``GROUPS``); the work lives in ``bayes.analysis`` and friends.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bayes.cli_common import Formatter

GROUPS = (
    "bayes.cli_compare",
    "bayes.cli_fit",
    "bayes.cli_select",
    "bayes.cli_overfit",
    "bayes.cli_bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bayes",
        description="Bayesian polynomial regression (PyMC): MAP vs L1/L2, posteriors, evidence.",
        formatter_class=Formatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        importlib.import_module(group).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import warnings

    # an ArviZ notice about its next major version, not about the user's input
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    from bayes.analysis import SettingsError
    from bayes.data import DataError
    from bayes.design import DesignError
    from bayes.fit import MapError
    from bayes.models import ModelError
    from bayes.penalized import PenaltyError

    try:
        return args.func(args)
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
