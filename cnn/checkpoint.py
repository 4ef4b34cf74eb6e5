"""Checkpoints and run folders: safe to load, never silently replaced, one writer at a time.

A checkpoint is loaded with ``torch.load(weights_only=True)``: only tensors and plain Python
containers are unpickled, so a crafted ``.pt`` cannot run code. Its structure is then checked
key by key, so a foreign or truncated file gets one error naming it instead of a ``KeyError``
from deep inside the training loop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from cnn.files import atomic_write

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
LOCK = ".lock"
REQUIRED_CONFIG = ("epochs", "seed", "batch_size", "lr", "dropout", "augment", "command")


class CheckpointError(ValueError):
    """A file given as a training checkpoint is not one (torn, foreign, crafted, another model)."""


class RunFolderError(ValueError):
    """An output folder that must not be written to (holds a run, is locked, is not writable)."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda f: torch.save(state, f))


def read_checkpoint(path: Path | str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The saved training state, or CheckpointError naming the file when it is not one."""
    if not _torch_file(path):  # random bytes, an ONNX file: say so, not "Python objects"
        raise CheckpointError(
            f"{path} is not a DigitCNN training checkpoint (not a file torch.save writes: no zip "
            "or pickle header); pass OUT/checkpoint.pt written by `python -m cnn train`."
        )
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # unpickling refused, zip/pickle errors: not our checkpoint
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it holds Python objects other than tensors and plain data (refused unloaded)"
        raise CheckpointError(
            f"{path} is not a DigitCNN training checkpoint ({type(exc).__name__}: {reason[:200]}); "
            "pass OUT/checkpoint.pt written by `python -m cnn train`."
        ) from exc
    problem = _structure_problem(state)
    if problem:
        raise CheckpointError(
            f"{path} is not a DigitCNN training checkpoint ({problem}); "
            "pass OUT/checkpoint.pt written by `python -m cnn train`."
        )
    return state


def _torch_file(path: Path | str) -> bool:
    """torch.save writes a zip archive (or, before PyTorch 1.6, a pickle); a missing file is
    left to torch.load's own error."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return True
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _structure_problem(state: Any) -> str | None:
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a dict"
    config = state.get("config")
    if not isinstance(config, dict):
        return "no training config in it"
    missing = [key for key in REQUIRED_CONFIG if key not in config]
    if missing:
        return f"its config lacks {', '.join(missing)}"
    if not isinstance(state.get("epoch"), int) or not isinstance(state.get("history"), list):
        return "no epoch counter or history in it"
    model = state.get("model")
    if not isinstance(model, dict) or not all(isinstance(v, torch.Tensor) for v in model.values()):
        return "no model weights in it"
    return None


def run_in(out: Path) -> str | None:
    """A description of the run an output folder already holds, or None when it holds none."""
    ckpt, metrics = out / CHECKPOINT, out / METRICS
    if ckpt.exists():
        try:
            state = read_checkpoint(ckpt)
            return f"a run at epoch {state['epoch']} of {state['config']['epochs']}"
        except CheckpointError:
            return f"a file {CHECKPOINT} that is not a readable checkpoint"
    if metrics.exists():
        return f"a finished run's {METRICS}"
    return None


def prepare_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to replace a run unless asked; prove the folder is writable before any work."""
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite contradict each other; pass one of them.")
    held = run_in(out) if out.is_dir() else None
    if resume and not (out / CHECKPOINT).is_file():
        raise RunFolderError(
            f"--resume: {out} holds no {CHECKPOINT} to continue (is --out spelled right?); "
            "drop --resume to start a new run there."
        )
    if held and not (resume or overwrite):
        raise RunFolderError(
            f"{out} already holds {held}; pass --resume to continue it, --overwrite to replace "
            "it, or choose another --out."
        )
    try:
        _probe_writable(out)
    except OSError as exc:
        raise RunFolderError(
            f"cannot write to the output folder {out} ({exc.strerror or exc}); "
            "choose a writable --out."
        ) from exc
    if overwrite and held:
        check_unlocked(out)  # before deleting: the files may be a running training's
        for name in (CHECKPOINT, METRICS):
            (out / name).unlink(missing_ok=True)


def check_unlocked(out: Path) -> None:
    """RunFolderError when a live training run holds ``out``'s lock (a stale lock is ignored)."""
    pid = _lock_pid(out / LOCK)
    if pid is not None and pid != os.getpid() and _alive(pid):
        raise RunFolderError(_in_use(out, pid))


def _in_use(out: Path, pid: int) -> str:
    return (
        f"{out} is in use by another training run (PID {pid}); wait for it to finish or use "
        "another --out."
    )


def check_output_file(path: Path | str) -> Path:
    """Fail before any work when a file cannot be written where asked (folder made if missing)."""
    path = Path(path)
    if path.is_dir():
        raise RunFolderError(f"{path} is a folder; give a file name, e.g. {path / 'model.onnx'}.")
    try:
        _probe_writable(path.parent)
    except OSError as exc:
        raise RunFolderError(
            f"cannot write {path} ({exc.strerror or exc}); choose a writable --out."
        ) from exc
    return path


def _probe_writable(folder: Path) -> None:
    """Make the folder if needed and write (then remove) an empty file in it; OSError if not."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-test-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


class RunLock:
    """``out/.lock`` holding this process's PID while a run writes to the folder.

    A second run on the same folder fails at once naming the first's PID; a lock left by a
    killed process (its PID no longer alive) is taken over.
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK
        self.held = False

    def __enter__(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = _lock_pid(self.path)
                if pid is not None and _alive(pid):
                    raise RunFolderError(_in_use(self.path.parent, pid)) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self.held = True
            return self
        raise RunFolderError(f"could not take the lock {self.path}; remove it if no run is active.")

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _lock_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
