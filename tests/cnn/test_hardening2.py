"""Hardening round 2 (issue 19), the cnn side: no command overwrites its own input, a second
``train --overwrite`` deletes nothing a running training holds, ``--resume`` without a checkpoint
stops, and broken ONNX files or a missing laplace-torch get one line before any slow work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from cnn.checkpoint import LOCK, RunFolderError, prepare_run_folder
from cnn.export import export_onnx, model_from_onnx
from cnn.files import OutputIsInputError, refuse_input_as_output, same_file

ROOT = Path(__file__).resolve().parents[2]
MAP_MODEL = ROOT / "models" / "mnist_cnn.onnx"


def _spellings(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """One file, and four other ways to name it."""
    original = tmp_path / "run" / "checkpoint.pt"
    original.parent.mkdir()
    original.write_bytes(b"the training checkpoint")
    (tmp_path / "link.pt").symlink_to(original)
    os.link(original, tmp_path / "hard.pt")
    return original, {
        "same path": original,
        "../ spelling": tmp_path / "run" / ".." / "run" / "checkpoint.pt",
        "symlink": tmp_path / "link.pt",
        "hard link": tmp_path / "hard.pt",
    }


def test_same_file_sees_every_spelling_and_nothing_else(tmp_path: Path):
    original, names = _spellings(tmp_path)
    for how, path in names.items():
        assert same_file(original, path), how
        with pytest.raises(OutputIsInputError, match="would destroy the input"):
            refuse_input_as_output(path, {"--checkpoint": original})
    other = tmp_path / "run" / "model.onnx"
    assert not same_file(original, other)  # does not exist yet: compared by spelling
    other.write_bytes(original.read_bytes())  # equal bytes, another file
    assert not same_file(original, other)
    refuse_input_as_output(other, {"--checkpoint": original, "--unused": None})


@pytest.mark.parametrize("how", ["same path", "../ spelling", "symlink", "hard link"])
def test_export_refuses_to_write_over_its_checkpoint(tmp_path: Path, how: str):
    """The old failure: `cnn export --checkpoint R/checkpoint.pt --out R/checkpoint.pt` replaced
    the checkpoint with the ONNX file and printed "wrote ...", exit 0."""
    original, names = _spellings(tmp_path)
    with pytest.raises(OutputIsInputError, match="--checkpoint file"):
        export_onnx(original, names[how])
    assert original.read_bytes() == b"the training checkpoint"


def test_export_cli_says_so_in_one_line(tmp_path: Path, capsys):
    from cnn.__main__ import main

    original, _ = _spellings(tmp_path)
    assert main(["export", "--checkpoint", str(original), "--out", str(original)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would destroy the input" in err, err
    assert original.read_bytes() == b"the training checkpoint"


def test_posterior_refuses_to_write_over_its_model(tmp_path: Path, capsys):
    from cnn.__main__ import main

    model = tmp_path / "map.onnx"
    model.write_bytes(MAP_MODEL.read_bytes())
    (tmp_path / "bayes.onnx").symlink_to(model)
    args = ["posterior", "--model", str(model), "--out", str(tmp_path / "bayes.onnx")]
    assert main([*args, "--cache", str(tmp_path / "cache")]) == 2
    assert "is the --model file" in capsys.readouterr().err
    assert model.read_bytes() == MAP_MODEL.read_bytes()
    assert not (tmp_path / "cache").exists()


def _live_pid() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_overwrite_checks_the_lock_before_deleting_anything(tmp_path: Path):
    """The old failure: a second `train --overwrite` deleted the running run's checkpoint.pt and
    metrics.json, then said the folder was in use."""
    (tmp_path / "checkpoint.pt").write_bytes(b"epoch 3 of a running run")
    (tmp_path / "metrics.json").write_text("{}")
    running = _live_pid()
    try:
        (tmp_path / LOCK).write_text(f"{running.pid}\n")
        with pytest.raises(
            RunFolderError, match=f"in use by another training run .PID {running.pid}"
        ):
            prepare_run_folder(tmp_path, resume=False, overwrite=True)
        assert (tmp_path / "checkpoint.pt").read_bytes() == b"epoch 3 of a running run"
        assert (tmp_path / "metrics.json").exists()
    finally:
        running.kill()
        running.wait()
    prepare_run_folder(tmp_path, resume=False, overwrite=True)  # its process is gone: stale lock
    assert not (tmp_path / "checkpoint.pt").exists()


def test_resume_without_a_checkpoint_stops_in_one_line(tmp_path: Path):
    """The old failure: a typo in --out with --resume trained from epoch 1 without a word."""
    with pytest.raises(RunFolderError, match="holds no checkpoint.pt to continue"):
        prepare_run_folder(tmp_path / "runs" / "mnsit", resume=True, overwrite=False)
    done = subprocess.run(
        [sys.executable, "-m", "cnn", "train", "--out", str(tmp_path / "typo"), "--resume"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--resume" in done.stderr and not (tmp_path / "typo" / "metrics.json").exists()


def _traversal_model(path: Path) -> Path:
    """The MAP model with one weight moved 'outside' to ../../../../etc/passwd."""
    proto = onnx.load(str(MAP_MODEL))
    tensor = proto.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "../../../../etc/passwd"), ("offset", "0"), ("length", "64")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    path.write_bytes(proto.SerializeToString())
    return path


@pytest.mark.parametrize("kind", ["truncated", "traversal", "random bytes"])
def test_a_broken_onnx_is_one_line_for_posterior_and_uncertainty(tmp_path: Path, kind: str):
    """The old failure: 28-35 lines of protobuf/onnx traceback."""
    path = tmp_path / "model.onnx"
    if kind == "truncated":
        path.write_bytes(MAP_MODEL.read_bytes()[:3000])
    elif kind == "traversal":
        _traversal_model(path)
    else:
        path.write_bytes(os.urandom(5000))
    with pytest.raises(ValueError, match=str(path)):
        model_from_onnx(path)
    for command in (
        ["posterior", "--model", str(path), "--out", str(tmp_path / "b.onnx")],
        ["uncertainty", "--model", str(MAP_MODEL), "--bayes", str(path)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cnn", *command, "--cache", str(tmp_path / "cache")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and str(path) in done.stderr, done.stderr


def test_posterior_says_laplace_torch_is_missing_before_any_feature(tmp_path: Path):
    """The old failure: 20 s of features, then the hint."""
    code = (
        "import sys; sys.modules['laplace'] = None\n"  # as if not installed
        "from cnn.__main__ import main\n"
        f"sys.exit(main(['posterior', '--out', {str(tmp_path / 'b.onnx')!r}, "
        f"'--cache', {str(tmp_path / 'cache')!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "laplace-torch is not installed" in done.stderr, done.stderr
    assert not (tmp_path / "cache").exists()  # no feature was computed (or cached)


def test_evaluate_names_random_bytes_and_reads_model_dot_onnx_uppercase(tmp_path: Path):
    """The old failures: random bytes "hold Python objects other than tensors"; model.ONNX was
    read as a checkpoint."""
    from cnn.checkpoint import CheckpointError, read_checkpoint
    from cnn.evaluate import evaluate_model

    noise = tmp_path / "noise.bin"
    noise.write_bytes(os.urandom(5000).replace(b"PK", b"pk").lstrip(b"\x80") or b"x")
    with pytest.raises(CheckpointError, match="not a file torch.save writes"):
        read_checkpoint(noise)
    upper = tmp_path / "model.ONNX"
    upper.write_bytes(MAP_MODEL.read_bytes())
    assert evaluate_model(upper)["test_accuracy"] > 0.99
