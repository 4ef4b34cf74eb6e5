"""One argparse help style for every command: defaults shown where they say something."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" unless the help already names it or X is None/a flag's False."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if (
            "default" in help_text
            or action.default is None
            or action.default is False
            or action.default == argparse.SUPPRESS
            or action.nargs == 0  # store_true/store_false flags: their presence is the value
        ):
            return help_text
        return super()._get_help_string(action)
