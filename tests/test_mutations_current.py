"""tools/mutate.py plants its bugs by text: a mutation whose snippet no longer matches the code
(the code moved on) plants nothing, so it is caught here rather than at the next mutation run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_mutations():
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutate", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module.MUTATIONS


MUTATIONS = load_mutations()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_each_mutation_plants_its_bug_once_and_names_real_tests(mutation):
    text = (ROOT / mutation.file).read_text(encoding="utf-8")
    assert text.count(mutation.old) == 1, (
        f"{mutation.name}: snippet not found once in {mutation.file}"
    )
    assert mutation.old != mutation.new
    files = [t.split("::")[0] for t in mutation.tests if t.startswith("tests/")]
    assert files and all((ROOT / f).is_file() for f in files), mutation.tests


def test_mutation_names_are_unique():
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names))
