"""Named mutations: plant one small, plausible bug at a time and check that a test catches it.

Each mutation is (name, file, old snippet, new snippet, tests): the snippet must occur exactly
once in the file. The repository's working tree (tracked files and untracked ones git does not
ignore) is copied to a temporary folder and every mutation is applied *there*, one at a time,
with the named tests run against the copy (PYTHONPATH points at it, so the editable install of
the real tree is not what is imported). The shared working tree is never touched.

A mutant is *killed* when its tests fail, *survives* when they pass. Every survivor is either
killed by a new test or explained as equivalent in docs/MUTATION.md, which records the last run.

Run on demand, not in CI (a few minutes of CPU):

    python tools/mutate.py                      # every mutation
    python tools/mutate.py --only quantize      # names containing "quantize"
    python tools/mutate.py --list               # names and files, nothing run
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids or files, relative to the repository root


Q = "tests/serving/test_serving_quantize.py"
HTTP = "tests/serving/test_http.py"
HTTP_LIMITS = "tests/serving/test_http_limits.py"
PRE = "tests/serving/test_serving_preprocess.py"
EVID = "tests/bayes/test_evidence.py"
PEN = "tests/bayes/test_penalized.py"

MUTATIONS: list[Mutation] = [
    # serving/quantize.py
    Mutation(
        "quantize: loss sign (int8 - fp32)",
        "serving/quantize.py",
        "    if fp32 - int8 > config.max_accuracy_loss:",
        "    if int8 - fp32 > config.max_accuracy_loss:",
        (Q,),
    ),
    Mutation(
        "quantize: bound inclusive off by one (>=)",
        "serving/quantize.py",
        "    if fp32 - int8 > config.max_accuracy_loss:",
        "    if fp32 - int8 >= config.max_accuracy_loss - 1e-4:",
        (Q,),
    ),
    Mutation(
        "quantize: default bound 0.01 instead of 0.001",
        "serving/quantize.py",
        "    max_accuracy_loss: float = 0.001",
        "    max_accuracy_loss: float = 0.01",
        (Q,),
    ),
    Mutation(
        "quantize: reduce_range off (8-bit weights)",
        "serving/quantize.py",
        "    reduce_range: bool = True",
        "    reduce_range: bool = False",
        (Q,),
    ),
    Mutation(
        "quantize: per-tensor weight scales",
        "serving/quantize.py",
        "    per_channel: bool = True",
        "    per_channel: bool = False",
        (Q,),
    ),
    Mutation(
        "quantize: calibration pixels not scaled to [0, 1]",
        "serving/quantize.py",
        "        self.pixels = images[:, None].astype(np.float32) / 255.0",
        "        self.pixels = images[:, None].astype(np.float32)",
        (Q,),
    ),
    Mutation(
        "quantize: test accuracy on logits argmin",
        "serving/quantize.py",
        "        correct += int((logits.argmax(1) == labels[i : i + 500]).sum())",
        "        correct += int((logits.argmin(1) == labels[i : i + 500]).sum())",
        (Q,),
    ),
]


def copy_tree(dest: Path) -> None:
    """Tracked + untracked-but-not-ignored files of the working tree, as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the working tree but still in the index
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def run_tests(copy: Path, tests: tuple[str, ...], timeout_s: int) -> tuple[bool, float]:
    """(passed, seconds): the named tests, against the copy, stopping at the first failure."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("MNIST_DIR", str(ROOT.parent / "shared" / "data" / "mnist"))
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=copy,
            env=env,
            capture_output=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - start  # a hang counts as caught
    return done.returncode == 0, time.perf_counter() - start


def check_imports_from(copy: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(copy))
    where = subprocess.run(
        [sys.executable, "-c", "import serving, bayes, cnn; print(serving.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not where.startswith(str(copy)):
        raise SystemExit(f"error: the copy imports serving from {where}, not from {copy}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations, run nothing")
    parser.add_argument(
        "--timeout", type=int, default=600, help="seconds per mutant's test run (default 600)"
    )
    parser.add_argument(
        "--baseline", action="store_true", help="first run every test file once unmutated"
    )
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only in m.name]
    if not chosen:
        print(f"error: no mutation name contains {args.only!r}; see --list", file=sys.stderr)
        return 2
    if args.list:
        for m in chosen:
            print(f"{m.name}  [{m.file}]  -> {' '.join(m.tests)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        copy = Path(tmp)
        copy_tree(copy)
        check_imports_from(copy)
        if args.baseline:
            files = tuple(sorted({t for m in chosen for t in m.tests}))
            passed, seconds = run_tests(copy, files, args.timeout)
            print(f"baseline ({len(files)} test files): {'pass' if passed else 'FAIL'}, {seconds:.0f} s")
            if not passed:
                print("error: the tests fail unmutated; fix that first", file=sys.stderr)
                return 2
        survivors = []
        for m in chosen:
            path = copy / m.file
            text = path.read_text(encoding="utf-8")
            if text.count(m.old) != 1:
                print(f"STALE    {m.name}: snippet found {text.count(m.old)} times in {m.file}")
                survivors.append(m.name)
                continue
            path.write_text(text.replace(m.old, m.new), encoding="utf-8")
            try:
                passed, seconds = run_tests(copy, m.tests, args.timeout)
            finally:
                path.write_text(text, encoding="utf-8")
            verdict = "SURVIVED" if passed else "killed  "
            print(f"{verdict} {m.name}  ({seconds:.0f} s)", flush=True)
            if passed:
                survivors.append(m.name)
    print(f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants killed")
    for name in survivors:
        print(f"  not killed: {name}")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
