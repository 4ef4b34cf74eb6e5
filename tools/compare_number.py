"""Compare serving/number.py with its version at a git revision, side by side in one process.

Why: a change meant only to speed the number reader up must read every drawing exactly as
before. This reads the development numbers (never the evaluation's) with both versions, in
turns, and prints how many records are identical, how many parts each prepared, and the
median seconds per gap class (in-process, one ONNX Runtime thread).

    PYTHONPATH=. python tools/compare_number.py --rev HEAD~1 --count 100
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np

import serving.number as current
from cnn.reader.configs import NumberEvalConfig
from cnn.reader.number_eval import GAPS, drawings
from serving.predictor import Predictor


def _module_at(rev: str, folder: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:serving/number.py"], capture_output=True, text=True, check=True
    ).stdout
    path = folder / "number_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("number_at_rev", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def _counting(module: ModuleType, counts: dict[str, int], key: str) -> None:
    prepared = module._prepared

    def counted(*args, **kwargs):
        counts[key] += 1
        return prepared(*args, **kwargs)

    module._prepared = counted


def _record(result) -> dict:
    record = current.number_record("", result)
    record.pop("seconds")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", required=True, help="git revision of the version to compare")
    parser.add_argument("--count", type=int, default=60, help="development numbers per canvas")
    args = parser.parse_args(argv)
    predictor = Predictor(intra_op_threads=1)
    with tempfile.TemporaryDirectory() as folder:
        before = _module_at(args.rev, Path(folder))
        counts = {"before": 0, "now": 0}
        _counting(before, counts, "before")
        _counting(current, counts, "now")
        seconds: dict[str, dict[str, list[float]]] = {"before": {}, "now": {}}
        identical, found = 0, list(drawings(NumberEvalConfig(count=args.count, development=True)))
        for drawing in found:
            a = before.read_number(drawing.image, predictor)
            b = current.read_number(drawing.image, predictor)
            seconds["before"].setdefault(drawing.gaps, []).append(a.seconds)
            seconds["now"].setdefault(drawing.gaps, []).append(b.seconds)
            identical += _record(a) == _record(b)
    print(
        f"{identical}/{len(found)} records identical; parts prepared: "
        f"{args.rev} {counts['before']}, now {counts['now']}"
    )
    for gaps, *_ in GAPS:
        old, new = (1000 * np.median(seconds[k].get(gaps, [np.nan])) for k in ("before", "now"))
        print(f"{gaps:>9}: median {old:.0f} ms at {args.rev}, {new:.0f} ms now ({new / old:.2f}x)")
    return 0 if identical == len(found) else 1


if __name__ == "__main__":
    sys.exit(main())
