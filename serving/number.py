"""Read a drawn number, digit by digit, each with the served reader's own confidence and gate.

How a drawing becomes digits:

1. The ink is found as for one digit (serving.preprocess.ink_map: either polarity, any size).
2. Connected strokes are the first guess at digits. Pieces that overlap in x belong together
   (a 5's flag, a 7's bar, a 4 drawn in two strokes): they are merged.
3. A piece wider than one digit may be digits that touch. It is cut where the column profile of
   its ink is thinnest, or wherever else the reader likes best: each candidate cut's two halves
   are read, and the cut whose halves are read most confidently, without abstaining, is kept.
   A piece that is read as one digit, confidently, is not cut.
4. Each digit is cropped (other digits' ink removed), padded, and prepared exactly as a single
   drawing is (serving.preprocess.to_mnist); all digits go through the reader in one batch.

The number is given only when every digit is read without abstaining and confidently, and every
cut was clear: better no answer than a wrong one. Otherwise ``number`` is None and ``reason``
says which digit (or cut) made it unsure. Only the served contract is used: a Predictor's
probabilities, digits, and (for a Bayesian model) its uncertainty and abstain verdict.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image
from scipy import ndimage

from serving.predictor import BatchPrediction
from serving.preprocess import DEFAULT as PREPROCESS
from serving.preprocess import ink_map, to_mnist

EMPTY = "empty"  # the reason given for a drawing without ink: not the number 0
DECIMALS = 6


class Reader(Protocol):
    """What read_number needs of serving.predictor.Predictor (the served contract)."""

    def predict(self, pixels: np.ndarray) -> BatchPrediction: ...


@dataclass(frozen=True)
class NumberConfig:
    """Thresholds of the splitter and of 'sure'; widths and heights are in units of the
    drawing's digit height (the median height of its full-size pieces)."""

    merge_overlap: float = 0.5  # pieces overlapping in x by this much of the wider: one digit
    full_height: float = 0.55  # pieces at least this tall are digits (shorter: flags, bars)
    split_width: float = 0.55  # pieces up to this wide are one digit
    must_split_width: float = 1.2  # pieces this wide are not one digit
    # A piece between split_width and must_split_width read confidently with less doubt (its
    # uncertainty over the reader's abstain threshold) than this is one digit, uncut.
    typical_doubt: float = 0.35
    # Otherwise it is cut only if the halves' score beats the whole's by this much ...
    split_margin: float = 0.2
    # ... and the number is given only if every part reads with less doubt than this, and at
    # least this confident (a piece left whole and wider than wide_part: less than whole_doubt).
    whole_doubt: float = 0.4
    part_doubt: float = 0.6
    # Doubt below this earns no more in the cutting's score (a gate whose uncertainty is
    # clipped at 0, as the served one's is since the p-value gate, never goes below it).
    doubt_floor: float = -0.3
    part_confidence: float = 0.9
    wide_part: float = 0.9  # parts wider than this (digit heights) are penalized in the cutting
    min_part_width: float = 0.25  # no cut leaves a part narrower than this (digit heights) ...
    min_one_width: float = 0.1  # ... except a clear 1, which may be this narrow
    one_doubt: float = 0.1  # ... read with less doubt than this, cut at profile valleys
    one_height: float = 0.75  # ... and at least this tall (digit heights)
    ones_at_valleys: bool = True  # a cut part of any width read as 1, too
    max_slant: float = 0.4  # cuts also follow the writing's slant, found among +-this
    slant_steps: int = 8  # ... in this many steps each way (max_slant 0: upright cuts only)
    cut_step: float = 0.15  # candidate cuts on a grid this far apart (digit heights) ...
    profile_cuts: int = 6  # ... and at this many of the deepest minima of the column profile
    max_digits: int = 12  # more pieces than this: not a number we try to read
    min_confidence: float = 0.8  # a digit read below this makes the number unsure
    pad: float = 0.15  # margin around each digit's crop before to_mnist (background only)
    # Ink taller than this (pixels) is first reduced: to_mnist makes 20x20 pixels of it, and
    # reading the many candidate cuts of touching digits then costs a fraction.
    work_height: int = 112

    def __post_init__(self) -> None:
        if not 0 < self.split_width < self.must_split_width:
            raise ValueError("need 0 < split_width < must_split_width")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence must lie in [0, 1], got {self.min_confidence}")


DEFAULT = NumberConfig()


@dataclass(frozen=True)
class DigitReading:
    """One digit of a number; box is [x0, y0, x1, y1] in the input's pixels (x1, y1 exclusive)."""

    digit: int | None  # None: no digit found in this part of the drawing
    confidence: float  # the reader's probability of ``digit`` (0 when None)
    abstain: bool  # the reader's gate: "not sure this is a digit"
    uncertainty: float | None  # None for a plain (non-Bayesian) model
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class NumberResult:
    """What a drawing was read as. ``number`` is None (with a reason) when unsure or empty."""

    number: str | None
    digits: tuple[DigitReading, ...]
    reason: str | None
    seconds: float
    # Which digit (index into digits) made the number unsure; None when it is given or empty.
    culprit: int | None = None

    @property
    def abstain(self) -> bool:
        return self.number is None


@dataclass(frozen=True)
class _Piece:
    """Ink of one (candidate) digit: a crop of the ink map with everything else zeroed."""

    top: int
    left: int
    ink: np.ndarray  # float [h, w], trimmed to its ink

    @property
    def height(self) -> int:
        return self.ink.shape[0]

    @property
    def width(self) -> int:
        return self.ink.shape[1]

    @property
    def right(self) -> int:
        return self.left + self.width


@dataclass(frozen=True)
class _Read:
    digit: int | None
    confidence: float
    abstain: bool
    uncertainty: float | None
    threshold: float | None = None  # the reader's abstain threshold (None: a plain model)


_NOTHING = _Read(None, 0.0, True, None)  # a part in which to_mnist finds no digit


def read_number(image: np.ndarray, reader: Reader, config: NumberConfig = DEFAULT) -> NumberResult:
    """Split a drawing into digits, left to right, and read each; see the module docstring.

    Raises serving.preprocess.PreprocessError for what cannot be an image (as predict does).
    """
    start = time.perf_counter()
    ink = ink_map(image)
    if ink is not None:
        ink = _reduced(ink, config.work_height)
    pieces = [] if ink is None else _pieces(ink, config)
    if not pieces:
        return NumberResult(None, (), EMPTY, time.perf_counter() - start)
    if len(pieces) > config.max_digits:
        reason = f"{len(pieces)} separate marks: more than the {config.max_digits} digits read"
        return NumberResult(None, (), reason, time.perf_counter() - start)
    height = _digit_height(pieces, config)
    slant = functools.cache(lambda: _slant(ink, config))  # only when a piece is cut
    digits, reads, doubted, uncut = [], [], [], []
    for piece in pieces:
        parts, parts_read, parts_doubted, too_wide = _split(piece, height, slant, reader, config)
        digits += parts
        reads += parts_read
        doubted += parts_doubted
        if too_wide:
            uncut.append(piece)
    scale = (image.shape[1] / ink.shape[1], image.shape[0] / ink.shape[0])
    readings = tuple(
        DigitReading(r.digit, r.confidence, r.abstain, r.uncertainty, _box(p, scale))
        for p, r in zip(digits, reads, strict=True)
    )
    reason, culprit = _reason(readings, doubted, [_box(p, scale) for p in uncut], config)
    number = None if reason else "".join(str(r.digit) for r in readings)
    return NumberResult(number, readings, reason, time.perf_counter() - start, culprit)


def number_record(name: str, result: NumberResult) -> dict[str, Any]:
    """The JSON record of `python -m serving read-number --json` and of POST /read-number."""
    return {
        "file": name,
        "number": result.number,
        "digits": [
            {
                "digit": r.digit,
                "confidence": round(r.confidence, DECIMALS),
                "abstain": r.abstain,
                "uncertainty": None if r.uncertainty is None else round(r.uncertainty, 4),
                "box": list(r.box),
            }
            for r in result.digits
        ],
        "abstain": result.abstain,
        "reason": result.reason,
        "seconds": round(result.seconds, DECIMALS),
    }


def error_record(name: str, message: str) -> dict[str, Any]:
    """The record of a file that could not be read: the keys a client checks first."""
    return {"file": name, "number": None, "error": message}


# --- finding the pieces -------------------------------------------------------------------


def _reduced(ink: np.ndarray, work_height: int) -> np.ndarray:
    """The ink map area-averaged so that its inked rows span at most work_height pixels."""
    rows = np.flatnonzero(ink.any(axis=1))
    span = rows[-1] - rows[0] + 1 if rows.size else 0
    if span <= work_height:
        return ink
    factor = work_height / span
    size = (max(1, round(ink.shape[1] * factor)), max(1, round(ink.shape[0] * factor)))
    small = Image.fromarray(ink.astype(np.float32)).resize(size, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64)


def _pieces(ink: np.ndarray, config: NumberConfig) -> list[_Piece]:
    """Connected strokes (faint edges go to the nearest stroke), merged where they overlap in
    x, left to right."""
    strokes, count = ndimage.label(ink > PREPROCESS.stroke_level, structure=np.ones((3, 3)))
    if count == 0:
        return []
    # Each faint (anti-aliased) pixel belongs to the stroke nearest to it.
    _, (rows, cols) = ndimage.distance_transform_edt(strokes == 0, return_indices=True)
    owner = np.where(ink > 0, strokes[rows, cols], 0)
    boxes = ndimage.find_objects(owner)
    groups = _merge_overlapping(boxes, config)
    pieces = []
    for group in groups:
        rows = slice(min(boxes[i][0].start for i in group), max(boxes[i][0].stop for i in group))
        cols = slice(min(boxes[i][1].start for i in group), max(boxes[i][1].stop for i in group))
        mine = np.isin(owner[rows, cols], [i + 1 for i in group])
        pieces.append(_Piece(rows.start, cols.start, np.where(mine, ink[rows, cols], 0.0)))
    return sorted(pieces, key=lambda p: p.left + p.width / 2)


def _merge_overlapping(boxes: Sequence[tuple[slice, slice]], config: NumberConfig) -> list[list]:
    """Groups of stroke indices: strokes whose x-extents overlap by merge_overlap of the
    wider one are one digit; then a short group (a flag or bar drawn apart) joins the
    group nearest to it in x, if that is closer than half a digit height."""
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    cols = [(b[1].start, b[1].stop) for b in boxes]
    for i, a in enumerate(cols):
        for j in range(i + 1, len(cols)):
            b = cols[j]
            overlap = min(a[1], b[1]) - max(a[0], b[0])
            # Of the wider: neighbours of a slanted writer overlap a narrow 1 by half its width.
            if overlap >= config.merge_overlap * max(a[1] - a[0], b[1] - b[0]):
                parent[find(i)] = find(j)
    lone: set[int] = set()
    while True:
        groups = _groups(parent, find)
        extent = {
            root: (
                min(boxes[i][1].start for i in g),
                max(boxes[i][1].stop for i in g),
                max(boxes[i][0].stop for i in g) - min(boxes[i][0].start for i in g),
            )
            for root, g in groups.items()
        }
        heights = np.array([e[2] for e in extent.values()], dtype=float)
        height = float(np.median(heights[heights >= config.full_height * heights.max()]))
        short = [
            r for r, e in extent.items() if e[2] < config.full_height * height and r not in lone
        ]
        if not short or len(groups) == 1:
            return list(groups.values())
        root = min(short, key=lambda r: extent[r][2])  # the smallest first
        x0, x1, _ = extent[root]
        gap, nearest = min(
            (max(x0, e[0]) - min(x1, e[1]), r) for r, e in extent.items() if r != root
        )
        if gap > 0.5 * height:
            lone.add(root)  # a mark far from the rest: read on its own (and doubted)
        else:
            parent[root] = nearest


def _groups(parent: list[int], find: Any) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for i in range(len(parent)):
        groups.setdefault(find(i), []).append(i)
    return groups


def _digit_height(pieces: Sequence[_Piece], config: NumberConfig) -> float:
    """The drawing's digit height: the median height of its full-size pieces."""
    heights = np.array([p.height for p in pieces], dtype=float)
    return float(np.median(heights[heights >= config.full_height * heights.max()]))


# --- cutting touching digits ----------------------------------------------------------------


def _split(
    piece: _Piece,
    height: float,
    slant: Callable[[], float],
    reader: Reader,
    config: NumberConfig,
) -> tuple[list[_Piece], list[_Read], list[bool], bool]:
    """The piece as one digit or cut into several, left to right; for each part whether it is
    doubted (cutting was considered and the part is unlike a typical digit); and whether the
    piece is too wide for one digit yet no cut was found.

    Why the reader's confidence alone cannot decide: cut anywhere, a single digit leaves a
    sliver that reads as a confident "1", and touching digits often read as one confident
    digit. What tells them apart is the reader's uncertainty: two digits squeezed into one
    20x20 box look unlike any training digit, a lone wide 0 or 4 does not. So each way of
    cutting the piece into parts scores the sum over its parts of (log-confidence - doubt -
    split_margin), where doubt is the uncertainty over the reader's abstain threshold, and the
    best way wins (found by dynamic programming over the candidate cuts).
    """
    width = piece.width / height
    (whole,) = _read([piece], reader, config)
    can_be_one = width < config.must_split_width
    if width <= config.split_width or (
        width <= config.wide_part
        and _confident(whole, config)
        and _doubt(whole) < config.typical_doubt
    ):
        return [piece], [whole], [False], False  # the common case: one digit, read clearly
    # Upright cuts, and cuts along the writing's slant (a vertical cut between slanted digits
    # takes a piece of one into the other; the slant's estimate is rough): the better wins.
    found = [
        way
        for shear in dict.fromkeys((0.0, slant()))
        if (way := _best_cutting(piece, shear, height, whole, can_be_one, reader, config))
    ]
    if not found:  # no way through (cannot happen while the whole is allowed)
        return [piece], [whole], [False], True
    _, out_parts, out_reads = max(found, key=lambda way: way[0])
    # The whole did not read as one typical digit: the number is given only if every part does.
    if len(out_parts) == 1:  # one digit after all: if wide, doubted unless fairly typical
        doubted = [width > config.wide_part and _doubt(whole) >= config.whole_doubt]
    else:
        doubted = [
            _doubt(r) >= config.part_doubt or r.confidence < config.part_confidence
            for r in out_reads
        ]
    return out_parts, out_reads, doubted, len(out_parts) == 1 and not can_be_one


def _best_cutting(
    piece: _Piece,
    slant: float,
    height: float,
    whole: _Read,
    can_be_one: bool,
    reader: Reader,
    config: NumberConfig,
) -> tuple[float, list[_Piece], list[_Read]] | None:
    """The best way to cut the piece along lines of this slant (dynamic programming over the
    candidate cuts): its score, parts and their readings; None if no way is allowed.
    Columns (and cuts) are counted in the deslanted frame."""
    columns = _sheared_columns(piece, slant)
    span = int(columns.max()) + 1
    inner, valleys = _candidate_cuts(piece, columns, span, height, config)
    cuts = [0, *inner, span]
    valleys |= {0, span}
    low, high = config.min_one_width * height, config.must_split_width * height
    narrow = config.min_part_width * height
    # Only parts _allowed could let through are read: a narrow part not cut at valleys at both
    # ends never is, whatever it reads as (preparing each part costs ~2 ms; see _allowed).
    spans = [
        (i, j)
        for i in range(len(cuts))
        for j in range(i + 1, len(cuts))
        if low <= cuts[j] - cuts[i] <= high
        and (i, j) != (0, len(cuts) - 1)
        and (cuts[j] - cuts[i] >= narrow or (cuts[i] in valleys and cuts[j] in valleys))
    ]
    parts = {s: _columns(piece, columns, cuts[s[0]], cuts[s[1]]) for s in spans}
    reads = dict(zip(spans, _read(list(parts.values()), reader, config), strict=True))
    reads[0, len(cuts) - 1] = whole if can_be_one else _NOTHING
    parts[0, len(cuts) - 1] = piece
    # best[j]: the best score of the piece's columns up to cuts[j], and the cut before it.
    best: list[tuple[float, int]] = [(0.0, -1)] + [(-np.inf, -1)] * (len(cuts) - 1)
    for j in range(1, len(cuts)):
        for i in range(j):
            if (
                (i, j) in reads
                and best[i][0] > -np.inf
                and _allowed(
                    reads[i, j],
                    parts[i, j],
                    cuts[j] - cuts[i],
                    height,
                    cuts[i] in valleys and cuts[j] in valleys,
                    config,
                )
            ):
                # A part much wider than a digit is more likely two: it pays for the excess.
                excess = max(0.0, (cuts[j] - cuts[i]) / height - config.wide_part)
                score = best[i][0] + _score(reads[i, j], config) - config.split_margin - 2 * excess
                if score > best[j][0]:
                    best[j] = (score, i)
    chosen, j = [], len(cuts) - 1
    while j > 0 and best[j][1] >= 0:
        chosen.append((best[j][1], j))
        j = best[j][1]
    if j != 0:
        return None
    chosen.reverse()
    return best[-1][0], [parts[span] for span in chosen], [reads[span] for span in chosen]


def _doubt(read: _Read) -> float:
    """The reader's uncertainty as a fraction of its abstain threshold (0 for a plain model)."""
    if read.uncertainty is None or not read.threshold:
        return 0.0
    return read.uncertainty / read.threshold


def _confident(read: _Read, config: NumberConfig) -> bool:
    return read.digit is not None and not read.abstain and read.confidence >= config.min_confidence


def _score(read: _Read, config: NumberConfig) -> float:
    """Log-confidence less the doubt (uncertainty over the abstain threshold; below
    doubt_floor it earns nothing more), and far below any confident reading when the gate
    abstains."""
    penalty = max(_doubt(read), config.doubt_floor) + (10.0 if read.abstain else 0.0)
    return float(np.log(max(read.confidence, 1e-6))) - penalty


def _allowed(
    read: _Read, part: _Piece, width: int, height: float, valleys: bool, config: NumberConfig
) -> bool:
    """A part narrower than min_part_width is allowed only as a clear, typical 1 (a 1 touching
    its neighbour), never as a sliver of a wider digit: it must be cut where the ink is thin
    (valleys of the column profile, not the grid), be nearly as tall as a digit, and read as
    a confident 1 with little doubt. (The reader reads any sliver of a 0 or 8 as a clean 1.)"""
    if (
        read.digit == 1
        and config.ones_at_valleys
        and (not valleys or part.height < config.one_height * height)
    ):
        return False  # any part read as 1: a whole stroke cut where the ink is thin
    if width >= config.min_part_width * height:
        return True
    return (
        valleys
        and part.height >= config.one_height * height
        and read.digit == 1
        and read.confidence >= config.part_confidence
        and _doubt(read) < config.one_doubt
    )


def _candidate_cuts(
    piece: _Piece, columns: np.ndarray, span: int, height: float, config: NumberConfig
) -> tuple[list[int], set[int]]:
    """Columns to cut at: a grid cut_step digit-heights apart, plus the deepest minima of the
    ink's column profile (where touching digits meet, the ink is thin)."""
    step = max(1, round(config.cut_step * height))
    grid = np.arange(step, span - step // 2, step)
    ink = np.bincount(columns.ravel(), weights=piece.ink.ravel(), minlength=span)
    profile = ndimage.uniform_filter1d(ink, size=max(3, step // 3))
    inner = profile[1:-1]
    minima = 1 + np.flatnonzero((inner <= profile[:-2]) & (inner <= profile[2:]))
    deepest = minima[np.argsort(profile[minima], kind="stable")[: config.profile_cuts]]
    valleys = set(deepest.tolist())
    return sorted(set(grid.tolist()) | valleys), valleys


def _columns(piece: _Piece, columns: np.ndarray, start: int, stop: int) -> _Piece:
    """The piece's ink between two (deslanted) cuts, everything else zeroed."""
    inside = (columns >= start) & (columns < stop)
    return _trimmed(piece.top, piece.left, np.where(inside, piece.ink, 0.0))


def _sheared_columns(piece: _Piece, slant: float) -> np.ndarray:
    """Each pixel's column once the writing is deslanted (x + slant * (y - middle)), from 0."""
    rows, cols = np.indices(piece.ink.shape)
    sheared = np.rint(cols + slant * (rows - piece.height / 2)).astype(np.int64)
    sheared -= int(sheared[piece.ink > 0].min())
    # Paper pixels may fall outside the inked columns: they carry no ink, keep them in range.
    return np.clip(sheared, 0, int(sheared[piece.ink > 0].max()))


def _slant(ink: np.ndarray, config: NumberConfig) -> float:
    """The drawing's slant: the shear under which its ink's column profile is most peaked
    (upright strokes pile into few columns), the usual deslanting of handwriting."""
    rows, cols = np.nonzero(ink > PREPROCESS.stroke_level)
    if rows.size == 0 or config.max_slant <= 0:
        return 0.0
    weights = ink[rows, cols]
    middle = (rows.min() + rows.max()) / 2
    best, best_score = 0.0, 0.0
    slants = np.linspace(-config.max_slant, config.max_slant, 2 * config.slant_steps + 1)
    for slant in sorted(slants, key=abs):
        sheared = np.rint(cols + slant * (rows - middle)).astype(np.int64)
        profile = np.bincount(sheared - sheared.min(), weights=weights)
        score = float(profile @ profile)
        if score > best_score * (1 + 1e-9):  # ties: the more upright
            best, best_score = float(slant), score
    return best


def _trimmed(top: int, left: int, ink: np.ndarray) -> _Piece:
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return _Piece(top, left, ink[:0, :0])
    return _Piece(
        top + rows[0], left + cols[0], ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    )


# --- reading ----------------------------------------------------------------------------------


def _read(pieces: Sequence[_Piece], reader: Reader, config: NumberConfig) -> list[_Read]:
    """Each piece prepared as MNIST digits were, all read in one batch."""
    pixels = [_prepared(p, config) for p in pieces]
    found = [i for i, x in enumerate(pixels) if x is not None]
    reads = [_NOTHING] * len(pieces)
    if not found:
        return reads
    prediction = reader.predict(np.stack([pixels[i] for i in found]))
    probabilities, digits, abstain = (
        prediction.probabilities,
        prediction.digits,
        prediction.abstain,
    )
    uncertainty = prediction.uncertainty
    for row, i in enumerate(found):
        d = int(digits[row])
        reads[i] = _Read(
            d,
            float(probabilities[row, d]),
            bool(abstain[row]),
            None if uncertainty is None else float(uncertainty[row]),
            prediction.abstain_threshold,
        )
    return reads


def _prepared(piece: _Piece, config: NumberConfig) -> np.ndarray | None:
    """to_mnist on the piece's ink, padded with background so its border is paper."""
    if piece.ink.size == 0 or max(piece.ink.shape) < PREPROCESS.min_side:
        return None
    pad = max(2, round(config.pad * max(piece.ink.shape)))
    return to_mnist(np.pad(piece.ink, pad))


# --- the answer -------------------------------------------------------------------------------


def _box(piece: _Piece, scale: tuple[float, float]) -> tuple[int, int, int, int]:
    sx, sy = scale
    return (
        int(np.floor(piece.left * sx)),
        int(np.floor(piece.top * sy)),
        int(np.ceil(piece.right * sx)),
        int(np.ceil((piece.top + piece.height) * sy)),
    )


def _reason(
    readings: Sequence[DigitReading],
    doubted: Sequence[bool],
    uncut: Sequence[tuple],
    config: NumberConfig,
) -> tuple[str | None, int | None]:
    """Why the number is not given (None: it is), and the index of the digit that made it
    unsure: the first doubtful digit, else the first piece too wide for one digit."""
    n = len(readings)
    for k, r in enumerate(readings, start=1):
        where = f"digit {k} of {n} (box {list(r.box)})"
        if r.digit is None:
            return f"{where}: no digit found in this part", k - 1
        if r.abstain:
            return f"{where}: not sure this is a digit (uncertainty {r.uncertainty:.2f})", k - 1
        if r.confidence < config.min_confidence:
            return f"{where}: read as {r.digit} with only {r.confidence:.0%} confidence", k - 1
    for k, (r, doubt) in enumerate(zip(readings, doubted, strict=True), start=1):
        if doubt:
            return (
                f"digit {k} of {n} (box {list(r.box)}): read as {r.digit}, but unlike a typical "
                f"digit (uncertainty {r.uncertainty:.2f}): touching digits, or no digit?",
                k - 1,
            )
    if uncut:
        culprit = next((k for k, r in enumerate(readings) if r.box == uncut[0]), None)
        return f"touching digits in box {list(uncut[0])}: no cut reads clearly", culprit
    return None, None
