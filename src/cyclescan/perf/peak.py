"""Measured matmul peak: the "hardware limit" the training step's GFLOP/s is compared with.

A large square ``torch.mm`` on all intra-op threads is the best case for the BLAS / oneDNN
kernels on this machine; theoretical peaks (cores x FMA width x clock) are not measurable from
inside a VM and ignore what the libraries achieve, so we measure instead.
"""

from __future__ import annotations

import statistics
import time

import torch

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(dtype: str = "bf16", max_n: int = 4096, budget_s: float = 10.0, repeats: int = 5) -> dict:
    """GFLOP/s of ``torch.mm`` (n x n) @ (n x n) in ``dtype`` ('fp32' or 'bf16').

    ``n`` starts at 256 and doubles while one product takes < 0.25 s (and ``n <= max_n``), so
    the matrices are large enough to reach the kernel's plateau without blowing the budget on
    CPUs where ``dtype`` is emulated. Returns {dtype, n, repeats, gflops (best), gflops_median,
    seconds_median}; "best" is the peak (least disturbed by other processes).
    """
    dt = _DTYPES[dtype]
    t_start = time.perf_counter()
    n, per = 256, 0.0
    while True:
        a = torch.randn(n, n).to(dt)
        b = torch.randn(n, n).to(dt)
        torch.mm(a, b)  # warm-up (kernel selection, page faults)
        t = time.perf_counter()
        torch.mm(a, b)
        per = time.perf_counter() - t
        if per > 0.25 or 2 * n > max_n or time.perf_counter() - t_start > budget_s / 3:
            break
        n *= 2
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
        if time.perf_counter() - t_start > budget_s:
            break
    flops = 2.0 * n**3
    return {
        "dtype": dtype,
        "n": n,
        "repeats": len(times),
        "gflops": flops / min(times) / 1e9,
        "gflops_median": flops / statistics.median(times) / 1e9,
        "seconds_median": statistics.median(times),
    }
