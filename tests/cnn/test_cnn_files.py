"""cnn.files.atomic_write: all or nothing, no temp file left behind, the umask's mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cnn.files import atomic_write, current_umask


def test_writes_and_replaces(tmp_path: Path):
    path = tmp_path / "metrics.json"
    atomic_write(path, lambda f: f.write(b"one"))
    atomic_write(path, lambda f: f.write(b"two"))
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"good")

    def half_then_crash(f):
        f.write(b"half of a new file")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_a_failed_check_leaves_the_old_file(tmp_path: Path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"good")
    seen = []

    def check(written: Path) -> None:
        seen.append(written.read_bytes())
        raise ValueError("not a model")

    with pytest.raises(ValueError, match="not a model"):
        atomic_write(path, lambda f: f.write(b"broken"), check=check)
    assert seen == [b"broken"] and path.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_mode_follows_the_umask(tmp_path: Path, umask: int):
    before = os.umask(umask)
    try:
        assert current_umask() == umask
        atomic_write(tmp_path / "out.bin", lambda f: f.write(b"x"))
        (tmp_path / "plain.bin").write_bytes(b"x")  # what open() would have made
    finally:
        os.umask(before)
    mode = stat.S_IMODE((tmp_path / "out.bin").stat().st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain.bin").stat().st_mode)
