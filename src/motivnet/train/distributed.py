"""Process-group setup for torchrun (DDP or FSDP) and the few collectives the engine needs.
Single-process runs use the same code with world_size 1 and no collectives."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    mode: str = "none"  # none, ddp, fsdp
    initialised_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (one element when single-process)."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.initialised_here and dist.is_initialized():
            dist.destroy_process_group()


def setup_distributed(mode: str = "auto") -> DistContext:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on
    GPU); ``mode`` auto means DDP when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if mode == "none" or world == 1:
        if mode in ("ddp", "fsdp") and world == 1:
            return DistContext(mode="none")
        return DistContext()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    here = False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        here = True
    return DistContext(rank, world, local, "ddp" if mode == "auto" else mode, here)


__all__ = ["DistContext", "setup_distributed"]
