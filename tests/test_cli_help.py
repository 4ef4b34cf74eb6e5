"""`--help` answers at once: it imports none of the heavy libraries (torch, ONNX, ONNX Runtime,
PyMC, SciPy, matplotlib, FastAPI, uvicorn, Ray), because command parsers are filled in only when
named and their defaults come from light config modules. Checked by the modules loaded, not by a
clock, for the packages' own --help and every subcommand their parsers register (read from the
parsers, so a new command is checked without editing this file)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "torch",
    "onnxruntime",
    "onnx",
    "pymc",
    "pytensor",
    "scipy",
    "matplotlib",
    "fastapi",
    "uvicorn",
    "ray",
)
PACKAGES = ("cnn", "serving", "bayes")

# Commands whose --help is known to import a heavy library, with the reason: none today (the
# reader's config dataclasses live in cnn/reader/configs.py). Strict: once one answers light,
# its XPASS fails the suite, and its entry here is to be deleted.
STILL_HEAVY: dict[tuple[str, str], str] = {}


def registered_commands(package: str) -> list[str]:
    """Every subcommand the package's parser registers, read from the parser itself (the lazy
    form, which names them all without importing any command's modules)."""
    import argparse
    import importlib
    import inspect

    build = importlib.import_module(f"{package}.__main__").build_parser
    parser = build(["--help"]) if inspect.signature(build).parameters else build()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def _case(package: str, argv: list[str]):
    mark = STILL_HEAVY.get((package, argv[0])) if argv else None
    marks = [pytest.mark.xfail(reason=mark, strict=True)] if mark else []
    return pytest.param(package, argv, marks=marks, id=" ".join([package, *argv]))


HELPS = [
    _case(package, argv)
    for package in PACKAGES
    for argv in [[], *([name] for name in registered_commands(package))]
]


PROBE = """
import json, sys
from {package}.__main__ import main
try:
    main({argv!r})
except SystemExit as exc:
    code = exc.code
else:
    code = None
print(json.dumps({{"code": code, "modules": sorted(m.split(".")[0] for m in sys.modules)}}))
"""


@pytest.mark.parametrize(("package", "argv"), HELPS)
def test_help_imports_nothing_heavy(package, argv):
    probe = PROBE.format(package=package, argv=[*argv, "--help"])
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["code"] == 0
    assert "usage: python -m" in run.stdout
    assert not set(HEAVY) & set(report["modules"]), sorted(set(HEAVY) & set(report["modules"]))


def test_every_package_registers_the_commands_its_readme_tour_uses():
    """The discovery above must not silently find nothing (then no --help would be checked)."""
    found = {package: registered_commands(package) for package in PACKAGES}
    assert {"train", "export", "evaluate", "init-lab", "posterior"} <= set(found["cnn"])
    assert {"predict", "quantize", "serve", "loadtest", "bench"} <= set(found["serving"])
    assert {"compare", "fit", "select", "bench"} <= set(found["bayes"])
    names = {(p, n) for p, commands in found.items() for n in commands}
    assert set(STILL_HEAVY) <= names, "a STILL_HEAVY entry names a command that is gone"


def test_top_level_help_lists_every_command_of_every_group():
    from cnn.__main__ import build_parser as cnn_parser
    from serving.__main__ import build_parser as serving_parser

    for build in (cnn_parser, serving_parser):
        full = build()
        lazy = build(["--help"])
        names = [next(a for a in p._actions if a.dest == "command").choices for p in (full, lazy)]
        assert list(names[0]) == list(names[1])
        assert full.format_help() == lazy.format_help()


def test_lab_names_match_the_functions_behind_them():
    from cnn.labs import config
    from cnn.labs.block import ACTIVATIONS, INITIALIZERS
    from cnn.labs.optim_race import FACTORIES, FUNCTIONS

    assert tuple(ACTIVATIONS) == config.ACTIVATION_NAMES
    assert tuple(INITIALIZERS) == config.INITIALIZER_NAMES == tuple(config.INIT_TITLES)
    assert tuple(FACTORIES) == config.RACERS == tuple(config.NAMES)
    assert tuple(FUNCTIONS) == config.FUNCTION_NAMES


def test_quantize_method_names_match_onnx_runtimes():
    from serving.quantize import METHODS
    from serving.quantize_config import METHOD_NAMES

    assert tuple(METHODS) == METHOD_NAMES
