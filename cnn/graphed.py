"""The whole training step recorded once as a CUDA graph and replayed: ``cnn train --compile``
on CUDA.

torch.compile's "reduce-overhead" mode captures the forward and the backward, but the batch
gather, Adam, the loss bookkeeping and the Python between them still launch kernel after kernel;
at batch 128 this network's step is bound by those launches, not by arithmetic (BENCHMARKS,
"Training at the GPU's pace"). Here one replay does everything a step does:

    batch indices <- this epoch's order at the step counter   (the order is on the GPU)
    augmentation, bf16 forward, loss, backward                (dropout and augmentation draw
                                                               from the graph-safe generator)
    fused Adam at the learning rate held in a device tensor   (the schedule fills it in place)
    loss and hit count written at the step counter; counter + 1

so a step costs one ``replay()`` and the scheduler's ``fill_``; nothing is read back until the
epoch ends. Recording follows the PyTorch recipe for whole-network capture: warm up on a side
stream, record, replay. The warm-up's updates are undone (weights, Adam's moments and step, the
random state), so the run trains exactly the steps it reports.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from cnn.device import rng_state, set_rng_state

__all__ = [
    "GraphedStep",
    "graph_unavailable",
    "make_capturable",
    "portable_optimizer_state",
    "record_step",
]

WARMUP_STEPS = 3  # the PyTorch recipe: a few eager iterations on a side stream before capture


def graph_unavailable(device: torch.device, distributed: bool) -> str | None:
    """Why the whole step cannot be recorded here, known before trying (else None)."""
    if device.type != "cuda":
        return "CUDA graphs need a CUDA device"
    if distributed:
        return "DistributedDataParallel's all-reduce is not recorded here"
    return None


def make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Adam as a recorded step needs it: fused, capturable, its learning rate a device tensor
    (the scheduler then ``fill_``s it in place) and its step counters on the device. Applied
    after any ``load_state_dict`` (a resumed checkpoint brings its own flags and a float lr)."""
    for group in optimizer.param_groups:
        group["fused"], group["capturable"], group["foreach"] = True, True, None
        lr = group["lr"]
        value = float(lr.item() if isinstance(lr, torch.Tensor) else lr)
        group["lr"] = torch.tensor(value, dtype=torch.float32, device=device)
    for state in optimizer.state.values():
        if "step" in state:
            state["step"] = state["step"].to(device=device, dtype=torch.float32)


def portable_optimizer_state(state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer state dict any run can resume from: learning rates as floats and the eager
    recipe's flags (a recorded run's device-tensor lr would break an eager, foreach Adam)."""
    groups = []
    for group in state["param_groups"]:
        group = dict(group)
        if isinstance(group.get("lr"), torch.Tensor):
            group["lr"] = float(group["lr"].item())
        group["fused"], group["capturable"] = None, False
        groups.append(group)
    return {**state, "param_groups": groups}


class _Snapshot:
    """Weights, Adam's state and the random state before the warm-up, put back in place (same
    storage, so the recorded graph and the optimizer keep pointing at the live tensors)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device):
        self.params = [(p, p.detach().clone()) for p in model.parameters()]
        self.state = {
            id(p): {k: v.clone() for k, v in s.items() if isinstance(v, torch.Tensor)}
            for p, s in optimizer.state.items()
        }
        self.optimizer = optimizer
        self.rng = rng_state(device)
        self.device = device

    @torch.no_grad()
    def restore(self) -> None:
        for p, saved in self.params:
            p.copy_(saved)
        for p, state in self.optimizer.state.items():
            saved = self.state.get(id(p))
            for key, value in state.items():
                if not isinstance(value, torch.Tensor):
                    continue
                if saved is None:  # created by the warm-up: a fresh Adam state is all zeros
                    value.zero_()
                else:
                    value.copy_(saved[key])
        set_rng_state(self.rng, self.device)


class GraphedStep:
    """One recorded training step over ``x_train``/``y_train`` (on the GPU), replayed per step.

    ``forward(xb, yb) -> (mean loss, correct count)`` is cnn.train.make_forward's (optionally
    torch.compile'd without CUDA graphs of its own). ``begin_epoch`` loads the epoch's order;
    ``step`` replays; ``results`` returns the epoch's per-step losses and hit counts.
    """

    def __init__(
        self,
        forward,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        batch: int,
        steps_per_epoch: int,
    ) -> None:
        device = x_train.device
        self.batch, self.steps_per_epoch = batch, steps_per_epoch
        self.order = torch.zeros(steps_per_epoch, batch, dtype=torch.long, device=device)
        self.counter = torch.zeros(1, dtype=torch.long, device=device)
        self.positions = torch.arange(steps_per_epoch, device=device)
        self.losses = torch.zeros(steps_per_epoch, device=device)
        self.hits = torch.zeros(steps_per_epoch, dtype=torch.long, device=device)
        self.order.copy_(torch.arange(steps_per_epoch * batch, device=device).view_as(self.order))
        t0 = time.perf_counter()

        def step() -> None:
            idx = self.order.index_select(0, self.counter).view(-1)
            loss, hit = forward(x_train.index_select(0, idx), y_train.index_select(0, idx))
            loss.backward()
            optimizer.step()
            here = self.positions == self.counter  # elementwise: no host sync while recording
            self.losses.copy_(torch.where(here, loss.detach(), self.losses))
            self.hits.copy_(torch.where(here, hit, self.hits))
            self.counter.add_(1)

        self._step = step  # what one replay does (kept for inspection)
        snapshot = _Snapshot(model, optimizer, device)
        try:
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    optimizer.zero_grad(set_to_none=True)
                    step()
            torch.cuda.current_stream(device).wait_stream(side)
            torch.cuda.synchronize(device)
            snapshot.restore()
            optimizer.zero_grad(set_to_none=True)  # grads come from the recorded backward
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                step()
        finally:  # recording runs nothing; a failed try leaves the run as it was, too
            torch.cuda.synchronize(device)
            snapshot.restore()
        self.seconds = time.perf_counter() - t0

    def begin_epoch(self, order: torch.Tensor, steps: int) -> None:
        """This epoch's shuffled indices (its first ``steps`` batches) and the counter at 0."""
        if steps > self.steps_per_epoch:
            raise ValueError(f"{steps} steps do not fit the recorded {self.steps_per_epoch}")
        n = steps * self.batch
        self.order.view(-1)[:n].copy_(order[:n])
        self.counter.zero_()
        self.losses.zero_()
        self.hits.zero_()

    def step(self) -> None:
        self.graph.replay()

    def results(self, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The epoch's per-step mean losses and correct counts (copies: the next epoch reuses
        the buffers)."""
        return self.losses[:steps].clone(), self.hits[:steps].clone()


def record_step(
    forward,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    batch: int,
    steps_per_epoch: int,
    backend: str,
    distributed: bool = False,
) -> tuple[GraphedStep | None, dict[str, Any]]:
    """The step recorded as one CUDA graph, its forward fused by torch.compile (``backend``;
    "eager": as written) and, if that cannot be recorded, the eager forward; or None and why.

    The caller falls back to cnn.train.capture_step (torch.compile's own CUDA graphs) on None.
    """
    info: dict[str, Any] = {"compiled": False, "backend": backend, "mode": "whole-step graph"}
    reason = graph_unavailable(x_train.device, distributed)
    if reason is not None:
        return None, {**info, "why_not": reason}
    make_capturable(optimizer, x_train.device)
    import torch._inductor.config as inductor_config

    inductor_config.fallback_random = True  # dropout/augmentation: eager's generator, as eager
    candidates = [("eager", forward)]
    if backend != "eager":
        candidates.insert(0, (backend, torch.compile(forward, backend=backend, dynamic=False)))
    failures = []
    for name, candidate in candidates:
        try:
            graphed = GraphedStep(
                candidate, model, optimizer, x_train, y_train, batch, steps_per_epoch
            )
        except Exception as exc:  # an op that cannot be recorded, no Triton: the next candidate
            lines = str(exc).strip().splitlines()
            failures.append(f"{name}: {type(exc).__name__}: {lines[0][:160] if lines else ''}")
            optimizer.zero_grad(set_to_none=True)
            continue
        info.update(compiled=True, forward=name, seconds=round(graphed.seconds, 2))
        if failures:
            info["failed"] = failures
        return graphed, info
    return None, {**info, "why_not": "; ".join(failures)}
