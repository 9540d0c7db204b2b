"""Data-pipeline benchmark: which fraction of a training step waits for the next batch.

Synthetic volumes are written per domain, the real ``UnpairedPatchDataset`` + ``build_loader``
(``data.num_workers`` workers, memory cache) feed batches of the report's patch size, and the
"step" is a CPU-bound stand-in of the measured tuned step time (matmuls on all intra-op threads,
so the workers compete for the cores as they do in training; a ``sleep`` would hide that).
``DataWaitMeter`` (the trainer's meter) reports the wait fraction; the first batch (worker
start-up, cache fill) is reported separately.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch


def _busy(seconds: float) -> None:
    """Keep the intra-op threads busy for ``seconds`` (a stand-in for a training step)."""
    a = torch.randn(256, 256)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        torch.mm(a, a)


def data_wait(workdir: str | Path, patch: Sequence[int], volume_shape: Sequence[int], step_s: float,
              n_volumes: int = 2, n_steps: int = 8, num_workers: int = 1) -> dict:
    """Measure the data-wait fraction at ``patch`` for steps of ``step_s`` seconds.

    Returns {patch, step_s, num_workers, steps, data_wait_fraction, data_wait_s, first_wait_s,
    load_s_per_batch (loader alone, no compute)}.
    """
    from cyclescan.config import Config
    from cyclescan.data.datasets import DataWaitMeter, UnpairedPatchDataset, build_loader
    from cyclescan.perf.bench_infer import write_test_volume

    work = Path(workdir)
    files: dict[str, list[Path]] = {"a": [], "b": []}
    for dom, off in (("a", 0), ("b", 100)):
        (work / dom).mkdir(parents=True, exist_ok=True)
        for i in range(n_volumes):
            p = work / dom / f"vol{i}.nii.gz"
            write_test_volume(str(p), volume_shape, seed=off + i)
            files[dom].append(p)
    cfg = Config()
    cfg.data.patch_size = list(patch)
    cfg.data.num_workers = num_workers
    cfg.data.patches_per_volume = max(1, -(-(n_steps + 1) // n_volumes))
    cfg.validate()
    ds = UnpairedPatchDataset(files["a"], files["b"], cfg.data, train=True, seed=0)
    loader = build_loader(ds, cfg.data, seed=0)
    # loader alone: how long one batch takes to produce when nothing else runs
    ds.set_epoch(0)
    t0 = time.perf_counter()
    n_alone = 0
    for n_alone, _ in enumerate(loader, start=1):
        if n_alone >= n_steps + 1:
            break
    load_s = (time.perf_counter() - t0) / max(n_alone, 1)
    meter = DataWaitMeter()
    ds.set_epoch(1)
    steps = 0
    for batch in meter.wrap(loader):
        assert batch["a"].shape[-3:] == tuple(patch)
        _busy(step_s)
        steps += 1
        if steps >= n_steps + 1:
            break
    out = meter.summary()
    del loader
    return {
        "patch": list(patch),
        "volume_shape": list(volume_shape),
        "step_s": step_s,
        "num_workers": num_workers,
        "steps": steps,
        "data_wait_fraction": out["data_wait_fraction"],
        "data_wait_s": out["data_wait_s"],
        "first_wait_s": out["first_wait_s"],
        "load_s_per_batch": load_s,
    }
