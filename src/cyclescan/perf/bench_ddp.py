"""Data-parallel scaling check: CycleGAN steps per second with N torchrun processes vs 1.

Run as ``torchrun --nproc_per_node N -m cyclescan.perf.bench_ddp --patch 16 64 64`` (or plainly
with ``python -m`` for the 1-process baseline). Every rank builds the same CycleGAN (weights
broadcast from rank 0), trains on its own random (1, 1, D, H, W) patches and averages gradients
with the trainer's ``train.distributed.GradSync`` (one all-reduce per optimizer step, gloo on CPU,
nccl on GPU), exactly as ``cyclescan train`` does under torchrun. Rank 0 prints one JSON line:
{world_size, threads_per_rank, step_s (median over ranks' medians), samples_per_s = world_size /
step_s}. Scaling efficiency = samples_per_s(N) / (N * samples_per_s(1)).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Optional, Sequence

import torch


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Time ``--repeats`` synchronised steps after ``--warmup``; rank 0 prints the JSON line."""
    p = argparse.ArgumentParser(description="CycleGAN data-parallel scaling check (torchrun)")
    p.add_argument("--patch", type=int, nargs=3, default=[16, 64, 64], help="patch D H W")
    p.add_argument("--gen-base", type=int, default=8, help="generator base channels")
    p.add_argument("--disc-base", type=int, default=16, help="discriminator base channels")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads per rank")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps")
    p.add_argument("--repeats", type=int, default=3, help="timed steps")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    a = p.parse_args(argv)

    from cyclescan.perf.bench_train import TrainCase, case_config
    from cyclescan.train import distributed as dist_mod
    from cyclescan.train.cyclegan import CycleGAN

    torch.set_num_threads(a.threads)
    ctx = dist_mod.init_distributed(a.device)
    cfg = case_config(TrainCase(list(a.patch), a.gen_base, a.disc_base, precision="auto", channels_last=True))
    model = CycleGAN(cfg, a.patch, device=ctx.device)
    dist_mod.broadcast_module(ctx, model.networks().values())
    sync = dist_mod.make_grad_sync(ctx)
    gen = torch.Generator().manual_seed(1000 + ctx.rank)  # each rank its own data shard
    shape = (1, 1, *a.patch)
    times = []
    for i in range(a.warmup + a.repeats):
        real_a = (torch.rand(shape, generator=gen) * 2 - 1).to(ctx.device)
        real_b = (torch.rand(shape, generator=gen) * 2 - 1).to(ctx.device)
        dist_mod.barrier(ctx)
        t = time.perf_counter()
        model.step(real_a, real_b, precision=cfg.train.precision, grad_sync=sync)
        if ctx.device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    meds = dist_mod.all_reduce_mean(ctx, {"step_s": med})
    if ctx.is_main:
        step_s = meds["step_s"]
        print(json.dumps({"world_size": ctx.world_size, "threads_per_rank": a.threads, "patch": list(a.patch),
                          "gen_base": a.gen_base, "disc_base": a.disc_base, "step_s": step_s,
                          "samples_per_s": ctx.world_size / step_s, "device": ctx.device}), flush=True)
    dist_mod.shutdown(ctx)
    return 0


if __name__ == "__main__":  # pragma: no cover - run by torchrun
    sys.exit(main())
