"""`--help` answers at once: it imports none of the heavy libraries (torch, ONNX Runtime, PyMC,
SciPy, matplotlib), because command parsers are filled in only when named and their defaults
come from light config modules. Checked by the modules loaded, not by a clock."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "onnxruntime", "onnx", "pymc", "pytensor", "scipy", "matplotlib", "fastapi")

HELPS = [
    ("cnn", []),
    ("cnn", ["train"]),
    ("cnn", ["init-lab"]),
    ("cnn", ["optim-lab"]),
    ("cnn", ["reg-lab"]),
    ("cnn", ["conv-lab"]),
    ("serving", []),
    ("serving", ["predict"]),
    ("serving", ["robustness"]),
    ("serving", ["quantize"]),
    ("bayes", []),
    ("bayes", ["compare"]),
    ("bayes", ["fit"]),
    ("bayes", ["select"]),
    ("bayes", ["bench"]),
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


@pytest.mark.parametrize(("package", "argv"), HELPS, ids=[" ".join([p, *a]) for p, a in HELPS])
def test_help_imports_nothing_heavy(package, argv):
    probe = PROBE.format(package=package, argv=[*argv, "--help"])
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["code"] == 0
    assert "usage: python -m" in run.stdout
    assert not set(HEAVY) & set(report["modules"]), sorted(set(HEAVY) & set(report["modules"]))


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
