"""Train the digit CNN with Adam: resumable, seeded, on CUDA (AMP) when present, else CPU;
one process or many under ``torchrun`` (DistributedDataParallel).

Honest bookkeeping: 5,000 of the 60,000 training images are held out (cnn/splits.py) and watched
every epoch; the test set is evaluated once, after the last epoch. Each epoch draws its
shuffling and its dropout/augmentation noise from ``(seed, epoch)`` alone, so a run resumed from
the checkpoint of epoch k continues exactly as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from cnn import distributed
from cnn.augment import stroke_width, with_people_copies
from cnn.checkpoint import (
    CHECKPOINT,
    METRICS,
    CheckpointError,
    RunFolderError,
    RunLock,
    prepare_run_folder,
    read_checkpoint,
    save_checkpoint,
)
from cnn.data import load_mnist
from cnn.device import rng_state, set_rng_state
from cnn.files import atomic_write, sha256_of
from cnn.graphed import GraphedStep, portable_optimizer_state, record_step
from cnn.model import DigitCNN
from cnn.outlier_exposure import OutlierExposure, load_proxies
from cnn.splits import train_validation_indices
from cnn.train_config import RECIPES, RESUME_KEYS, TrainConfig, recipe_config

COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")

__all__ = [
    "CHECKPOINT",
    "METRICS",
    "RECIPES",
    "CheckpointError",
    "RunFolderError",
    "TrainConfig",
    "load_checkpoint_model",
    "read_checkpoint",
    "capture_step",
    "epoch_order",
    "load_data",
    "make_forward",
    "recipe_config",
    "train",
]


def to_tensors(images, labels, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [N,28,28] -> float32 [N,1,28,28] in [0, 1] on ``device`` (kept there all along)."""
    x = torch.from_numpy(images.copy()).to(device).unsqueeze(1).float().div_(255.0)
    return x, torch.from_numpy(labels.astype("int64")).to(device)


def augment_batch(x: torch.Tensor) -> torch.Tensor:
    """Small random rotation/scale/shift and pen width, like the variation between people's
    handwriting (cnn.augment.stroke_width: half the images thinner or thicker)."""
    x = stroke_width(x)
    n = x.shape[0]
    angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, device=x.device) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, device=x.device) * 2 - 1) * 0.15  # ~2 px
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000):
    """(mean loss, accuracy) in eval mode."""
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        logits = model(x[i : i + batch]).float()
        loss += F.cross_entropy(logits, y[i : i + batch], reduction="sum").item()
        correct += (logits.argmax(1) == y[i : i + batch]).sum().item()
    return loss / len(y), correct / len(y)


def test_record(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """The test set's entry in metrics.json (evaluated once, after the last epoch)."""
    loss, accuracy = evaluate(model, x, y)
    return {"loss": loss, "accuracy": accuracy, "images": len(y)}


def epoch_record(
    epoch: int, steps: int, loss: float, accuracy: float, seconds: float, images: int,
    optimizer: torch.optim.Optimizer, scheduler, curve: list[float], compiled: bool,
) -> dict[str, Any]:  # fmt: skip
    """One epoch's entry in metrics.json (validation added by the caller)."""
    return {
        "epoch": epoch,
        "steps": steps,
        "train_loss": loss,
        "train_accuracy": accuracy,
        "seconds": seconds,
        "images_per_s": images / seconds,
        "lr_end": float(scheduler.get_last_lr()[0]),  # a tensor when the step is recorded
        "beta1_end": optimizer.param_groups[0]["betas"][0],
        "loss_curve": curve,
        "compiled": compiled,
    }


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def build_optimizer(
    model: torch.nn.Module | list[torch.Tensor],
    config: TrainConfig,
    total_steps: int,
    fused: bool = False,
):
    """Adam (β1 from the config, 0.9 by default) and its schedule, over a model's parameters or
    a list of leaves (the stacked seeds of cnn/multiseed.py: Adam is elementwise, so one Adam
    over stacked leaves keeps each member's own moments).

    ``cycle_momentum=False``: OneCycleLR would otherwise cycle Adam's β1 between 0.85 and 0.95,
    silently replacing the course's β1 = 0.9. ``fused``: one CUDA kernel for the whole update
    (the captured step's optimizer; the eager recipe keeps the default for reproducibility).
    """
    params = model.parameters() if isinstance(model, torch.nn.Module) else model
    optimizer = torch.optim.Adam(
        params, lr=config.lr, betas=(config.beta1, 0.999), eps=1e-8, fused=fused or None
    )
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=total_steps,
            pct_start=0.2,
            cycle_momentum=False,
        )
    elif config.schedule == "constant":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    else:
        raise ValueError(f"unknown schedule {config.schedule!r}; use onecycle or constant")
    return optimizer, scheduler


def epoch_order(
    n: int, seed: int, epoch: int, device: torch.device, world_size: int = 1, rank: int = 0
) -> torch.Tensor:
    """This rank's shuffled indices for one epoch, drawn from ``(seed, epoch)`` alone (a
    resumed run, a stacked seed and a torchrun rank all see the order a single run would)."""
    sampler = DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
    )
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), device=device)


def augment_step(xb: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """The recipe's augmentation of one batch: tensor ops only, so it is captured with the step."""
    if config.augment:
        xb = augment_batch(xb)
    return xb


def make_forward(
    net: torch.nn.Module,
    config: TrainConfig,
    device: torch.device,
    oe: OutlierExposure | None = None,
):
    """The captured part of a training step: (images, labels) -> (mean loss, correct count).

    Augmentation, the bf16 forward (CUDA) and the loss; backward and Adam run after it. The
    count stays a tensor: no host sync inside a step. ``oe``: proxies join the batch (augmented
    alike) and the auxiliary "is it a digit?" loss is added (cnn.outlier_exposure); ``net`` is
    then the DigitCNN itself.
    """
    amp = device.type == "cuda"

    def forward(xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        digits = xb.shape[0]
        if oe is not None:
            xb = torch.cat([xb, oe.sample()])
        xb = augment_step(xb, config)
        # no cast cache: a recorded CUDA graph (cnn.graphed) must recast the live weights
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp, cache_enabled=False):
            if oe is None:
                logits = net(xb)
            else:
                features = net.fc1_features(xb)
                logits = net.fc2(net.dropout(features[:digits]))
                extra = oe.loss(features, digits)
        loss = F.cross_entropy(logits.float(), yb)
        if oe is not None:
            loss = loss + extra
        return loss, (logits.argmax(-1) == yb).sum()

    return forward


def _warmup(optimizer, x_train: torch.Tensor, y_train: torch.Tensor, batch: int):
    """Forward + backward on the first batch without an optimizer step: compiles (and on CUDA
    records the graph) before the clock starts; the weights are left as they were."""

    def run(step) -> None:
        cuda = x_train.device.type == "cuda"
        for _ in range(3 if cuda else 1):  # cudagraph trees: warm up, record, replay
            optimizer.zero_grad(set_to_none=True)
            if cuda:
                torch.compiler.cudagraph_mark_step_begin()
            loss, _ = step(x_train[:batch], y_train[:batch])
            loss.backward()
        optimizer.zero_grad(set_to_none=True)

    return run


def compile_unavailable(device: torch.device, backend: str) -> str | None:
    """Why torch.compile cannot capture the step here, known before trying (else None)."""
    if backend != "inductor" or device.type != "cuda":
        return None
    major, minor = torch.cuda.get_device_capability(device)
    if major < 7:
        return f"the GPU is sm_{major}{minor}, older than Triton's sm_70"
    return None


def capture_step(forward, device: torch.device, backend: str, warmup) -> tuple[Any, dict]:
    """``forward`` captured once with torch.compile, or ``forward`` itself and a one-line note.

    On CUDA the inductor backend runs in mode "reduce-overhead" (CUDA graphs: one launch for the
    step's forward, one for its backward). Shapes are static (full batches only) and nothing
    the step reads changes as a Python number (the learning rate lives in the optimizer, outside
    the graph), so it compiles once. ``fallback_random``: the compiled step draws its dropout and
    augmentation from the same generator as eager, so the two runs agree on the same seed. The
    warm-up restores the random state, so falling back leaves the run exactly the eager one.
    """
    info: dict[str, Any] = {"compiled": False, "backend": backend, "mode": None}
    reason = compile_unavailable(device, backend)
    if reason is None:
        import torch._inductor.config as inductor_config

        inductor_config.fallback_random = True
        mode = "reduce-overhead" if device.type == "cuda" and backend == "inductor" else None
        compiled = torch.compile(forward, backend=backend, mode=mode, dynamic=False)
        rng, t0 = rng_state(device), time.perf_counter()
        try:
            warmup(compiled)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        except Exception as exc:  # no C++ compiler, no Triton, an unsupported op: run eagerly
            lines = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {lines[0][:160] if lines else 'failed'}"
        else:
            info.update(compiled=True, mode=mode, seconds=round(time.perf_counter() - t0, 2))
            forward = compiled
        finally:
            set_rng_state(rng, device)
    if reason is not None:
        info["note"] = f"--compile unavailable here ({reason}); training eagerly"
        print(f"note: {info['note']}", file=sys.stderr)
    return forward, info


def _record_or_compile(forward, model, optimizer, train_set, batch, steps_per_epoch, config, world):
    """(recorded step or None, what --compile did): the whole step as one CUDA graph where it
    can be recorded (cnn.graphed), else ``capture_step`` (its "forward" key: the step to call)."""
    graphed, info = record_step(
        forward, model, optimizer, *train_set, batch, steps_per_epoch,
        config.compile_backend, world.distributed,
    )  # fmt: skip
    if graphed is not None:
        return graphed, info
    if world.device.type == "cuda":  # say why the whole step was not recorded
        print(f"note: whole-step CUDA graph unavailable ({info['why_not']})", file=sys.stderr)
    warm = _warmup(optimizer, *train_set, batch)
    forward, capture = capture_step(forward, world.device, config.compile_backend, warm)
    return None, {**capture, "forward": forward}


def _check(config: TrainConfig) -> None:
    if config.steps is None and (config.epochs is None or config.epochs < 1):
        raise ValueError("epochs must be at least 1 (or give --steps)")
    if config.steps is not None and config.steps < 1:
        raise ValueError("steps must be at least 1")
    if not 0 < config.beta1 < 1:
        raise ValueError(f"beta1 must lie in (0, 1), got {config.beta1}")
    if not 0 <= config.dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {config.dropout}")
    if config.compile_backend not in COMPILE_BACKENDS:
        raise ValueError(
            f"unknown compile backend {config.compile_backend!r}; use one of "
            f"{', '.join(COMPILE_BACKENDS)}"
        )


def load_data(config: TrainConfig, device: torch.device, splits=None):
    """(train, validation, test) tensors on ``device``: the fixed split, ``--limit`` applied.

    ``splits``: MNIST's (train, test) already read, for callers that build several seeds' sets.
    """
    train_split, test_split = splits or (load_mnist("train"), load_mnist("test"))
    train_idx, val_idx = train_validation_indices(len(train_split), config.validation_size)
    if config.limit is not None:
        if config.limit < config.batch_size:
            raise ValueError(f"--limit {config.limit} is below the batch size {config.batch_size}")
        train_idx = train_idx[: config.limit]
    images, labels = train_split.images[train_idx], train_split.labels[train_idx]
    if config.augment:  # + flagged copies of some 1s, crossed 7s (cnn.augment), labels kept
        images, labels = with_people_copies(images, labels, config.seed)
    x_train, y_train = to_tensors(images, labels, device)
    x_val, y_val = to_tensors(train_split.images[val_idx], train_split.labels[val_idx], device)
    n_test = min(config.test_limit or len(test_split), len(test_split))
    x_test, y_test = to_tensors(test_split.images[:n_test], test_split.labels[:n_test], device)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def train(config: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume); return the metrics that are also written to ``out/metrics.json``.

    Under ``torchrun`` every process runs this; rank 0 alone writes files and reports.
    """
    _check(config)
    world = distributed.start(config.device)
    try:
        out = Path(config.out)
        if world.is_main:
            prepare_run_folder(out, config.resume, config.overwrite)
        distributed.barrier(world)
        with RunLock(out) if world.is_main else contextlib.nullcontext():
            return _train(config, world, out, progress and world.is_main)
    finally:
        distributed.stop(world)


def _train(config: TrainConfig, world, out: Path, progress: bool) -> dict[str, Any]:
    device = world.device
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if config.batch_size % world.size:
        raise ValueError(
            f"the global batch {config.batch_size} must divide evenly over {world.size} "
            "processes; change --batch-size or --nproc_per_node."
        )
    rank_batch = config.batch_size // world.size
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_data(config, device)
    steps_per_epoch = (len(y_train) // world.size) // rank_batch  # ragged last batch dropped
    if steps_per_epoch < 1:
        raise ValueError("fewer training images than one batch; raise --limit")
    total_steps = config.steps or config.epochs * steps_per_epoch
    n_epochs = math.ceil(total_steps / steps_per_epoch)

    torch.manual_seed(config.seed)
    model = DigitCNN(dropout=config.dropout).to(device)
    oe = None
    if config.outlier_exposure:
        if world.distributed:
            raise ValueError("--outlier-exposure runs in one process; drop torchrun for it")
        proxies = load_proxies(config.outlier_exposure, device)
        oe = OutlierExposure(proxies, config.oe_weight, config.oe_batch).to(device)
    trainable = model if oe is None else torch.nn.ModuleList([model, oe.head])
    fused = config.compile and device.type == "cuda"  # the captured step's one-kernel Adam
    optimizer, scheduler = build_optimizer(trainable, config, total_steps, fused=fused)
    history: list[dict[str, Any]] = []
    start_epoch, step_count, test = 0, 0, None
    ckpt_path = out / CHECKPOINT
    if config.resume and ckpt_path.exists():
        state = read_checkpoint(ckpt_path, device)
        _check_resume(state["config"], config, out)
        if "optimizer" not in state:
            raise CheckpointError(f"{ckpt_path} holds weights only; it cannot be resumed.")
        model.load_state_dict(state["model"])
        if oe is not None:
            oe.head.load_state_dict(state["oe_head"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start_epoch = state["history"], state["epoch"]
        step_count, test = state.get("steps_done", 0), state.get("test")
        if progress:
            print(f"resuming from {ckpt_path} after epoch {start_epoch}", file=sys.stderr)
    net = model
    if world.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    forward = make_forward(net, config, device, oe)
    capture: dict[str, Any] | None = None
    graphed: GraphedStep | None = None
    for epoch in range(start_epoch, n_epochs):
        torch.manual_seed(epoch_seed(config.seed, epoch) + 7919 * world.rank)  # noise per rank
        order = epoch_order(len(y_train), config.seed, epoch, device, world.size, world.rank)
        steps = min(steps_per_epoch, total_steps - step_count)
        net.train()
        if config.compile and capture is None:  # once, untimed, after the epoch's seeding
            graphed, capture = _record_or_compile(
                forward, trainable, optimizer, (x_train, y_train), rank_batch, steps_per_epoch,
                config, world,
            )  # fmt: skip
            if graphed is None:
                forward = capture.pop("forward")
        t0 = time.perf_counter()
        if graphed is not None:  # the recorded step keeps its own buffers
            graphed.begin_epoch(order, steps)
            losses, hits = graphed.losses, graphed.hits
        else:
            losses = torch.zeros(steps, device=device)
            hits = torch.zeros(steps, device=device, dtype=torch.long)
        bar = tqdm(
            range(steps),
            desc=f"epoch {epoch + 1}/{n_epochs}",
            disable=not progress,
            leave=True,
            file=sys.stderr,
        )
        for step in bar:
            if graphed is not None:
                graphed.step()
            else:
                idx = order[step * rank_batch : (step + 1) * rank_batch]
                optimizer.zero_grad(set_to_none=True)
                if capture and capture["compiled"] and device.type == "cuda":
                    torch.compiler.cudagraph_mark_step_begin()
                loss, hit = forward(x_train[idx], y_train[idx])
                loss.backward()
                optimizer.step()
                losses[step] = loss.detach()
                hits[step] = hit
            scheduler.step()
            if progress and (step % 20 == 0 or step == steps - 1):
                bar.set_postfix(
                    loss=f"{losses[: step + 1].mean().item():.4f}",
                    acc=f"{hits[: step + 1].sum().item() / ((step + 1) * rank_batch):.4f}",
                )
            if progress and epoch == start_epoch and step == 20:  # synced by .item() above
                _print_estimate(step + 1, total_steps - step_count, rank_batch * world.size, t0)
        if graphed is not None:
            losses, hits = graphed.results(steps)
        if device.type == "cuda":  # the epoch's time includes its queued GPU work
            torch.cuda.synchronize(device)
        step_count += steps
        seconds = time.perf_counter() - t0
        seen_total = steps * rank_batch * world.size
        loss_total = distributed.sum_over_ranks(losses.sum() * rank_batch, world).item()
        correct_total = distributed.sum_over_ranks(hits.sum(), world).item()
        curve = distributed.mean_over_ranks(losses, world)[:: config.log_every].tolist()
        record = epoch_record(
            epoch + 1, steps, loss_total / seen_total, correct_total / seen_total, seconds,
            seen_total, optimizer, scheduler, curve, bool(capture and capture["compiled"]),
        )  # fmt: skip
        if capture and "recorded" not in capture:  # the epoch that paid for the capture
            capture["recorded"] = True
            record["compile"] = {k: v for k, v in capture.items() if k != "recorded"}
        if world.is_main:
            record["validation_loss"], record["validation_accuracy"] = evaluate(model, x_val, y_val)
            if epoch + 1 == n_epochs:  # the test set, once, after the last epoch
                test = test_record(model, x_test, y_test)
            history.append(record)
            if progress:
                print(
                    f"epoch {epoch + 1}: validation accuracy {record['validation_accuracy']:.4f} "
                    f"(loss {record['validation_loss']:.4f}), {record['images_per_s']:.0f} img/s",
                    file=sys.stderr,
                )
            state = checkpoint_state(
                config, epoch + 1, step_count, history, test,
                model.state_dict(), portable_optimizer_state(optimizer.state_dict()),
                scheduler.state_dict(),
                device, world.size,
            )  # fmt: skip
            if oe is not None:  # training-only: resumable, never exported
                state["oe_head"] = oe.head.state_dict()
            save_checkpoint(ckpt_path, state)
            write_metrics(out, config, device, history, test, world.size, rank_batch)
        distributed.barrier(world)
    if world.is_main and test is None:  # resumed a finished run that predates the test record
        test = test_record(model, x_test, y_test)
    return _metrics(config, device, history, test, world.size, rank_batch)


def checkpoint_state(
    config: TrainConfig,
    epoch: int,
    steps_done: int,
    history: list[dict[str, Any]],
    test: dict[str, Any] | None,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    scheduler_state: dict[str, Any],
    device: torch.device,
    world_size: int = 1,
) -> dict[str, Any]:
    """What ``checkpoint.pt`` holds (one layout for single and stacked runs: both resume)."""
    return {
        "config": asdict(config),
        "epoch": epoch,
        "steps_done": steps_done,
        "history": history,
        "test": test,
        "model": model_state,
        "optimizer": optimizer_state,
        "scheduler": scheduler_state,
        "device": device.type,
        "world_size": world_size,
    }


def _print_estimate(done: int, left: int, batch: int, t0: float) -> None:
    """This machine's own figure after the first steps (README's are a quiet machine's)."""
    rate = done * batch / (time.perf_counter() - t0)
    seconds = (left - done) * batch / rate
    when = f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} seconds"
    tqdm.write(
        f"{rate:,.0f} images/s on this machine so far: the run needs about {when} more "
        "(evaluations not counted)",
        file=sys.stderr,
    )


def _check_resume(saved: dict[str, Any], config: TrainConfig, out: Path) -> None:
    for key in RESUME_KEYS:
        if key in saved and saved[key] != getattr(config, key):
            raise ValueError(
                f"--resume: the checkpoint in {out} was made with {key}={saved[key]!r}, not "
                f"{getattr(config, key)!r}; pass the same settings or use a new --out."
            )


def _metrics(config, device, history, test, world_size: int, rank_batch: int) -> dict[str, Any]:
    extra = {}
    if config.outlier_exposure:  # which proxies the trunk saw (cnn/reader/train_proxies.py)
        with contextlib.suppress(OSError):
            extra["outlier_exposure_sha256"] = sha256_of(config.outlier_exposure)
    return {
        "config": asdict(config),
        **extra,
        "device": device.type,
        "world_size": world_size,
        "per_rank_batch_size": rank_batch,
        "global_batch_size": rank_batch * world_size,
        "epochs": history,
        "validation_accuracy": history[-1]["validation_accuracy"] if history else None,
        "test_accuracy": test["accuracy"] if test else None,
        "test_loss": test["loss"] if test else None,
        "test_images": test["images"] if test else None,
        "test_evaluated": "once, after the last epoch",
    }


def write_metrics(out: Path, config, device, history, test, world_size=1, rank_batch=None):
    metrics = _metrics(config, device, history, test, world_size, rank_batch or config.batch_size)
    atomic_write(out / METRICS, lambda f: f.write(json.dumps(metrics, indent=2).encode()))
    return metrics


def load_checkpoint_model(path: Path | str) -> tuple[DigitCNN, dict[str, Any]]:
    """The model of a training checkpoint (on CPU, eval mode) and the checkpoint's metadata."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; train first (python -m cnn train)."
        )
    state = read_checkpoint(path)
    model = DigitCNN(dropout=state["config"].get("dropout", 0.5))
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as exc:  # key or shape mismatch: another network's weights
        raise CheckpointError(f"{path} holds weights of another network: {exc}") from exc
    return model.eval(), state


def weights_only_copy(checkpoint: Path | str, out: Path | str) -> None:
    """A checkpoint without optimizer state (a third the size): exportable, not resumable."""
    state = read_checkpoint(checkpoint)
    slim = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler")}
    save_checkpoint(Path(out), slim)
