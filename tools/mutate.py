"""Named mutations: plant one small, plausible bug at a time and check that a test catches it.

Each mutation is (name, file, old snippet, new snippet, tests): the snippet must occur exactly
once in the file. The committed code (HEAD, or --commit; --working-tree for the working tree
with its uncommitted edits) is copied to a temporary folder and every mutation is applied
*there*, one at a time, with the named tests run against the copy (PYTHONPATH points at it, so
the editable install of the real tree is not what is imported). The shared working tree is
never touched.

A mutant is *killed* when its tests fail, *survives* when they pass. Every survivor is either
killed by a new test or explained as equivalent in docs/MUTATION.md, which records the last run.

Run on demand, not in CI (a few minutes of CPU):

    python tools/mutate.py                      # every mutation
    python tools/mutate.py --only quantize      # names containing "quantize"
    python tools/mutate.py --only gate:,graph:  # names containing either
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


# Without the test that re-makes the shipped INT8 file and compares bytes: that one catches any
# change to the quantizer, right or wrong; a mutant must be caught by a check of the answer.
Q = (
    "tests/serving/test_serving_quantize.py",
    "--deselect",
    "tests/serving/test_serving_quantize.py::test_quantize_reproduces_the_shipped_file",
)
# The HTTP limits and bad-input tests (the streaming/loadtest ones add minutes, no limits).
HTTP = (
    "tests/serving/test_http.py",
    "-k",
    "limit or both_sides or 256 or multipart or megapixels or sides or top_k or mebibytes "
    "or bad_input or nonsense",
)
PRE = ("tests/serving/test_serving_preprocess.py",)
SIDES = (*PRE, "tests/serving/test_http.py::test_image_sides_at_and_over_the_preprocessing_bounds")
EVID = ("tests/bayes/test_bayes_evidence.py",)
PEN = ("tests/bayes/test_bayes_design.py", "tests/bayes/test_bayes_map.py")


def _m(name: str, file: str, old: str, new: str, tests: tuple[str, ...]) -> Mutation:
    return Mutation(name, file, old, new, tests)


GATE_T = ("tests/cnn/reader/test_gate.py",)
# The graph tests that build and fit a small reader (not the shipped-model ones: a shipped file
# checks itself, not the code); the fit fixture takes about a minute per mutant.
GRAPH_T = (
    "tests/cnn/reader/test_posterior.py",
    "-k",
    "laplace_torch or numpy_reference or rate_asked_for or dynamic_batch or calibration_digits_own",
)
POSTERIOR, GRAPH, GATE, PIPELINE = (
    "cnn/reader/posterior.py",
    "cnn/reader/graph.py",
    "cnn/reader/gate.py",
    "cnn/reader/pipeline.py",
)
EVIDENCE, PENALIZED = "bayes/evidence.py", "bayes/penalized.py"
QUANTIZE_CONFIG = "serving/quantize_config.py"
PREPROCESS, QUANTIZE, HTTP_APP = (
    "serving/preprocess.py",
    "serving/quantize.py",
    "serving/http_app.py",
)

MUTATIONS: list[Mutation] = [
    # bayes/evidence.py
    _m(
        "evidence: (p - 1) -> p slopes in the alpha term (off by one)",
        EVIDENCE,
        "+ 0.5 * (p - 1) * np.log(alpha)",
        "+ 0.5 * p * np.log(alpha)",
        EVID,
    ),
    _m(
        "evidence: log|A| sign",
        EVIDENCE,
        "        - 0.5 * logdet\n",
        "        + 0.5 * logdet\n",
        EVID,
    ),
    _m(
        "evidence: intercept gets the prior precision too",
        EVIDENCE,
        "    prec[0] = 0.0\n",
        "    prec[0] = alpha\n",
        EVID,
    ),
    _m(
        "evidence: sigma^2 = E / n instead of E / (n - 1)",
        EVIDENCE,
        "_energy(X, y, lam) / (len(y) - 1)",
        "_energy(X, y, lam) / len(y)",
        EVID,
    ),
    _m(
        "evidence: exact LOO predictive variance without the noise",
        EVIDENCE,
        "var = sigma**2 + xi @ np.linalg.solve(A_i, xi)",
        "var = xi @ np.linalg.solve(A_i, xi)",
        EVID,
    ),
    _m(
        "evidence: Pareto k threshold 0.7 -> 1.0",
        EVIDENCE,
        "K_THRESHOLD = 0.7",
        "K_THRESHOLD = 1.0",
        EVID,
    ),
    _m(
        "evidence: p_loo left stale after the exact substitution",
        EVIDENCE,
        '    loo["p_loo"] = lppd - float(pw.sum())\n',
        "",
        EVID,
    ),
    _m(
        "evidence: LOO SE without the sqrt(n)",
        EVIDENCE,
        "se = float(np.sqrt(len(pw) * np.var(pw)))",
        "se = float(np.sqrt(np.var(pw)))",
        EVID,
    ),
    _m(
        "evidence: one-SE rule picks the largest tie",
        EVIDENCE,
        '"chosen": min(ties)',
        '"chosen": max(ties)',
        EVID,
    ),
    _m(
        "evidence: proper prior's intercept variance is tau^2",
        EVIDENCE,
        "prior_var[0] = float(intercept_scale) ** 2",
        "prior_var[0] = float(tau) ** 2",
        EVID,
    ),
    # bayes/penalized.py
    _m(
        "penalized: ridge lambda = sigma / tau^2 (sigma not squared)",
        PENALIZED,
        'return _positive("sigma", sigma) ** 2 / _positive("prior scale tau", tau) ** 2',
        'return _positive("sigma", sigma) / _positive("prior scale tau", tau) ** 2',
        PEN,
    ),
    _m(
        "penalized: lasso lambda = sigma^2 / b (factor 2 lost)",
        PENALIZED,
        'return 2.0 * _positive("sigma", sigma) ** 2 / _positive("Laplace scale b", b)',
        'return _positive("sigma", sigma) ** 2 / _positive("Laplace scale b", b)',
        PEN,
    ),
    _m(
        "penalized: normal scale = sigma / lambda (no sqrt)",
        PENALIZED,
        'np.sqrt(_positive("lambda_l2", lam))',
        '_positive("lambda_l2", lam)',
        PEN,
    ),
    _m("penalized: sklearn lasso alpha / n instead of / 2n", PENALIZED, "/ (2.0 * n)", "/ n", PEN),
    _m(
        "penalized: objective penalizes the intercept",
        PENALIZED,
        'pen = np.sum(w[1:] ** 2) if kind == "l2"',
        'pen = np.sum(w ** 2) if kind == "l2"',
        PEN,
    ),
    _m(
        "penalized: closed-form ridge penalizes the intercept",
        PENALIZED,
        "    D[0, 0] = 0.0\n",
        "",
        PEN,
    ),
    # serving/preprocess.py
    _m("preprocess: min side 8 -> 9", PREPROCESS, "min_side: int = 8", "min_side: int = 9", SIDES),
    _m(
        "preprocess: side check < -> <= (8 refused)",
        PREPROCESS,
        "if min(h, w) < config.min_side",
        "if min(h, w) <= config.min_side",
        SIDES,
    ),
    _m(
        "preprocess: side check > -> >= (10,000 refused)",
        PREPROCESS,
        "or max(h, w) > config.max_side",
        "or max(h, w) >= config.max_side",
        SIDES,
    ),
    _m(
        "preprocess: centre of mass sign (row)",
        PREPROCESS,
        "round(CENTRE - cy)",
        "round(CENTRE + cy - 14)",
        PRE,
    ),
    _m(
        "preprocess: centre at 13.5 instead of 14",
        PREPROCESS,
        "CENTRE = 14.0",
        "CENTRE = 13.5",
        PRE,
    ),
    _m(
        "preprocess: luma weights of red and blue swapped",
        PREPROCESS,
        "np.array([0.299, 0.587, 0.114])",
        "np.array([0.114, 0.587, 0.299])",
        PRE,
    ),
    _m(
        "preprocess: polarity test reversed",
        PREPROCESS,
        "if dark > bright else",
        "if dark < bright else",
        PRE,
    ),
    _m(
        "preprocess: stroke width from the 5th percentile, not the 95th",
        PREPROCESS,
        "np.percentile(distance[mask], 95)",
        "np.percentile(distance[mask], 5)",
        PRE,
    ),
    _m(
        "preprocess: noise floor keeps the faint, drops the strong",
        PREPROCESS,
        "ink[ink < config.noise_floor] = 0.0",
        "ink[ink > 1 - config.noise_floor] = 0.0",
        PRE,
    ),
    _m(
        "preprocess: uint16 divided by 255",
        PREPROCESS,
        "image.astype(np.float64) / 65535.0",
        "image.astype(np.float64) / 255.0",
        PRE,
    ),
    _m(
        "preprocess: 20-pixel box -> 22",
        PREPROCESS,
        "SIZE, BOX = 28, 20",
        "SIZE, BOX = 28, 22",
        PRE,
    ),
    # serving/quantize.py
    _m(
        "quantize: loss sign (int8 - fp32)",
        QUANTIZE,
        "    if fp32 - int8 > config.max_accuracy_loss:",
        "    if int8 - fp32 > config.max_accuracy_loss:",
        Q,
    ),
    _m(
        "quantize: bound inclusive, minus a hair (>=)",
        QUANTIZE,
        "    if fp32 - int8 > config.max_accuracy_loss:",
        "    if fp32 - int8 >= config.max_accuracy_loss - 1e-4:",
        Q,
    ),
    _m(
        "quantize: default bound 0.01 instead of 0.001",
        QUANTIZE_CONFIG,
        "    max_accuracy_loss: float = 0.001",
        "    max_accuracy_loss: float = 0.01",
        Q,
    ),
    _m(
        "quantize: reduce_range off (8-bit weights)",
        QUANTIZE_CONFIG,
        "    reduce_range: bool = True",
        "    reduce_range: bool = False",
        Q,
    ),
    _m(
        "quantize: per-tensor weight scales",
        QUANTIZE_CONFIG,
        "    per_channel: bool = True",
        "    per_channel: bool = False",
        Q,
    ),
    _m(
        "quantize: calibration pixels not scaled to [0, 1]",
        QUANTIZE,
        "        self.pixels = images[:, None].astype(np.float32) / 255.0",
        "        self.pixels = images[:, None].astype(np.float32)",
        Q,
    ),
    _m(
        "quantize: test accuracy from the logits' argmin",
        QUANTIZE,
        "        correct += int((logits.argmax(1) == labels[i : i + 500]).sum())",
        "        correct += int((logits.argmin(1) == labels[i : i + 500]).sum())",
        Q,
    ),
    _m(
        "quantize: the posterior head quantized too",
        QUANTIZE,
        "nodes_to_exclude=head_nodes(onnx.load(str(prepared))),",
        "nodes_to_exclude=[],",
        Q,
    ),
    # serving/http_app.py
    _m(
        "http: batch limit > -> >= (256 refused)",
        HTTP_APP,
        "if len(items) > config.max_batch_items:",
        "if len(items) >= config.max_batch_items:",
        HTTP,
    ),
    _m(
        "http: default batch limit 256 -> 255",
        "serving/server_config.py",
        "max_batch_items: int = 256",
        "max_batch_items: int = 255",
        HTTP,
    ),
    _m(
        "http: negative-pixel check dropped",
        HTTP_APP,
        "(pixels.min() < 0 or pixels.max() > 1)",
        "(pixels.max() > 1)",
        HTTP,
    ),
    _m(
        "http: pixel upper bound 1 -> 1.05",
        HTTP_APP,
        "(pixels.min() < 0 or pixels.max() > 1)",
        "(pixels.min() < 0 or pixels.max() > 1.05)",
        HTTP,
    ),
    _m(
        "http: pixel 1.0 refused (> -> >=)",
        HTTP_APP,
        "(pixels.min() < 0 or pixels.max() > 1)",
        "(pixels.min() < 0 or pixels.max() >= 1)",
        HTTP,
    ),
    _m(
        "http: finite check dropped",
        HTTP_APP,
        "    if not np.isfinite(pixels).all():\n",
        "    if False:\n",
        HTTP,
    ),
    _m(
        "http: streamed body limit > -> >=",
        HTTP_APP,
        "        if size > limit:",
        "        if size >= limit:",
        HTTP,
    ),
    _m(
        "http: declared body limit off by one",
        HTTP_APP,
        "and int(declared) > limit:",
        "and int(declared) > limit + 1:",
        HTTP,
    ),
    _m(
        "http: shape check on the last axis only",
        HTTP_APP,
        "if pixels.shape[-2:] != (28, 28) or",
        "if pixels.shape[-1:] != (28,) or",
        HTTP,
    ),
    _m(
        "http: one-digit endpoint accepts a batch",
        HTTP_APP,
        "pixels.ndim not in ((2, 3) if batch else (2,))",
        "pixels.ndim not in (2, 3)",
        HTTP,
    ),
    _m(
        "http: multipart parser stops at the limit (400, not 413)",
        HTTP_APP,
        "max_files=config.max_batch_items + 1",
        "max_files=config.max_batch_items",
        HTTP,
    ),
    _m(
        "http: top_k up to 11",
        "serving/server_config.py",
        "if self.top_k > 10:",
        "if self.top_k > 11:",
        HTTP,
    ),
    _m(
        "http: max_pixels not passed to the image reader",
        HTTP_APP,
        "name=item.name, max_pixels=config.max_pixels)",
        "name=item.name)",
        HTTP,
    ),
    # the reader (issue 25's uncaught rows, and the gate that replaced the surprise offset)
    _m(
        "posterior: probit pi/8 -> pi/4",
        POSTERIOR,
        "kappa = 1.0 / np.sqrt(1.0 + math.pi / 8 * variance)",
        "kappa = 1.0 / np.sqrt(1.0 + math.pi / 4 * variance)",
        GATE_T,
    ),
    _m(
        "posterior: temperature multiplies instead of divides",
        POSTERIOR,
        "softmax(kappa * logits / temperature, axis=1)",
        "softmax(kappa * logits * temperature, axis=1)",
        GATE_T,
    ),
    _m(
        "graph: probit pi/8 -> pi/4",
        GRAPH,
        "(1.0 + (math.pi / 8) * variance) * t2",
        "(1.0 + (math.pi / 4) * variance) * t2",
        GRAPH_T,
    ),
    _m(
        "graph: temperature T**2 -> T",
        GRAPH,
        "t2 = self.posterior_temperature * self.posterior_temperature",
        "t2 = self.posterior_temperature",
        GRAPH_T,
    ),
    _m(
        "graph: sign of the surprise median term",
        GRAPH,
        "torch.relu((s - median) / (self.gate_surprise_threshold - median))",
        "torch.relu((s + median) / (self.gate_surprise_threshold - median))",
        GRAPH_T,
    ),
    _m(
        "graph: p-value counts calibration scores > s, not >= s",
        GRAPH,
        "(self.gate_calibration[None] >= s[:, :, None])",
        "(self.gate_calibration[None] > s[:, :, None])",
        GRAPH_T,
    ),
    _m(
        "gate: p-values count ties as below (side=right)",
        GATE,
        'np.searchsorted(cal, np.asarray(scores, np.float64), side="left")',
        'np.searchsorted(cal, np.asarray(scores, np.float64), side="right")',
        GATE_T,
    ),
    _m(
        "gate: leave-one-out p-value counts the point itself",
        GATE,
        "    return above / len(cal)  #",
        "    return (1 + above) / (len(cal) + 1)  #",
        GATE_T,
    ),
    _m(
        "gate: abstain threshold from the low quantile (rate, not 1 - rate)",
        GATE,
        "s = np.sort(np.asarray(surprise, np.float64))[::-1]",
        "s = np.sort(np.asarray(surprise, np.float64))",
        GATE_T,
    ),
    _m(
        "gate: threshold one rank off (k + 1)",
        GATE,
        "k = int(math.floor(rate * len(s)))",
        "k = int(math.floor(rate * len(s))) + 1",
        GATE_T,
    ),
    _m(
        "gate: Fisher's -2 sum log p -> -sum log p",
        GATE,
        '"fisher": lambda p: -2 * np.log(p).sum(1)',
        '"fisher": lambda p: -np.log(p).sum(1)',
        GATE_T,
    ),
    _m(
        "pipeline: calibration median -> mean",
        PIPELINE,
        '"surprise_median": float(np.median(surprise)),',
        '"surprise_median": float(np.mean(surprise)),',
        GRAPH_T,
    ),
]


def copy_commit(dest: Path, commit: str) -> None:
    """The files of ``commit`` (default HEAD): a consistent state, whatever others are editing
    in the working tree right now."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


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


def run_tests(copy: Path, tests: tuple[str, ...], timeout_s: int) -> tuple[bool, float, str]:
    """(passed, seconds, the first failing test): the named tests, against the copy, stopping
    at the first failure."""
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
        return False, time.perf_counter() - start, "timeout"  # a hang counts as caught
    failed = [
        line.split(" ")[1]
        for line in done.stdout.decode(errors="replace").splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    ]
    first = failed[0] if failed else ("" if done.returncode == 0 else f"rc {done.returncode}")
    return done.returncode == 0, time.perf_counter() - start, first


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
    parser.add_argument(
        "--only",
        default="",
        help="run mutations whose name contains this (or any of several, comma-separated)",
    )
    parser.add_argument("--list", action="store_true", help="list the mutations, run nothing")
    parser.add_argument(
        "--timeout", type=int, default=600, help="seconds per mutant's test run (default 600)"
    )
    parser.add_argument(
        "--baseline", action="store_true", help="first run every test file once unmutated"
    )
    parser.add_argument(
        "--commit", default="HEAD", help="the commit to mutate (default HEAD: committed code)"
    )
    parser.add_argument(
        "--working-tree",
        action="store_true",
        help="mutate the working tree as it is now (uncommitted edits included) instead",
    )
    args = parser.parse_args(argv)
    wanted = args.only.split(",")
    chosen = [m for m in MUTATIONS if any(w in m.name for w in wanted)]
    if not chosen:
        print(f"error: no mutation name contains {args.only!r}; see --list", file=sys.stderr)
        return 2
    if args.list:
        for m in chosen:
            print(f"{m.name}  [{m.file}]  -> {' '.join(m.tests)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        copy = Path(tmp)
        copy_tree(copy) if args.working_tree else copy_commit(copy, args.commit)
        check_imports_from(copy)
        if args.baseline:
            files = tuple(sorted({t for m in chosen for t in m.tests}))
            passed, seconds, first = run_tests(copy, files, args.timeout)
            verdict = "pass" if passed else f"FAIL ({first})"
            print(f"baseline ({len(files)} test args): {verdict}, {seconds:.0f} s", flush=True)
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
                passed, seconds, first = run_tests(copy, m.tests, args.timeout)
            finally:
                path.write_text(text, encoding="utf-8")
            verdict = "SURVIVED" if passed else "killed  "
            caught = "" if passed else f"  <- {first}"
            print(f"{verdict} {m.name}  ({seconds:.0f} s){caught}", flush=True)
            if passed:
                survivors.append(m.name)
    print(f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants killed")
    for name in survivors:
        print(f"  not killed: {name}")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
