"""MNIST from the four original IDX files: find, download, verify and parse them.

Lookup order: ``$MNIST_DIR``, then the user cache (``$XDG_CACHE_HOME/bayes-cnn-lab/mnist``),
then a download from the public mirrors into that cache, verified by md5 and written atomically.
Only the files a split needs are looked for (the test split: two files). Local files are checked
against the published md5s too, once: a small cache file remembers each verified file's size and
mtime. Reading is bounded by the IDX header's promise, so a gzip bomb costs nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from serving.files import atomic_write

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
MAX_ITEMS = 100_000  # more than any MNIST split: a header promising more is corrupt
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


def split_files(split: str) -> tuple[str, str]:
    """The two file names (images, labels) one split needs."""
    prefix, _ = SPLITS[split]
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def _missing(directory: Path, names: Iterable[str]) -> list[str]:
    return [name for name in names if not (directory / name).exists()]


def find_mnist_dir(
    download: bool = True, progress: bool = True, names: Iterable[str] = tuple(FILES)
) -> Path:
    """Return a directory holding ``names`` (default: all four files), downloading them into
    the cache if needed."""
    names = tuple(names)
    env = os.environ.get("MNIST_DIR")
    if env:
        directory = Path(env).expanduser()
        missing = _missing(directory, names)
        if missing:
            raise MnistError(
                f"MNIST_DIR={env} does not hold the MNIST files (missing: {', '.join(missing)}). "
                "Point MNIST_DIR at a folder with the *-ubyte.gz files, or unset it to "
                "download them."
            )
        return directory
    directory = cache_dir()
    missing = _missing(directory, names)
    if not missing:
        return directory
    if not download:
        raise MnistError(f"MNIST not found in {directory} and downloading is disabled.")
    for name in missing:
        download_file(name, FILES[name], directory, progress=progress)
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


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _read_error(path: Path, exc: BaseException) -> MnistError:
    if isinstance(exc, PermissionError):
        return MnistError(
            f"permission denied reading {path}: make it readable (chmod a+r {path}) or point "
            "MNIST_DIR at a readable copy."
        )
    if isinstance(exc, FileNotFoundError | IsADirectoryError):
        return MnistError(f"{path}: {exc.strerror}. Point MNIST_DIR at the MNIST files.")
    return MnistError(
        f"{path} is not a valid gzip file ({exc}); it may be truncated or an HTML page saved "
        "under that name. Delete it and download it again, or point MNIST_DIR elsewhere."
    )


def parse_idx(path: Path, magic: int, max_items: int = MAX_ITEMS) -> np.ndarray:
    """Parse an IDX file, checking its magic number and that its length matches the header.

    Reads the header first and then at most what it promises (plus one byte, to notice extra
    data): a small gzip file that inflates to gigabytes is refused after a few megabytes.
    """
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header_size = 4 * (1 + ndim)
    try:
        with _open(path) as f:
            header = f.read(header_size)
            if len(header) < header_size:
                raise MnistError(f"{path} is too short ({len(header)} bytes) to be an IDX file.")
            found, *dims = struct.unpack(f">{1 + ndim}I", header)
            if found != magic:
                raise MnistError(
                    f"{path} has magic number {found}, expected {magic}: wrong or corrupt file."
                )
            if ndim == 3 and tuple(dims[1:]) != (28, 28):
                raise MnistError(f"{path} holds {dims[1]}x{dims[2]} images, expected 28x28.")
            if dims[0] > max_items:
                raise MnistError(
                    f"{path} promises {dims[0]} items (more than {max_items}): corrupt file."
                )
            size = int(np.prod(dims))
            body = f.read(size + 1)
    except MnistError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(path, exc) from exc
    if len(body) > size:
        raise MnistError(
            f"{path} holds more data than its header promises ({header_size + size} bytes): "
            "corrupt file. Delete it and download it again."
        )
    if len(body) < size:
        raise MnistError(
            f"{path} has {header_size + len(body)} bytes but its header promises "
            f"{header_size + size}: truncated or corrupt."
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def verified_cache_file() -> Path:
    """Where the size + mtime of md5-verified files are remembered."""
    return cache_dir().parent / "mnist-verified.json"


def verify_file(path: Path) -> None:
    """Check a known MNIST file against its published md5, once per (size, mtime).

    A file that fails gets the most specific diagnosis we have: what parsing it says (truncated,
    HTML page, wrong magic), else "md5 mismatch".
    """
    expected = FILES.get(path.name)
    if expected is None:
        return
    try:
        info = path.stat()
        stamp = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "md5": expected}
        key = str(path.resolve())
        cache = _load_cache()
        if cache.get(key) == stamp:
            return
        digest = hashlib.md5()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise _read_error(path, exc) from exc
    if digest.hexdigest() != expected:
        parse_idx(path, IMAGE_MAGIC if "images" in path.name else LABEL_MAGIC)  # a clearer error?
        raise MnistError(
            f"{path} is not the published MNIST file (md5 {digest.hexdigest()}, expected "
            f"{expected}): it was modified or is corrupt. Delete it and download it again, or "
            "point MNIST_DIR at the original files."
        )
    # Entries of files that are gone (test copies, moved folders) are dropped: the file stays small.
    cache = {k: v for k, v in cache.items() if Path(k).exists()} | {key: stamp}
    with contextlib.suppress(OSError):  # a read-only home only costs the md5 next time
        target = verified_cache_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda f: f.write(json.dumps(cache, indent=1).encode()))


def _load_cache() -> dict:
    try:
        cache = json.loads(verified_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def load_mnist(split: str = "train", directory: Path | str | None = None) -> MnistSplit:
    """Load one split (``train`` or ``test``) as uint8 arrays, validated."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    _, count = SPLITS[split]
    names = split_files(split)
    root = Path(directory) if directory is not None else find_mnist_dir(names=names)
    for name in names:
        verify_file(root / name)
    images = parse_idx(root / names[0], IMAGE_MAGIC)
    labels = parse_idx(root / names[1], LABEL_MAGIC)
    for name, arr in (("images", images), ("labels", labels)):
        if len(arr) != count:
            raise MnistError(f"MNIST {split} {name}: {len(arr)} items, expected {count}.")
    if labels.max() > 9:
        raise MnistError(f"MNIST {split} labels hold values above 9: corrupt label file.")
    return MnistSplit(images=images, labels=labels)
