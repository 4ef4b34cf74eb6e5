"""MNIST loader on the real files, on broken copies of them, and through a real (local) download."""

from __future__ import annotations

import gzip
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from cnn import data
from cnn.data import MnistError, find_mnist_dir, load_mnist, parse_idx

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
