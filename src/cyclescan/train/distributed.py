"""Multi-process data parallel training under ``torchrun`` (gloo on CPU, nccl on GPU).

One code path for 1..N processes: without torchrun's environment (WORLD_SIZE unset or 1) every
function here is a no-op and rank 0 is the only rank.

Why not ``torch.nn.parallel.DistributedDataParallel``: a CycleGAN step runs several backward passes
through four networks (the generator loss back-propagates through frozen discriminators, the
discriminator loss through detached fakes); DDP's per-module reducer hooks fire on each backward and
need ``find_unused_parameters`` tricks. Averaging the gradients of exactly the parameters about to
be stepped, right before each optimizer step, is what DDP computes, with no hook bookkeeping.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Union

import torch
import torch.distributed as dist

Params = Union[torch.nn.Module, torch.nn.Parameter, Iterable]


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``rank`` in ``world_size`` processes, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(pref: str) -> str:
    """'auto' -> 'cuda' when a GPU is present, else 'cpu'."""
    if pref == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return pref


def init_distributed(device_pref: str = "auto") -> DistContext:
    """Join the torchrun process group if launched by torchrun, else return a single-rank context.

    Backend: nccl when the device is CUDA, gloo on CPU. Each CUDA rank uses GPU ``LOCAL_RANK``.
    """
    device = resolve_device(device_pref)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=device)
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if device == "cuda":
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistContext(rank=rank, world_size=world, local_rank=local, device=device)


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def _parameters(items: Params) -> list[torch.nn.Parameter]:
    if isinstance(items, torch.nn.Module):
        return list(items.parameters())
    if isinstance(items, torch.Tensor):
        return [items]
    out: list[torch.nn.Parameter] = []
    for it in items:
        out.extend(_parameters(it))
    return out


class GradSync:
    """``grad_sync(params_or_modules)``: average gradients across ranks, in place.

    Call after ``backward()`` and before ``optimizer.step()``. Gradients are flattened into one
    buffer per dtype so each call is a single all-reduce.
    """

    def __init__(self, ctx: DistContext) -> None:
        self.ctx = ctx

    def __call__(self, items: Params) -> None:
        if not self.ctx.enabled:
            return
        params = [p for p in _parameters(items) if p.requires_grad]
        for p in params:
            if p.grad is None:  # a rank that produced no grad still joins the reduction
                p.grad = torch.zeros_like(p)
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for p in params:
            by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
        for grads in by_dtype.values():
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat /= self.ctx.world_size
            offset = 0
            for g in grads:
                n = g.numel()
                g.copy_(flat[offset : offset + n].view_as(g))
                offset += n


def make_grad_sync(ctx: DistContext) -> GradSync | None:
    """A :class:`GradSync` for multi-process runs, None for a single process."""
    return GradSync(ctx) if ctx.enabled else None


def broadcast_module(ctx: DistContext, modules: Iterable[torch.nn.Module]) -> None:
    """Copy rank 0's parameters and buffers to every rank (identical start)."""
    if not ctx.enabled:
        return
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            dist.broadcast(t.data, src=0)


def all_reduce_mean(ctx: DistContext, values: dict[str, float]) -> dict[str, float]:
    """Average a dict of floats over ranks (same keys on every rank)."""
    if not ctx.enabled or not values:
        return dict(values)
    keys = sorted(values)
    dev = ctx.device if ctx.device.startswith("cuda") else "cpu"
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= ctx.world_size
    return dict(zip(keys, t.cpu().tolist()))


def any_rank(ctx: DistContext, flag: bool) -> bool:
    """True if ``flag`` is True on any rank (e.g. a stop request seen by one process)."""
    if not ctx.enabled:
        return flag
    dev = ctx.device if ctx.device.startswith("cuda") else "cpu"
    t = torch.tensor([1.0 if flag else 0.0], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def shard(items: list, ctx: DistContext) -> list:
    """Rank-strided slice ``items[rank::world_size]`` (each rank sees a disjoint share)."""
    return items[ctx.rank :: ctx.world_size] if ctx.enabled else list(items)
