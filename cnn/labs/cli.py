"""Lab subcommands of ``python -m cnn`` (init-lab, optim-lab, reg-lab, conv-lab)."""

from __future__ import annotations

import argparse

LAB_COMMANDS: tuple[str, ...] = ()


def add_lab_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the lab subcommands on ``python -m cnn``'s subparsers."""


def run_lab(args: argparse.Namespace) -> int:
    raise NotImplementedError(args.command)
