"""serving/ is the inference layer at the bottom: it never imports cnn/ (training, the reader).

cnn/ may import serving/ (MNIST files, file helpers, the ONNX sessions); the PyTorch side of a
comparison lives in cnn/ (``python -m cnn bench-engines``). Every import statement is checked,
at module level and inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVING = Path(__file__).resolve().parents[2] / "serving"


def cnn_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "cnn"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "cnn":
                found.append(node.module)
    return found


def test_serving_never_imports_cnn():
    offenders = {
        f"serving/{path.relative_to(SERVING)}": names
        for path in sorted(SERVING.rglob("*.py"))
        if (names := cnn_imports(path.read_text()))
    }
    assert not offenders, f"serving/ imports cnn/ (move the helper into serving/): {offenders}"


def test_the_check_finds_every_form():
    source = (
        "import cnn\nimport cnn.model as m\nfrom cnn.files import x\n"
        "def f():\n    from cnn import data\n    import numpy, cnn.train\n"
        "from serving import cnn_like\nfrom . import cnn\n"
    )
    assert cnn_imports(source) == ["cnn", "cnn.model", "cnn.files", "cnn", "cnn.train"]
