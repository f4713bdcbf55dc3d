"""torch.distributed setup for ``torchrun`` (DDP): NCCL on CUDA, gloo on CPU."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed(device_type: str) -> tuple[int, int, int]:
    """(rank, world_size, local_rank); initialises the process group when launched by torchrun."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))


def barrier(world_size: int) -> None:
    if world_size > 1 and dist.is_initialized():
        dist.barrier()


def all_mean(x: torch.Tensor, world_size: int) -> torch.Tensor:
    if world_size > 1 and dist.is_initialized():
        x = x.clone()
        dist.all_reduce(x)
        x /= world_size
    return x
