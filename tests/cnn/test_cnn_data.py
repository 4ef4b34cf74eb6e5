"""MNIST loader on the real files, on broken copies of them, and through a real (local) download."""

from __future__ import annotations

import gzip
import http.server
import os
import shutil
import tempfile
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from cnn.data import MnistError, find_mnist_dir, load_mnist, parse_idx
from serving import mnist as data  # cnn.data re-exports it; patch where the code lives

TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_test_split_matches_published_statistics(mnist_test):
    assert mnist_test.images.shape == (10_000, 28, 28) and mnist_test.images.dtype == np.uint8
    assert np.bincount(mnist_test.labels, minlength=10).tolist() == TEST_COUNTS
    assert mnist_test.images.mean() == pytest.approx(33.7912, abs=1e-3)


def test_real_train_split(mnist_train):
    assert len(mnist_train) == 60_000
    assert mnist_train.images.mean() / 255 == pytest.approx(data.MNIST_MEAN, abs=1e-4)
    assert (mnist_train.images / 255).std() == pytest.approx(data.MNIST_STD, abs=1e-4)


@pytest.fixture
def mnist_copy(tmp_path: Path) -> Path:
    src = find_mnist_dir(download=False)
    for name in data.FILES:
        shutil.copy(src / name, tmp_path / name)
    return tmp_path


def test_truncated_file_names_the_file(mnist_copy: Path):
    path = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(MnistError, match="t10k-labels-idx1-ubyte.gz.*truncated"):
        load_mnist("test", mnist_copy)


def test_cut_gzip_stream_is_reported(mnist_copy: Path):
    path = mnist_copy / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(MnistError, match="t10k-images-idx3-ubyte.gz.*not a valid gzip"):
        load_mnist("test", mnist_copy)


def test_wrong_magic(mnist_copy: Path):
    # Images where labels belong: the header's magic gives it away.
    shutil.copy(mnist_copy / "t10k-images-idx3-ubyte.gz", mnist_copy / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(MnistError, match="magic number 2051, expected 2049"):
        load_mnist("test", mnist_copy)


def test_html_page_saved_as_gz(mnist_copy: Path):
    path = mnist_copy / "t10k-images-idx3-ubyte.gz"
    path.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    with pytest.raises(MnistError, match="HTML page"):
        load_mnist("test", mnist_copy)


def test_wrong_image_size(tmp_path: Path):
    path = tmp_path / "x-idx3-ubyte"
    header = np.array([2051, 2, 32, 32], dtype=">u4").tobytes()
    path.write_bytes(header + bytes(2 * 32 * 32))
    with pytest.raises(MnistError, match="32x32 images, expected 28x28"):
        parse_idx(path, data.IMAGE_MAGIC)


def test_mnist_dir_without_files_says_how_to_fix(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    with pytest.raises(MnistError, match="Point MNIST_DIR at a folder"):
        find_mnist_dir()


def test_offline_download_fails_with_one_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MNIST_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(data, "MIRRORS", ("http://127.0.0.1:9/",))  # nothing listens on port 9
    with pytest.raises(MnistError, match="set MNIST_DIR"):
        find_mnist_dir(progress=False)
    assert not list((tmp_path / "bayes-cnn-lab" / "mnist").glob("*.gz"))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path: Path):
    """A real HTTP mirror on localhost serving a copy of the files (one of them corrupted)."""
    served = tmp_path / "served"
    served.mkdir()
    src = find_mnist_dir(download=False)
    for name in data.FILES:
        shutil.copy(src / name, served / name)

    def handler(*args, **kwargs):
        return _Quiet(*args, directory=str(served), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_md5_and_lands_atomically(tmp_path: Path, monkeypatch, mirror):
    served, url = mirror
    monkeypatch.delenv("MNIST_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "MIRRORS", (url,))
    root = find_mnist_dir(progress=False)
    assert root == tmp_path / "cache" / "bayes-cnn-lab" / "mnist"
    assert len(load_mnist("test", root)) == 10_000
    assert not list(root.glob("*.tmp"))

    # A mirror serving a tampered file is rejected by md5, and nothing is left behind.
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    with pytest.raises(MnistError, match="md5"):
        find_mnist_dir(progress=False)
    assert not (root / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list(root.glob("*.tmp"))


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch) -> Path:
    """A private user cache, so that the md5-verified list starts empty."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return data.verified_cache_file()


def _relabel(path: Path) -> None:
    """A well-formed label file with one label changed: only its md5 gives it away."""
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8] = (raw[8] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))


def test_a_tampered_local_file_is_refused(mnist_copy: Path, own_cache: Path):
    _relabel(mnist_copy / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(MnistError, match=r"t10k-labels-idx1-ubyte.gz is not the published.*md5"):
        load_mnist("test", mnist_copy)


def test_md5_is_checked_once_then_trusted_by_size_and_mtime(
    mnist_copy: Path, own_cache: Path, monkeypatch
):
    hashed = []
    real_md5 = data.hashlib.md5

    def counting_md5(*args, **kwargs):
        hashed.append(1)
        return real_md5(*args, **kwargs)

    monkeypatch.setattr(data.hashlib, "md5", counting_md5)
    load_mnist("test", mnist_copy)
    assert len(hashed) == 2 and own_cache.exists()
    load_mnist("test", mnist_copy)
    assert len(hashed) == 2  # cached: no file read twice
    labels = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    _relabel(labels)  # a new mtime (and content): verified again, and refused
    with pytest.raises(MnistError, match="md5"):
        load_mnist("test", mnist_copy)
    assert len(hashed) == 3


def _bomb(path: Path, promised: int, inflated: int) -> None:
    """An IDX label file whose header promises ``promised`` labels, followed by ``inflated``
    zero bytes: a few hundred KB of gzip."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(np.array([data.LABEL_MAGIC, promised], dtype=">u4").tobytes())
        block = bytes(1 << 20)
        for _ in range(inflated >> 20):
            f.write(block)


def test_a_gzip_bomb_is_read_only_as_far_as_its_header_promises(tmp_path: Path):
    path = tmp_path / "bomb-labels-idx1-ubyte.gz"
    _bomb(path, promised=10_000, inflated=64 << 20)  # 64 MB behind a ~64 KB file
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(MnistError, match="more data than its header promises"):
            parse_idx(path, data.LABEL_MAGIC)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # reading it whole took 64 MB


def test_a_header_promising_too_many_items_is_refused(tmp_path: Path):
    path = tmp_path / "x-labels-idx1-ubyte"
    path.write_bytes(np.array([data.LABEL_MAGIC, 4_000_000_000], dtype=">u4").tobytes())
    with pytest.raises(MnistError, match="promises 4000000000 items"):
        parse_idx(path, data.LABEL_MAGIC)


def _error_as_nobody(folder: Path) -> str:
    """load_mnist('test', folder) in a forked child that dropped root (root reads anything)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no imports needed, cnn.data is loaded already
        message = "no error"
        try:
            if os.getuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            load_mnist("test", folder)
        except BaseException as exc:  # noqa: BLE001 - the message is what we report
            message = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(write, message.encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return message


def test_permission_denied_says_so(own_cache: Path):
    folder = Path(tempfile.mkdtemp(prefix="mnist-perm-"))  # /tmp: others may enter it
    try:
        folder.chmod(0o755)
        src = find_mnist_dir(download=False)
        for name in data.split_files("test"):
            shutil.copy(src / name, folder / name)
        (folder / "t10k-images-idx3-ubyte.gz").chmod(0o000)
        message = _error_as_nobody(folder)
    finally:
        shutil.rmtree(folder)
    assert message.startswith("MnistError: permission denied reading ")
    assert "t10k-images-idx3-ubyte.gz" in message and "not a valid gzip" not in message


def test_the_test_split_needs_only_its_two_files(tmp_path: Path, monkeypatch, own_cache: Path):
    src = find_mnist_dir(download=False)
    for name in data.split_files("test"):
        shutil.copy(src / name, tmp_path / name)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    assert len(load_mnist("test")) == 10_000
    with pytest.raises(MnistError, match="missing: train-images-idx3-ubyte.gz"):
        load_mnist("train")
