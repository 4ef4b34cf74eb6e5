"""One process or many under ``torchrun``: who am I, which device, how to average.

``torchrun`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; without them this is a world of one
and every helper is a no-op, so the training loop reads the same either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cnn.device import resolve_device


@dataclass(frozen=True)
class World:
    size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, metrics and progress; the others only compute."""
        return self.rank == 0

    launched: bool = False  # by torchrun: a process group (and DDP) even for one process

    @property
    def distributed(self) -> bool:
        return self.launched


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def start(device: str = "auto") -> World:
    """Join the process group when launched by torchrun (NCCL on CUDA, gloo on CPU)."""
    if not launched_by_torchrun():
        return World(device=resolve_device(device))
    size, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    dev = resolve_device(device)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise SystemExit(
                f"error: local rank {local_rank} but only {torch.cuda.device_count()} GPU(s) "
                "here; pass --nproc_per_node at most the number of GPUs."
            )
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return World(size=size, rank=rank, local_rank=local_rank, device=dev, launched=True)


def stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(value: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of a scalar over all ranks (itself in a world of one)."""
    if not world.distributed:
        return value
    value = value.detach().clone().float()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / world.size


def sum_over_ranks(value: torch.Tensor, world: World) -> torch.Tensor:
    if not world.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()
