"""Command groups for the ``python -m serving`` and ``python -m cnn`` command lines.

A command group is a module holding ``COMMANDS``: name -> :class:`Command` (one-line help,
description, and a function that adds the options and ``set_defaults(func=...)``). A package's
``__main__`` lists its group modules; adding a group is one line there.

Why the indirection: option defaults come from config dataclasses that live beside heavy code
(ONNX Runtime, torch, FastAPI). The parser of a command is only filled in when that command is
on the command line, so ``--help`` of the package, or of one command, imports only that command's
modules and answers at once. Without ``argv`` every command is filled in (tests, README checks).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, but not the uninformative None / False of optional flags."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.const is not None:
            return action.help or ""
        return super()._get_help_string(action)


@dataclass(frozen=True)
class Command:
    help: str
    description: str
    fill: Callable[[argparse.ArgumentParser], None]  # adds options and set_defaults(func=...)


def command_requested(argv: Sequence[str] | None) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    if argv is None:
        return None
    return next((a for a in argv if not a.startswith("-")), None)


def add_groups(
    sub: argparse._SubParsersAction,
    groups: Sequence[str],
    formatter: type[argparse.HelpFormatter],
    argv: Sequence[str] | None = None,
) -> None:
    """Register every command of ``groups`` (module names) on ``sub``.

    With ``argv`` only the command it names gets its options (the others are listed by name and
    help, all the package's ``--help`` shows); without it, all of them do.
    """
    wanted = command_requested(argv)
    for module_name in groups:
        commands: dict[str, Command] = importlib.import_module(module_name).COMMANDS
        for name, command in commands.items():
            if argv is not None and name != wanted:
                sub.add_parser(name, help=command.help)
                continue
            p = sub.add_parser(
                name,
                help=command.help,
                description=command.description,
                formatter_class=formatter,
            )
            command.fill(p)


def bar_callback(bar) -> Callable[[int, int], None]:
    """A progress(done, total) callback that moves a tqdm bar."""

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)  # tqdm rate-limits the redraws

    return update


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
