"""Writing files so that a crash never leaves half of one behind; naming a file by its hash."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from functools import cache
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


class OutputIsInputError(ValueError):
    """An output path names one of the command's input files: writing would destroy it."""


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when two paths name one file, however spelled: the same path, ``../`` detours, a
    symlink or a hard link (same device and inode). A path that does not exist yet is compared
    by its resolved spelling (a dangling symlink resolves to where it would write)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return Path(a).resolve() == Path(b).resolve()


def refuse_input_as_output(out: str | Path, inputs: dict[str, str | Path | None]) -> None:
    """OutputIsInputError when ``out`` is one of ``inputs`` (flag -> path), before any work.

    Why one helper: every command that writes a file (export, posterior, quantize,
    export-triton) must refuse to overwrite what it reads, and they must agree on what "the same
    file" means.
    """
    for flag, path in inputs.items():
        if path is not None and same_file(path, out):
            raise OutputIsInputError(
                f"the output {out} is the {flag} file {path}: writing it would destroy the input "
                "it reads; pass another output path"
            )


def sha256_of(path: Path | str) -> str:
    """The file's sha256 (metadata and metrics name the files they came from by it). Hashed once
    per file version (path, inode, mtime, size): a training run asks at each metrics write."""
    path = Path(path)
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_ino, stat.st_mtime_ns, stat.st_size)


@cache
def _sha256(path: Path, inode: int, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
