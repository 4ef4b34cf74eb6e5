"""What the ``python -m bayes`` command groups share: the data flags, the data, --out checks."""

from __future__ import annotations

import argparse
from pathlib import Path

from bayes.data import MAX_N, DataConfig, DataError
from bayes.design import BASES


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default; keeps the description's line breaks."""


def add_data_flags(p: argparse.ArgumentParser, csv: bool = True) -> None:
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


def add_command(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description, formatter_class=Formatter)


def load_data(args):
    """The course's polynomial, or the user's CSV when --csv is given."""
    if getattr(args, "csv", None):
        from bayes.userdata import load_csv

        return load_csv(args.csv, args.x, args.y, args.sep)
    from bayes.data import make_data

    return make_data(
        DataConfig(n=args.n, noise=args.noise, seed=args.seed, x_range=tuple(args.x_range))
    )


def save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def writable_dir(path: str) -> Path:
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
