"""Writing files so that a crash never leaves half of one behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(
    path: Path,
    write: Callable[[IO[bytes]], object],
    check: Callable[[Path], object] | None = None,
) -> None:
    """Write to a temp file in the same folder, then rename: a crash never leaves half a file.

    ``check`` gets the finished temp file before the rename (load it, validate it): if it raises,
    the old file stays as it was. On any failure the temp file is removed. The new file gets the
    mode a plain ``open(path, "wb")`` would give (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    tmp = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, 0o666 & ~current_umask())
        if check is not None:
            check(Path(tmp.name))
        os.replace(tmp.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (threads may be creating
    files meanwhile); elsewhere set-and-restore."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
