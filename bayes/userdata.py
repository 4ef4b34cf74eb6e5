"""The user's own data: two numeric columns of a CSV file (or a data frame from the app).

Every problem gets one ``DataError`` that names it and says what to do: a missing or unreadable
file, a missing column (the available ones are listed), non-numeric or NaN/inf values (the file's
line numbers are listed), fewer than 3 points, a constant x, more than ``MAX_N`` rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes.data import MAX_N, DataError, Dataset

MIN_POINTS = 3


def _lines(rows: np.ndarray, header_lines: int = 1, limit: int = 5) -> str:
    """Data-frame row positions -> the file's 1-based line numbers, the first few only."""
    shown = ", ".join(str(int(r) + 1 + header_lines) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _numeric(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    text = raw.astype(str).str.strip()
    missing = raw.isna().to_numpy() | text.isin(["", "nan", "NaN", "None"]).to_numpy()
    bad = np.flatnonzero(np.isnan(values) & ~missing)
    if bad.size:
        raise DataError(
            f"column {column!r} has non-numeric values ({text.iloc[bad[0]]!r}) {where} "
            f"{_lines(bad)}; fix or delete those rows"
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(
            f"column {column!r} has empty, NaN or infinite values {where} {_lines(bad)}; "
            "fill in or delete those rows"
        )
    return values


def dataset_from_frame(
    frame: pd.DataFrame, x: str, y: str, source: str = "your data", where: str = "on lines"
) -> Dataset:
    """Validate two columns of ``frame`` and wrap them as a ``Dataset`` with unknown sigma."""
    for role, column in (("x", x), ("y", y)):
        if column not in frame.columns:
            names = ", ".join(map(str, frame.columns)) or "none"
            raise DataError(
                f"no column {column!r} for {role} (columns: {names}); "
                f"pass --{role} with one of them"
            )
    if len(frame) > MAX_N:
        raise DataError(
            f"{len(frame):,} rows is more than the {MAX_N:,} this tool fits (memory); "
            "use a random subsample"
        )
    xs, ys = _numeric(frame, x, where), _numeric(frame, y, where)
    if len(xs) < MIN_POINTS:
        raise DataError(f"need at least {MIN_POINTS} points to fit a curve (got {len(xs)})")
    if np.ptp(xs) == 0:
        raise DataError(f"column {x!r} is constant ({xs[0]:g}): a curve in x needs varying x")
    return Dataset(x=xs, y=ys, source=source, x_label=str(x), y_label=str(y))


def read_table(source, name: str, sep: str = ",") -> pd.DataFrame:
    """A CSV (path or file-like, e.g. an upload) as strings, or one DataError naming ``name``."""
    try:
        frame = pd.read_csv(source, sep=sep, dtype=str, skipinitialspace=True)
    except PermissionError as exc:
        raise DataError(f"cannot read {name}: permission denied") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{name} is empty; it needs a header line and data rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{name} is not a readable CSV file ({first}); check the separator"
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def load_csv(path: str | Path, x: str, y: str, sep: str = ",") -> Dataset:
    """Read ``path`` and take columns ``x`` and ``y`` (see the module docstring for errors)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}; check the path given to --csv")
    frame = read_table(path, str(path), sep)
    if len(frame.columns) == 1 and x != y and sep == ",":
        hint = " (one column found: is the separator ';' or a tab? pass --sep)"
    else:
        hint = ""
    try:
        return dataset_from_frame(frame, x, y, source=path.name)
    except DataError as exc:
        raise DataError(f"{path}: {exc}{hint}") from exc
