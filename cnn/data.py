"""MNIST from the four original IDX files: find, download, verify and parse them.

Lookup order: ``$MNIST_DIR``, then the user cache (``$XDG_CACHE_HOME/bayes-cnn-lab/mnist``),
then a download from the public mirrors into that cache, verified by md5 and written atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnn.files import atomic_write

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# Published md5s of the gzipped originals.
FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
SPLITS = {"train": ("train", 60_000), "test": ("t10k", 10_000)}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
# Pixel statistics of the training set on a 0..1 scale (used inside the model's graph).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class MnistError(RuntimeError):
    """MNIST is missing, corrupt or could not be downloaded; the message says what to do."""


@dataclass(frozen=True)
class MnistSplit:
    images: np.ndarray  # uint8 [N, 28, 28], ink high
    labels: np.ndarray  # uint8 [N]

    def __len__(self) -> int:
        return len(self.labels)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bayes-cnn-lab" / "mnist"


def _has_all(directory: Path) -> bool:
    return all((directory / name).exists() for name in FILES)


def find_mnist_dir(download: bool = True, progress: bool = True) -> Path:
    """Return a directory holding the four files, downloading them into the cache if needed."""
    env = os.environ.get("MNIST_DIR")
    if env:
        directory = Path(env).expanduser()
        if not _has_all(directory):
            missing = [n for n in FILES if not (directory / n).exists()]
            raise MnistError(
                f"MNIST_DIR={env} does not hold the MNIST files (missing: {', '.join(missing)}). "
                "Point MNIST_DIR at a folder with the four *-ubyte.gz files, or unset it to "
                "download them."
            )
        return directory
    directory = cache_dir()
    if _has_all(directory):
        return directory
    if not download:
        raise MnistError(f"MNIST not found in {directory} and downloading is disabled.")
    for name, md5 in FILES.items():
        if not (directory / name).exists():
            download_file(name, md5, directory, progress=progress)
    return directory


def download_file(name: str, md5: str, directory: Path, progress: bool = True) -> Path:
    """Fetch one file from the first mirror that answers; verify md5; move into place atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in MIRRORS:
        try:
            data = _fetch(mirror + name, progress)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            errors.append(f"{mirror}: {exc}")
            continue
        digest = hashlib.md5(data).hexdigest()
        if digest != md5:
            errors.append(f"{mirror}: md5 {digest} != expected {md5}")
            continue
        atomic_write(directory / name, lambda f: f.write(data))
        return directory / name
    raise MnistError(
        f"could not download {name} (offline?). Tried:\n  " + "\n  ".join(errors) + "\n"
        "Fix: download the four MNIST *-ubyte.gz files by hand and set MNIST_DIR=/path/to/them."
    )


def _fetch(url: str, progress: bool) -> bytes:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        chunks = []
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=url.rsplit("/", 1)[-1],
            disable=not progress,
        ) as bar:
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                bar.update(len(chunk))
    return b"".join(chunks)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise MnistError(
            f"{path} is not a valid gzip file ({exc}); it may be truncated or an HTML page saved "
            "under that name. Delete it and download it again, or point MNIST_DIR elsewhere."
        ) from exc


def parse_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an IDX file, checking its magic number and that its length matches the header."""
    raw = _read_bytes(path)
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header_size = 4 * (1 + ndim)
    if len(raw) < header_size:
        raise MnistError(f"{path} is too short ({len(raw)} bytes) to be an IDX file.")
    found, *dims = struct.unpack(f">{1 + ndim}I", raw[:header_size])
    if found != magic:
        raise MnistError(
            f"{path} has magic number {found}, expected {magic}: wrong or corrupt file."
        )
    if ndim == 3 and tuple(dims[1:]) != (28, 28):
        raise MnistError(f"{path} holds {dims[1]}x{dims[2]} images, expected 28x28.")
    expected = header_size + int(np.prod(dims))
    if len(raw) != expected:
        raise MnistError(
            f"{path} has {len(raw)} bytes but its header promises {expected}: truncated or corrupt."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(dims)


def load_mnist(split: str = "train", directory: Path | str | None = None) -> MnistSplit:
    """Load one split (``train`` or ``test``) as uint8 arrays, validated."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    prefix, count = SPLITS[split]
    root = Path(directory) if directory is not None else find_mnist_dir()
    images = parse_idx(root / f"{prefix}-images-idx3-ubyte.gz", IMAGE_MAGIC)
    labels = parse_idx(root / f"{prefix}-labels-idx1-ubyte.gz", LABEL_MAGIC)
    for name, arr in (("images", images), ("labels", labels)):
        if len(arr) != count:
            raise MnistError(f"MNIST {split} {name}: {len(arr)} items, expected {count}.")
    if labels.max() > 9:
        raise MnistError(f"MNIST {split} labels hold values above 9: corrupt label file.")
    return MnistSplit(images=images, labels=labels)
