"""Training-step benchmark: one full CycleGAN step (2 G, 2 D, all losses, both optimizer steps).

Two variants are compared in the same ``cyclescan benchmark`` run:

* ``naive``: the same networks in plain fp32 eager PyTorch, contiguous (NCDHW) memory format,
  PyTorch's default threads, the default allocator, PyTorch's own conv dispatch (the
  ``SafeConv3d`` oneDNN axis permutation switched off with ``nets.blocks.set_onednn_permute``):
  run as a child process (``python -m cyclescan.perf.bench_train``) without jemalloc in
  ``LD_PRELOAD`` and without :func:`cyclescan.perf.runtime.configure_runtime`.
* ``tuned``: CycleScan's path: ``configure_runtime`` (threads, flush-denormal), jemalloc when the
  parent was re-executed with it, ``channels_last_3d``, the oneDNN axis permutation, and precision
  'auto' (bf16 autocast only where bf16 convs are fast, ``nets.precision.resolve_precision``; the
  nets keep depth <= 2 convs in fp32 either way).

FLOPs of one step are counted with ``torch.utils.flop_counter.FlopCounterMode`` during the
warm-up step (forward + backward of every conv / matmul; optimizer and norms not counted).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import torch

from cyclescan.config import Config


@dataclass
class TrainCase:
    """What to time. ``precision`` is what is asked ('auto' is resolved per machine).

    ``onednn_permute``: None = on for the tuned variant, off for the naive one (ablations set it).
    """

    patch: list[int]
    gen_base: int
    disc_base: int
    precision: str = "fp32"
    channels_last: bool = False
    tuned: bool = False
    warmup: int = 1
    repeats: int = 3
    budget_s: float = 600.0
    seed: int = 0
    onednn_permute: Optional[bool] = None


def case_config(case: TrainCase) -> Config:
    """The default Config with the case's patch size, channel widths, precision and format."""
    cfg = Config()
    cfg.data.patch_size = list(case.patch)
    cfg.generator.base_channels = case.gen_base
    cfg.discriminator.base_channels = case.disc_base
    cfg.train.channels_last = case.channels_last
    cfg.train.precision = "bf16" if case.precision == "bf16" else "fp32"
    cfg.train.pool_size = 50
    cfg.validate()
    return cfg


def time_train_steps(case: TrainCase) -> dict:
    """Build a CycleGAN for ``case``, run warm-up + timed steps on random (1,1,D,H,W) patches.

    Timed repeats stop early (after at least one) once ``budget_s`` is spent. Returns
    {variant, precision, channels_last, step_s (median), step_times, flops_per_step,
    gflops (flops / median step), runtime (settings applied), ...}.
    """
    from cyclescan.nets.blocks import set_onednn_permute
    from cyclescan.perf.runtime import configure_runtime, jemalloc_loaded, resolve_precision
    from cyclescan.train.cyclegan import CycleGAN

    settings = configure_runtime() if case.tuned else None
    permute = case.tuned if case.onednn_permute is None else case.onednn_permute
    case = TrainCase(**{**asdict(case), "precision": resolve_precision(case.precision), "onednn_permute": permute})
    torch.manual_seed(case.seed)
    cfg = case_config(case)
    model = CycleGAN(cfg, case.patch)
    for net in model.networks().values():
        set_onednn_permute(net, permute)
    model.train()
    shape = (1, 1, *case.patch)
    real_a = torch.rand(shape) * 2 - 1
    real_b = torch.rand(shape) * 2 - 1
    t0 = time.perf_counter()
    flops = None
    for i in range(max(1, case.warmup)):
        if i == 0:
            from torch.utils.flop_counter import FlopCounterMode

            counter = FlopCounterMode(display=False)
            with counter:
                model.step(real_a, real_b, precision=case.precision)
            flops = int(counter.get_total_flops())
        else:
            model.step(real_a, real_b, precision=case.precision)
    warm_s = time.perf_counter() - t0
    times: list[float] = []
    t_budget = time.perf_counter()
    for _ in range(max(1, case.repeats)):
        t = time.perf_counter()
        model.step(real_a, real_b, precision=case.precision)
        times.append(time.perf_counter() - t)
        if time.perf_counter() - t_budget > case.budget_s:
            break
    med = statistics.median(times)
    return {
        "variant": "tuned" if case.tuned else "naive",
        "patch": list(case.patch),
        "gen_base_channels": case.gen_base,
        "disc_base_channels": case.disc_base,
        "precision": case.precision,
        "channels_last": case.channels_last,
        "onednn_permute": permute,
        "threads": torch.get_num_threads(),
        "jemalloc": jemalloc_loaded(),
        "runtime": settings.to_dict() if settings else None,
        "warmup_steps": max(1, case.warmup),
        "warmup_s": warm_s,
        "step_times": times,
        "step_s": med,
        "flops_per_step": flops,
        "gflops": (flops / med / 1e9) if flops else None,
    }


def run_naive_subprocess(case: TrainCase, timeout_s: float) -> dict:
    """Time the naive variant in a child process without jemalloc (default allocator)."""
    import os
    import subprocess
    import tempfile

    from cyclescan.perf.runtime import plain_env

    with tempfile.TemporaryDirectory(prefix="cyclescan-bench-") as tmp:
        out = os.path.join(tmp, "naive.json")
        cmd = [sys.executable, "-m", "cyclescan.perf.bench_train", "--out", out, *case_to_argv(case)]
        env = plain_env()
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # naive = PyTorch's own default threads
            env.pop(var, None)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"naive training benchmark failed (rc {proc.returncode}): {tail[0]}")
        with open(out) as fh:
            return json.load(fh)


def case_to_argv(case: TrainCase) -> list[str]:
    """Command-line arguments that rebuild ``case`` in :func:`main`."""
    argv = ["--patch", *map(str, case.patch), "--gen-base", str(case.gen_base), "--disc-base", str(case.disc_base),
            "--precision", case.precision, "--warmup", str(case.warmup), "--repeats", str(case.repeats),
            "--budget-s", str(case.budget_s), "--seed", str(case.seed)]
    if case.channels_last:
        argv.append("--channels-last")
    if case.tuned:
        argv.append("--tuned")
    if case.onednn_permute is not None:
        argv.append("--onednn-permute" if case.onednn_permute else "--no-onednn-permute")
    return argv


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Child-process entry point: time one case, write its dict as JSON to ``--out``."""
    p = argparse.ArgumentParser(description="time CycleGAN training steps (internal to cyclescan benchmark)")
    p.add_argument("--out", required=True, help="JSON result path")
    p.add_argument("--patch", type=int, nargs=3, required=True, help="patch D H W")
    p.add_argument("--gen-base", type=int, required=True, help="generator base channels")
    p.add_argument("--disc-base", type=int, required=True, help="discriminator base channels")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="fp32", help="autocast precision")
    p.add_argument("--channels-last", action="store_true", help="channels_last_3d")
    p.add_argument("--tuned", action="store_true", help="apply configure_runtime")
    p.add_argument("--warmup", type=int, default=1, help="warm-up steps")
    p.add_argument("--repeats", type=int, default=3, help="timed steps")
    p.add_argument("--budget-s", type=float, default=600.0, help="stop timed steps after this long")
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument("--onednn-permute", action=argparse.BooleanOptionalAction, default=None,
                   help="SafeConv3d oneDNN axis permutation (default: on iff --tuned)")
    a = p.parse_args(argv)
    case = TrainCase(a.patch, a.gen_base, a.disc_base, a.precision, a.channels_last, a.tuned, a.warmup, a.repeats,
                     a.budget_s, a.seed, a.onednn_permute)
    from cyclescan.io.atomic import atomic_write_text

    atomic_write_text(a.out, json.dumps(time_train_steps(case)))
    return 0


if __name__ == "__main__":  # pragma: no cover - child process
    sys.exit(main())
