"""Open an ONNX model in ONNX Runtime once, and check that it is the digit model we expect."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort

from serving.paths import DEFAULT_MODEL, INT8_MODEL, MAP_MODEL, ROOT  # noqa: F401 (re-exported)

INPUT_SHAPE = (1, 28, 28)  # after the batch axis
CLASSES = 10
FLOAT_TENSOR = "tensor(float)"
# Operators a digit model never needs and a hostile file can use to run without end (a Loop of
# 10^15 steps hung `serving predict` forever). Scan is bounded by its input; If runs once.
UNBOUNDED_OPS = frozenset({"Loop"})
TEST_RUN_LIMIT_S = 10.0  # a digit model answers one image in milliseconds
QUIET = 4  # ONNX Runtime logs only fatal errors: ours are one line, its own are coloured noise
ort.set_default_logger_severity(QUIET)


class ModelError(ValueError):
    """The file is missing, unreadable or not a [N,1,28,28] -> [N,10] digit model."""


class ModelRunError(ModelError):
    """The model failed while running (out of memory, a bad kernel, a time limit)."""


def session_options(
    intra_op_threads: int | None = None, spinning: bool = True
) -> ort.SessionOptions:
    """All graph optimizations on; ``intra_op_threads=None`` lets ONNX Runtime use every core.

    ``spinning=False`` makes idle pool threads sleep instead of busy-waiting for work: a server
    that runs many sessions (Ray Serve replicas) or serves between requests needs its cores back.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads is not None:
        if intra_op_threads < 1:
            raise ValueError(
                f"intra_op_threads must be >= 1 (or None for all cores), got {intra_op_threads}"
            )
        options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = QUIET  # failures reach us as exceptions, told in one line
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def open_session(
    path: str | Path, intra_op_threads: int | None = None, spinning: bool = True
) -> ort.InferenceSession:
    """An InferenceSession on the CPU for a checked digit model; ModelError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"model file {path} does not exist; export one with `python -m cnn export "
            "--checkpoint runs/mnist/checkpoint.pt --out models/mnist_cnn.onnx` or pass --model"
        )
    options = session_options(intra_op_threads, spinning)  # a bad thread count is not the file's
    check_operators(path)
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ONNX Runtime raises its own pybind error types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path} is not a readable ONNX model ({first_line}); re-export it with "
            "`python -m cnn export` or pass another --model"
        ) from exc
    check_signature(session, path)
    trial_run(session, path)
    return session


def check_operators(path: Path) -> None:
    """ModelError when the graph (or any subgraph or function in it) holds an operator that
    can run without end; unreadable files are left to ONNX Runtime's own message."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - InferenceSession says what is wrong with the file
        return
    found = sorted({node.op_type for node in _nodes(model)} & UNBOUNDED_OPS)
    if found:
        raise ModelError(
            f"{path} is not a digit model: it holds {', '.join(found)} operators, which can run "
            "without end (a digit model needs none); re-export it with `python -m cnn export`"
        )


def _nodes(model) -> Iterator:
    graphs = [model.graph, *(f for f in model.functions)]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            yield node
            for attribute in node.attribute:
                graphs.extend([attribute.g] if attribute.HasField("g") else [])
                graphs.extend(attribute.graphs)


def trial_run(session: ort.InferenceSession, path: str | Path) -> None:
    """Run one blank image under a time limit: a model that hangs, or asks for more memory than
    there is, is refused at load (in one line) instead of failing each request later."""
    outputs = [o.name for o in session.get_outputs()]
    feed = {session.get_inputs()[0].name: np.zeros((1, *INPUT_SHAPE), np.float32)}
    run_session(
        session, outputs, feed, path, limit_s=TEST_RUN_LIMIT_S, what="a test run on one image"
    )


def run_session(
    session: ort.InferenceSession,
    outputs: list[str] | None,
    feed: dict[str, np.ndarray],
    path: str | Path,
    limit_s: float | None = None,
    what: str = "while running",
) -> list[np.ndarray]:
    """session.run, with ONNX Runtime's failures (allocation, kernels, time limit) as one
    ModelRunError line naming the file."""
    options = ort.RunOptions()
    options.log_severity_level = QUIET
    timer = None
    if limit_s is not None:
        timer = threading.Timer(limit_s, lambda: setattr(options, "terminate", True))
        timer.daemon = True
        timer.start()
    try:
        return session.run(outputs, feed, options)
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own pybind error types
        asked = re.search(r"Failed to allocate memory for requested buffer of size (\d+)", str(exc))
        if limit_s is not None and options.terminate:
            reason = f"no answer within {limit_s:g} s"
        elif asked:
            reason = f"it asked for {int(asked.group(1)) / 1e9:.3g} GB of memory"
        else:
            text = " ".join(str(exc).split())
            reason = text[:200] + ("..." if len(text) > 200 else "") or type(exc).__name__
        raise ModelRunError(
            f"{path} failed {what} ({reason}): not a working digit model; re-export it with "
            "`python -m cnn export` or pass another --model"
        ) from exc
    finally:
        if timer is not None:
            timer.cancel()


LOGITS, PROBABILITIES = "logits", "probabilities"  # output names of `python -m cnn export`
UNCERTAINTY = "uncertainty"  # the Bayesian graph of `python -m cnn posterior`: [batch]


class ModelOutputError(ModelError):
    """The model ran but returned something that is not [N, 10] finite numbers."""


def logits_output(session: ort.InferenceSession) -> ort.NodeArg:
    """The output named ``logits`` (models may carry more outputs), else the first one."""
    outputs = session.get_outputs()
    return next((o for o in outputs if o.name == LOGITS), outputs[0] if outputs else None)


def check_signature(session: ort.InferenceSession, path: str | Path) -> None:
    """Float input [batch,1,28,28]; float [batch,10] logits (and probabilities); else ModelError."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if len(inputs) != 1:
        problems.append(f"{len(inputs)} inputs (expected 1)")
    elif inputs[0].type != FLOAT_TENSOR or not _matches(inputs[0].shape, INPUT_SHAPE):
        problems.append(f"input {inputs[0].name} is {inputs[0].type} {inputs[0].shape}")
    if not outputs:
        problems.append("no outputs")
    checked = {logits_output(session).name, PROBABILITIES} if outputs else set()
    for output in outputs:
        if output.name in checked:
            if output.type != FLOAT_TENSOR or not _matches(output.shape, (CLASSES,)):
                problems.append(f"output {output.name} is {output.type} {output.shape}")
    if problems:
        raise ModelError(
            f"{path} is not a digit model: {'; '.join(problems)}. Expected input float "
            "[batch,1,28,28] and output float [batch,10] logits, as `python -m cnn export` writes"
        )


def check_outputs(outputs: dict[str, np.ndarray], count: int, path: str | Path) -> None:
    """Run-time half of the contract: ``logits`` (and ``probabilities``) are finite [count, 10].

    Why at run time too: a graph can declare [batch, 10] and still return NaN or another shape
    (a broken export, a hand-edited file); a NaN argmax would otherwise print as a digit.
    """
    for name, value in outputs.items():
        shape = tuple(np.shape(value))
        if shape != (count, CLASSES):
            raise ModelOutputError(
                f"{path} returned {name} of shape {list(shape)} for {count} image(s), expected "
                f"[{count}, {CLASSES}]: not a digit model; re-export it with `python -m cnn export`"
            )
        bad = int(np.size(value) - np.isfinite(value).sum())
        if bad:
            raise ModelOutputError(
                f"{path} returned {bad} non-finite value(s) (NaN/inf) in {name}: the model file "
                "is broken; re-export it with `python -m cnn export`"
            )


def check_uncertainty(value: np.ndarray, count: int, path: str | Path) -> None:
    """The Bayesian graph's ``uncertainty`` output is finite, one value per image."""
    if np.shape(value) != (count,) or not np.isfinite(value).all():
        raise ModelOutputError(
            f"{path} returned uncertainty of shape {list(np.shape(value))} (or non-finite) for "
            f"{count} image(s), expected [{count}] finite values: re-run `python -m cnn posterior`"
        )


def _matches(shape: list, tail: tuple[int, ...]) -> bool:
    """Shape is [batch, *tail]; a symbolic or missing dimension counts as a match."""
    if len(shape) != len(tail) + 1:
        return False
    return all(not isinstance(d, int) or d == t for d, t in zip(shape[1:], tail, strict=True))


def metadata(session: ort.InferenceSession) -> dict[str, str]:
    """The model's metadata_props (test_accuracy, normalization, architecture, ...)."""
    return dict(session.get_modelmeta().custom_metadata_map)
