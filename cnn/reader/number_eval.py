"""Held-out evaluation of reading drawn numbers (serving/number.py): EVALUATION ONLY.

Numbers of 2-4 digits written with the pen (cnn/reader/pen.py) by writers no other code draws:
each writer comes from ``np.random.default_rng([seed, NUMBER_TAG, k])``, never from
``pen.writer_style`` (which the number reader's tuning and tests use) nor from
cnn.reader.heldout's tag. Two canvases (the app's 280x280, and the Number mode's 560x280) and
three gap classes between neighbouring digits, in digit heights: spaced (0.15-0.4: as people
write), close (0.04-0.15: a thick pen makes some touch), and touching (-0.04-0.02: the strokes of
neighbours meet or overlap, for every pair of the number).

Each drawing is read exactly, read as a wrong number, or not answered (null, with a reason).

``NumberEvalConfig(development=True)`` (``--development``) draws the same kind of numbers by
writers of DEVELOPMENT_TAG instead: the splitter's thresholds are tuned on those, and the
evaluation's writers are only read to report.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn.reader import pen
from cnn.reader.configs import NumberEvalConfig  # defined in configs.py (light, for --help)
from serving.number import Reader, read_number

NUMBER_TAG = 0x22E7A1  # seeds writers that draw nowhere else
DEVELOPMENT_TAG = 0x22DE7  # the development writers: tune on these, never on NUMBER_TAG's
CANVASES = ((560, 280), (280, 280))
# (name, lowest gap, highest gap, share of the drawings)
GAPS = (("spaced", 0.15, 0.4, 0.5), ("close", 0.04, 0.15, 0.25), ("touching", -0.04, 0.02, 0.25))

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Drawing:
    canvas: str  # "560x280"
    gaps: str  # the gap class
    truth: str
    image: np.ndarray


def drawings(config: NumberEvalConfig) -> Iterator[Drawing]:
    """The evaluation drawings, reproducible from config.seed; each by a new writer."""
    shares = np.array([share for *_, share in GAPS])
    tag = DEVELOPMENT_TAG if config.development else NUMBER_TAG
    for c, canvas in enumerate(CANVASES):
        counts = np.floor(shares / shares.sum() * config.count).astype(int)
        counts[0] += config.count - counts.sum()
        k = 0
        for (name, low, high, _), n in zip(GAPS, counts, strict=True):
            for _ in range(n):
                rng = np.random.default_rng([config.seed, tag, c, k])
                k += 1
                size = int(rng.integers(config.min_digits, config.max_digits + 1))
                truth = "".join(str(d) for d in rng.integers(0, 10, size))
                image, _ = pen.pen_number(
                    truth, pen.random_writer(rng), rng, canvas=canvas, gap=rng.uniform(low, high)
                )
                yield Drawing(f"{canvas[0]}x{canvas[1]}", name, truth, image)


def evaluate(
    reader: Reader, config: NumberEvalConfig = NumberEvalConfig(), progress: Progress | None = None
) -> dict[str, Any]:
    """Exact / wrong / null counts per canvas and gap class, pooled, with the reasons for null
    and the wrong answers given."""
    counts: dict[tuple[str, str], Counter] = {}
    wrong, reasons, seconds = [], Counter(), []
    total = config.count * len(CANVASES)
    for i, drawing in enumerate(drawings(config)):
        start = time.perf_counter()
        result = read_number(drawing.image, reader)
        seconds.append(time.perf_counter() - start)
        outcome = (
            "exact"
            if result.number == drawing.truth
            else "null"
            if result.number is None
            else "wrong"
        )
        counts.setdefault((drawing.canvas, drawing.gaps), Counter())[outcome] += 1
        if outcome == "wrong":
            wrong.append({"truth": drawing.truth, "read": result.number, **_where(drawing)})
        if outcome == "null":
            reasons[_reason_kind(result.reason)] += 1
        if progress:
            progress(i + 1, total)
    rows = [_row(canvas, gaps, c) for (canvas, gaps), c in counts.items()]
    pooled = sum(counts.values(), Counter())
    return {
        "config": {
            "count": config.count,
            "seed": config.seed,
            "writers": "development" if config.development else "evaluation",
        },
        "rows": rows,
        "pooled": _row("all", "all", pooled),
        "null_reasons": dict(reasons.most_common()),
        "wrong": wrong,
        "median_ms": 1e3 * float(np.median(seconds)),
    }


def _row(canvas: str, gaps: str, c: Counter) -> dict[str, Any]:
    n = sum(c.values())
    return {
        "canvas": canvas,
        "gaps": gaps,
        "numbers": n,
        "exact": c["exact"] / n,
        "wrong": c["wrong"] / n,
        "null": c["null"] / n,
    }


def _where(drawing: Drawing) -> dict[str, str]:
    return {"canvas": drawing.canvas, "gaps": drawing.gaps}


def _reason_kind(reason: str | None) -> str:
    """The reason without its numbers: 'digit k of n (box ...): not sure ...' -> 'not sure'."""
    text = reason or ""
    for kind in ("not sure", "confidence", "unlike a typical", "no cut", "no digit", "empty"):
        if kind in text:
            return kind
    return text


def format_table(result: dict[str, Any]) -> str:
    """A Markdown table: one row per canvas and gap class, then all pooled."""
    lines = [
        "| canvas | gaps | numbers | exact | wrong | null |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in [*result["rows"], result["pooled"]]:
        lines.append(
            f"| {r['canvas']} | {r['gaps']} | {r['numbers']} | {r['exact']:.1%} | "
            f"{r['wrong']:.1%} | {r['null']:.1%} |"
        )
    return "\n".join(lines)
