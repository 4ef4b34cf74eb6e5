"""Writing files so that a crash never leaves half of one behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write to a temp file in the same folder, then rename: a crash never leaves half a file."""
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
        write(tmp)
    os.replace(tmp.name, path)
