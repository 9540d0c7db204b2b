"""Which convs of a net PyTorch's CPU dispatch sends to the reference ``slow_conv3d``, by FLOPs.

PyTorch (aten ``ConvParams::use_mkldnn``) runs an fp32 batch-1 conv with an in-plane kernel <= 3
on oneDNN only when N*C*D*H > 20480; otherwise on ``slow_conv3d``. ``SafeConv3d`` permutes spatial
axes to lift such layers over the threshold (``nets.blocks.onednn_axis_order``). This census runs
the net on the ``meta`` device (no compute, no memory), records every ``SafeConv3d`` input shape
and applies the rule, so docs/performance.md's table can be reproduced for any patch and model:

    python -m cyclescan.perf.dispatch --patch 20 256 256 --gen-base 32 --disc-base 64
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

import torch
from torch import nn


def conv_dispatch_census(net: nn.Module, patch: Sequence[int]) -> dict:
    """Forward-FLOP census of ``net``'s ``SafeConv3d`` layers on a (1, 1, *patch) input.

    Returns {convs, gflops_fwd, slow_convs, slow_fraction (of FLOPs on slow_conv3d under plain
    dispatch), moved_convs, moved_fraction (of FLOPs the axis permutation moves to oneDNN)}.
    """
    from cyclescan.nets.blocks import MKLDNN_MIN_NCDH, SafeConv3d

    rows: list[tuple[int, bool, bool]] = []

    def hook(m: nn.Module, args: tuple) -> None:
        n, c, d, h, w = args[0].shape
        k, pad, st = m.kernel_size, m.padding, m.stride
        if isinstance(pad, str):  # 'same' / 'valid'
            pad = tuple(kk // 2 for kk in k) if pad == "same" else (0, 0, 0)
        out = [(s + 2 * p - kk) // t + 1 for s, p, kk, t in zip((d, h, w), pad, k, st)]
        flops = 2 * m.in_channels // m.groups * m.out_channels * k[0] * k[1] * k[2] * out[0] * out[1] * out[2] * n
        big_kernel = k[-1] > 3 and k[-2] > 3
        slow = not big_kernel and m.groups == 1 and n == 1 and n * c * d * h <= MKLDNN_MIN_NCDH
        a, b = sorted((d, h, w))[-2:]
        rows.append((flops, slow, slow and n * c * a * b > MKLDNN_MIN_NCDH))

    meta = net.to("meta")
    handles = [m.register_forward_pre_hook(hook) for m in meta.modules() if isinstance(m, SafeConv3d)]
    try:
        with torch.no_grad():
            meta(torch.zeros(1, 1, *patch, device="meta"))
    finally:
        for h in handles:
            h.remove()
    total = sum(r[0] for r in rows) or 1
    return {
        "convs": len(rows),
        "gflops_fwd": total / 1e9,
        "slow_convs": sum(r[1] for r in rows),
        "slow_fraction": sum(r[0] for r in rows if r[1]) / total,
        "moved_convs": sum(r[2] for r in rows),
        "moved_fraction": sum(r[0] for r in rows if r[2]) / total,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the census of the generator and the discriminator as JSON lines."""
    p = argparse.ArgumentParser(description="slow_conv3d dispatch census of the CycleScan nets (meta device)")
    p.add_argument("--patch", type=int, nargs=3, default=[20, 256, 256], help="patch D H W")
    p.add_argument("--gen-base", type=int, default=32, help="generator base channels")
    p.add_argument("--disc-base", type=int, default=64, help="discriminator base channels")
    a = p.parse_args(argv)
    from cyclescan.nets import build_discriminator, build_generator
    from cyclescan.perf.bench_train import TrainCase, case_config

    cfg = case_config(TrainCase(list(a.patch), a.gen_base, a.disc_base))
    for name, build in (("G", build_generator), ("D", build_discriminator)):
        res = conv_dispatch_census(build(cfg, list(a.patch)), a.patch)
        print(json.dumps({"net": name, "patch": list(a.patch), **res}))
    return 0


if __name__ == "__main__":  # pragma: no cover - command line
    sys.exit(main())
