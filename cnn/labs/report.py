"""What every lab returns (numbers + figures) and how the CLI writes it to disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


@dataclass
class LabResult:
    """``numbers`` is JSON-ready; ``figures`` maps a file stem to a matplotlib Figure."""

    name: str
    numbers: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)


def save_lab(result: LabResult, out: Path | str, dpi: int = 110) -> list[Path]:
    """Write ``<stem>.png`` per figure and ``<name>.json``; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, fig in result.figures.items():
        path = out / f"{stem}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    path = out / f"{result.name}.json"
    path.write_text(json.dumps(result.numbers, indent=2) + "\n")
    return [*paths, path]


PX_PER_INCH = 75  # every lab figure is shown at this scale, so sizes stay consistent


def display_width(fig: Figure) -> int:
    """On-screen width in pixels for ``st.pyplot(fig, width=...)``/``st.image``: proportional to
    the figure's width in inches (a 12-inch figure shows 900 px wide), never the page's width."""
    return int(fig.get_figwidth() * PX_PER_INCH)


def picture(fig: Figure, dpi: int = 150) -> tuple[bytes, int]:
    """(PNG bytes, on-screen width): a figure drawn once, so a cached page shows it again on
    every rerun without redrawing it (matplotlib takes seconds for the bigger ones)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue(), display_width(fig)
