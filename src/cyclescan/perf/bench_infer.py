"""Inference benchmark: translate one volume end to end in a child process, with its peak RSS.

End to end = read the NIfTI, normalize, sliding window (or one whole-volume window), map back to
the target scale, write the NIfTI (atomic). Each case runs in its own process so that
``ru_maxrss`` is the peak of that case alone. The generator is the default architecture with its
initial weights (same cost as a trained one). A case that would run past ``budget_s`` is stopped
after the window that crosses it and its translation time extrapolated from the windows done
(``extrapolated: true``); read and write are still measured for real only when it completes.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Optional, Sequence

import numpy as np


def write_test_volume(path: str, shape: Sequence[int], seed: int = 0) -> None:
    """A synthetic knee-like NIfTI (D, H, W): smooth blobs + Rician-like noise, scanner units ~0..1000."""
    from scipy.ndimage import gaussian_filter

    from cyclescan.io import write_nifti
    from cyclescan.io.volume import Volume

    rng = np.random.default_rng(seed)
    small = rng.random([max(2, s // 8) for s in shape]).astype(np.float32)
    from scipy.ndimage import zoom

    field = zoom(small, [s / t for s, t in zip(shape, small.shape)], order=1)[: shape[0], : shape[1], : shape[2]]
    field = gaussian_filter(field, 1.0)
    arr = (1000.0 * np.clip(field, 0, 1) + 20.0 * np.abs(rng.standard_normal(field.shape))).astype(np.float32)
    affine = np.diag([1.5, 0.35, 0.35, 1.0])
    write_nifti(Volume(arr, affine, {"description": "cyclescan benchmark"}), path, "float32")


class _Budget(Exception):
    """Raised from the progress hook to stop a case that ran past its budget."""


class _Progress:
    """tqdm-like hook for ``translate_volume``: counts windows, enforces the time budget."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s, self.total, self.done = budget_s, 0, 0
        self.t0 = time.perf_counter()

    def reset(self, total: int) -> None:
        self.total, self.done, self.t0 = int(total), 0, time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += int(n)
        if self.done < self.total and time.perf_counter() - self.t0 > self.budget_s:
            raise _Budget


def translate_case(input_path: str, output_path: str, patch: Sequence[int], gen_base: int, precision: str,
                   whole: bool, overlap: float, budget_s: float, tuned: bool) -> dict:
    """Time read + translate + write of one volume; see the module docstring. Returns a dict."""
    import torch

    from cyclescan.config import Config
    from cyclescan.data.normalize import NormStats
    from cyclescan.infer.translate import translate_volume
    from cyclescan.io import read_volume, write_nifti
    from cyclescan.nets import build_generator
    from cyclescan.perf.runtime import configure_runtime, jemalloc_loaded, resolve_precision

    if tuned:
        configure_runtime()
        precision = resolve_precision(precision) if precision == "auto" else precision
    cfg = Config()
    cfg.data.patch_size = list(patch)
    cfg.generator.base_channels = gen_base
    cfg.infer.precision = "bf16" if precision == "bf16" else "fp32"
    cfg.infer.overlap = 0.0 if whole else overlap
    t0 = time.perf_counter()
    vol = read_volume(input_path)
    t_read = time.perf_counter() - t0
    if whole:
        cfg.infer.window = list(vol.shape)
    cfg.validate()
    gen = build_generator(cfg, cfg.data.patch_size).eval()
    prog = _Progress(budget_s)
    t1 = time.perf_counter()
    extrapolated = False
    with torch.inference_mode():
        try:
            out = translate_volume(vol, gen, cfg, NormStats(0.0, 1000.0), progress=prog)
        except _Budget:
            extrapolated = True
    t_trans = time.perf_counter() - t1
    t_write = 0.0
    if extrapolated:
        t_trans = t_trans / max(prog.done, 1) * prog.total
    else:
        t2 = time.perf_counter()
        write_nifti(out, output_path, "float32")
        t_write = time.perf_counter() - t2
    return {
        "shape": list(vol.shape),
        "precision": cfg.infer.precision,
        "mode": "whole" if whole else "sliding",
        "window": cfg.window(),
        "overlap": cfg.infer.overlap,
        "windows_total": prog.total,
        "windows_done": prog.done,
        "extrapolated": extrapolated,
        "read_s": t_read,
        "translate_s": t_trans,
        "write_s": t_write,
        "total_s": t_read + t_trans + t_write,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": torch.get_num_threads(),
        "jemalloc": jemalloc_loaded(),
    }


def run_case_subprocess(args: Sequence[str], timeout_s: float, env: Optional[dict] = None) -> dict:
    """Run :func:`main` with ``args`` in a child process and return its JSON (or {'error': ...})."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cyclescan-bench-") as tmp:
        out = os.path.join(tmp, "case.json")
        cmd = [sys.executable, "-m", "cyclescan.perf.bench_infer", "--json", out, *args]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout_s:.0f} s"}
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            kind = "killed (out of memory?)" if proc.returncode < 0 else f"rc {proc.returncode}"
            return {"error": f"{kind}: {lines[-1][:200]}"}
        with open(out) as fh:
            return json.load(fh)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Child-process entry point (internal to ``cyclescan benchmark``)."""
    p = argparse.ArgumentParser(description="time one end-to-end translation (internal to cyclescan benchmark)")
    p.add_argument("--json", required=True, help="where the result dict goes")
    p.add_argument("--input", required=True, help="input NIfTI")
    p.add_argument("--output", required=True, help="output NIfTI")
    p.add_argument("--patch", type=int, nargs=3, required=True, help="training patch D H W (= window)")
    p.add_argument("--gen-base", type=int, default=32, help="generator base channels")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="inference precision")
    p.add_argument("--whole", action="store_true", help="one window covering the whole volume")
    p.add_argument("--overlap", type=float, default=0.5, help="sliding-window overlap")
    p.add_argument("--budget-s", type=float, default=600.0, help="stop and extrapolate after this long")
    p.add_argument("--tuned", action="store_true", help="apply configure_runtime")
    a = p.parse_args(argv)
    res = translate_case(a.input, a.output, a.patch, a.gen_base, a.precision, a.whole, a.overlap, a.budget_s,
                         a.tuned)
    from cyclescan.io.atomic import atomic_write_text

    atomic_write_text(a.json, json.dumps(res))
    return 0


if __name__ == "__main__":  # pragma: no cover - child process
    sys.exit(main())
