"""Collective operations across the processes of a distributed fit (DDP), no-ops in one.

Epoch metrics need every process's outputs, and the processes' shares differ by a row
when an epoch does not divide evenly, so gathering pads each share to the longest one
and trims the padding off again.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist


def world_size() -> int:
    """Processes in the running process group (1 when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """This process's rank in the running process group (0 when there is none)."""
    return dist.get_rank() if world_size() > 1 else 0


def gather_objects(value: Any) -> list[Any] | None:
    """`value` from every process, in rank order; None in a single process."""
    world = world_size()
    if world == 1:
        return None
    values: list[Any] = [None] * world
    dist.all_gather_object(values, value)
    return values


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """The rows of `tensor` from every process, in rank order (`tensor` itself in one)."""
    world = world_size()
    if world == 1:
        return tensor
    count = torch.tensor([tensor.shape[0]], device=tensor.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c) for c in counts]
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    shares = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(shares, padded.contiguous())
    return torch.cat([share[:size] for share, size in zip(shares, sizes, strict=True)])


def sum_across(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` summed over every process (a copy; `tensor` itself is left as it was)."""
    total = tensor.clone()
    if world_size() > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total
