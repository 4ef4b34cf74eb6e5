"""Several seeds of the digit CNN trained at once, in one process: ``cnn train --seeds 0,1,2``.

One training step of this network is far too small to fill a GPU (docs/BENCHMARKS.md): its time
is kernel launches and Python. Stacking the members' weights (``torch.func.stack_module_state``)
and running them with ``vmap(functional_call, randomness="different")`` makes one step of S
models cost about as many launches as one model. One Adam over the stacked leaves is S Adams:
its update is elementwise, so each member keeps its own moments.

Each member is the single-seed run of its seed: the same initialization, the same data order
(train.epoch_order), its own dropout and augmentation draws, and a run folder ``OUT/seed<S>/``
with ``checkpoint.pt`` and ``metrics.json`` in the single run's layout, so export, evaluate,
posterior and ``train --resume`` take it unchanged. With dropout and augmentation off a member
follows its single-seed run to floating-point summation order (tests/cnn/test_cnn_multiseed.py).
Under torchrun the seeds split over processes: rank r trains seeds[r::world], no gradients are
exchanged.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F
from tqdm import tqdm

from cnn import distributed
from cnn.checkpoint import (
    CHECKPOINT,
    CheckpointError,
    RunLock,
    prepare_run_folder,
    read_checkpoint,
    save_checkpoint,
)
from cnn.data import load_mnist
from cnn.model import DigitCNN
from cnn.train import (
    _check,
    _check_resume,
    _metrics,
    augment_step,
    build_optimizer,
    capture_step,
    checkpoint_state,
    epoch_order,
    epoch_record,
    evaluate,
    load_data,
    test_record,
    write_metrics,
)
from cnn.train_config import TrainConfig

__all__ = ["parse_seeds", "seed_folder", "stack_members", "train_seeds"]


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> (0, 1, 2); ValueError with the fix for anything else."""
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--seeds {text!r}: give comma-separated integers, e.g. --seeds 0,1,2")
    if not seeds:
        raise ValueError("--seeds is empty; give comma-separated integers, e.g. --seeds 0,1,2")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r} repeats a seed; each member needs its own")
    return seeds


def seed_folder(out: Path | str, seed: int) -> Path:
    return Path(out) / f"seed{seed}"


def group_seed(seeds: tuple[int, ...], epoch: int) -> int:
    """The generator seed of one epoch's dropout/augmentation noise for a group of members."""
    return zlib.crc32(f"{','.join(map(str, seeds))}/{epoch}".encode())


def train_seeds(
    config: TrainConfig, seeds: tuple[int, ...], progress: bool = True
) -> list[dict[str, Any]]:
    """Train one member per seed (this process's share under torchrun); return their metrics
    (each also written to ``config.out/seed<S>/metrics.json``)."""
    _check(config)
    world = distributed.start(config.device)
    try:
        mine = seeds[world.rank :: world.size]
        if not mine:
            print(
                f"note: rank {world.rank} has no seed to train ({len(seeds)} seeds over "
                f"{world.size} processes)",
                file=sys.stderr,
            )
            return []
        configs = [replace(config, seed=s, out=str(seed_folder(config.out, s))) for s in mine]
        with contextlib.ExitStack() as stack:
            for member in configs:
                out = Path(member.out)
                prepare_run_folder(out, config.resume, config.overwrite)
                stack.enter_context(RunLock(out))
            return _train_stacked(configs, world.device, progress and world.is_main)
    finally:
        distributed.stop(world)


def _train_stacked(configs: list[TrainConfig], device: torch.device, progress: bool):
    config, n = configs[0], len(configs)
    seeds = tuple(c.seed for c in configs)
    if device.type == "cuda":  # as a single run: the same command gives the same members
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = _stacked_data(configs, device)
    batch = config.batch_size
    steps_per_epoch = y_train.shape[1] // batch
    if steps_per_epoch < 1:
        raise ValueError("fewer training images than one batch; raise --limit")
    total_steps = config.steps or config.epochs * steps_per_epoch
    n_epochs = math.ceil(total_steps / steps_per_epoch)

    members = []
    for member in configs:  # each initialized exactly as its single-seed run
        torch.manual_seed(member.seed)
        members.append(DigitCNN(dropout=config.dropout).to(device))
    params, buffers, base, forward = stack_members(members, config, device)
    leaves = list(params.values())
    fused = config.compile and device.type == "cuda"
    optimizer, scheduler = build_optimizer(leaves, config, total_steps, fused=fused)
    histories: list[list[dict[str, Any]]] = [[] for _ in configs]
    tests: list[dict[str, Any] | None] = [None] * n
    start_epoch, step_count = _resume(configs, members, params, optimizer, scheduler, histories,
                                      tests, device, progress)  # fmt: skip

    capture: dict[str, Any] | None = None
    rows = torch.arange(n, device=device)[:, None]  # member s reads its own set, its own order
    for epoch in range(start_epoch, n_epochs):
        torch.manual_seed(group_seed(seeds, epoch))
        order = torch.stack([epoch_order(y_train.shape[1], s, epoch, device) for s in seeds])
        steps = min(steps_per_epoch, total_steps - step_count)
        base.train()
        if config.compile and capture is None:
            if device.type == "cuda":  # the leaves are updated in place: no copy per replay
                for leaf in leaves:
                    torch._dynamo.mark_static_address(leaf)
            forward, capture = capture_step(
                forward, device, config.compile_backend,
                _warmup(optimizer, x_train, y_train, (rows, order[:, :batch])),
            )  # fmt: skip
        t0 = time.perf_counter()
        losses = torch.zeros(steps, n, device=device)
        hits = torch.zeros(steps, n, device=device, dtype=torch.long)
        bar = tqdm(
            range(steps),
            desc=f"epoch {epoch + 1}/{n_epochs} ({n} seeds)",
            disable=not progress,
            file=sys.stderr,
        )
        for step in bar:
            idx = order[:, step * batch : (step + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            if capture and capture["compiled"] and device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            total, loss, hit = forward(x_train[rows, idx], y_train[rows, idx])
            total.backward()
            optimizer.step()
            scheduler.step()
            losses[step], hits[step] = loss, hit
            if progress and (step % 20 == 0 or step == steps - 1):
                bar.set_postfix(loss=f"{losses[: step + 1].mean().item():.4f}")
        step_count += steps
        seconds = time.perf_counter() - t0
        loss_sums, hit_sums = losses.sum(0).tolist(), hits.sum(0).tolist()
        curves = losses[:: config.log_every].T.tolist()
        for i, member in enumerate(configs):
            _load_member(members[i], params, buffers, i)
            compiled = bool(capture and capture["compiled"])
            record = epoch_record(
                epoch + 1, steps, loss_sums[i] / steps, hit_sums[i] / (steps * batch), seconds,
                steps * batch, optimizer, scheduler, curves[i], compiled,
            )  # fmt: skip
            record["stacked_seeds"] = list(seeds)
            record["stacked_images_per_s"] = n * steps * batch / seconds
            if capture and epoch == start_epoch:
                record["compile"] = capture
            record["validation_loss"], record["validation_accuracy"] = evaluate(
                members[i], x_val, y_val
            )
            if epoch + 1 == n_epochs:
                tests[i] = test_record(members[i], x_test, y_test)
            histories[i].append(record)
            out = Path(member.out)
            state = checkpoint_state(
                member, epoch + 1, step_count, histories[i], tests[i],
                members[i].state_dict(), _member_optimizer_state(optimizer, i),
                scheduler.state_dict(), device,
            )  # fmt: skip
            save_checkpoint(out / CHECKPOINT, state)
            write_metrics(out, member, device, histories[i], tests[i])
        if progress:
            accs = " ".join(f"{h[-1]['validation_accuracy']:.4f}" for h in histories)
            rate = histories[0][-1]["stacked_images_per_s"]
            print(
                f"epoch {epoch + 1}: validation accuracy per seed {accs}, {rate:.0f} img/s "
                f"({n} seeds together)",
                file=sys.stderr,
            )
    for i, member in enumerate(configs):
        if tests[i] is None:  # resumed a finished run
            _load_member(members[i], params, buffers, i)
            tests[i] = test_record(members[i], x_test, y_test)
    return [
        _metrics(member, device, histories[i], tests[i], 1, batch)
        for i, member in enumerate(configs)
    ]


def stack_members(members: list[DigitCNN], config: TrainConfig, device: torch.device):
    """(stacked parameters, stacked buffers, the meta module they run in, the step's forward).

    The forward takes [S,B,1,28,28] images and [S,B] labels and returns (sum of the members'
    mean losses, [S] losses, [S] correct counts): backward of the sum gives each member the
    gradient of its own loss. Augmentation draws per image, dropout per member
    (``randomness="different"``).
    """
    params, buffers = stack_module_state(members)
    base = copy.deepcopy(members[0]).to("meta")
    amp = device.type == "cuda"

    def one(p, b, x):
        return functional_call(base, (p, b), (x,))

    stacked = vmap(one, randomness="different")

    def forward(xb: torch.Tensor, yb: torch.Tensor):
        xb = augment_step(xb.flatten(0, 1), config).unflatten(0, yb.shape)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = stacked(params, buffers, xb)
        losses = F.cross_entropy(logits.float().flatten(0, 1), yb.flatten(), reduction="none")
        losses = losses.view(yb.shape).mean(1)
        return losses.sum(), losses.detach(), (logits.argmax(-1) == yb).sum(1)

    return params, buffers, base, forward


def _stacked_data(configs: list[TrainConfig], device: torch.device):
    """Each member's training set stacked [S, N, ...] (the default recipe appends copies drawn
    from the seed: cnn.augment.with_people_copies), one validation and one test set."""
    splits = (load_mnist("train"), load_mnist("test"))
    first, validation, test = load_data(configs[0], device, splits)
    if not configs[0].augment:  # the set does not depend on the seed: one copy, viewed S times
        n = len(configs)
        return (first[0].expand(n, *first[0].shape), first[1].expand(n, -1)), validation, test
    sets = [first] + [load_data(c, device, splits)[0] for c in configs[1:]]
    if len({len(y) for _, y in sets}) > 1:
        raise ValueError("the seeds' training sets differ in size; train them one by one")
    return (torch.stack([x for x, _ in sets]), torch.stack([y for _, y in sets])), validation, test


def _warmup(optimizer, x_train, y_train, idx):
    def run(step) -> None:
        cuda = x_train.device.type == "cuda"
        for _ in range(3 if cuda else 1):
            optimizer.zero_grad(set_to_none=True)
            if cuda:
                torch.compiler.cudagraph_mark_step_begin()
            total, _, _ = step(x_train[idx], y_train[idx])
            total.backward()
        optimizer.zero_grad(set_to_none=True)

    return run


@torch.no_grad()
def _load_member(model: DigitCNN, params, buffers, i: int) -> None:
    """Member ``i``'s slice of the stacked weights, into its own module (for eval and saving)."""
    for name, tensor in model.state_dict(keep_vars=True).items():
        source = params[name] if name in params else buffers[name]
        tensor.copy_(source[i])


def _member_optimizer_state(optimizer: torch.optim.Optimizer, i: int) -> dict[str, Any]:
    """Member ``i``'s Adam state in the layout a single run's Adam saves (parameter order =
    the model's), so ``cnn train --resume`` on its folder continues it alone."""
    full = optimizer.state_dict()
    state = {
        key: {
            name: (value[i].clone() if name in ("exp_avg", "exp_avg_sq") else value.clone())
            for name, value in entry.items()
        }
        for key, entry in full["state"].items()
    }
    return {"state": state, "param_groups": copy.deepcopy(full["param_groups"])}


def _resume(configs, members, params, optimizer, scheduler, histories, tests, device, progress):
    """Stack the members' checkpoints back (all at the same epoch); (start epoch, steps done)."""
    config = configs[0]
    if not config.resume:
        return 0, 0
    states = []
    for member in configs:
        path = Path(member.out) / CHECKPOINT
        state = read_checkpoint(path, device)
        _check_resume(state["config"], member, Path(member.out))
        if "optimizer" not in state:
            raise CheckpointError(f"{path} holds weights only; it cannot be resumed.")
        states.append(state)
    epochs = {s["epoch"] for s in states}
    if len(epochs) > 1:
        raise CheckpointError(
            f"--resume: the seed folders stopped at different epochs ({sorted(epochs)}); finish "
            "each one alone with `python -m cnn train --seed S --out OUT/seedS --resume` "
            "(same settings)."
        )
    with torch.no_grad():
        for name, leaf in params.items():
            leaf.copy_(torch.stack([s["model"][name] for s in states]))
    stacked = copy.deepcopy(states[0]["optimizer"])
    for key, entry in stacked["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            entry[name] = torch.stack([s["optimizer"]["state"][key][name] for s in states])
    optimizer.load_state_dict(stacked)
    scheduler.load_state_dict(states[0]["scheduler"])
    for i, state in enumerate(states):
        histories[i][:] = state["history"]
        tests[i] = state.get("test")
        members[i].load_state_dict(state["model"])
    if progress:
        print(
            f"resuming {len(states)} seeds from {Path(config.out).parent} after epoch "
            f"{states[0]['epoch']}",
            file=sys.stderr,
        )
    return states[0]["epoch"], states[0].get("steps_done", 0)
