"""DataLoader construction and measurement of how long training waits for data.

``build_loader`` wraps a dataset in a seeded DataLoader with (persistent) worker processes and a
sampler that passes the current epoch along with each index. ``DataWaitMeter`` wraps the loader
iterator and reports which fraction of wall time was spent blocked in ``next()``.
"""

from __future__ import annotations

import signal
import time
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from cyclescan.config import DataConfig


class EpochIndexSampler(Sampler):
    """Yields ``(epoch, i)`` for i in 0..len-1, reading ``dataset.epoch`` when iteration starts.

    Items are already shuffled inside the dataset per epoch, so order here is sequential; carrying
    the epoch in the index lets persistent workers (which hold their own dataset copy) follow
    ``set_epoch`` calls made in the main process.
    """

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = int(getattr(self.dataset, "epoch", 0))
        return iter([(epoch, i) for i in range(len(self.dataset))])

    def __len__(self) -> int:
        return len(self.dataset)


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    torch.set_num_threads(1)  # workers crop and flip; leave the cores to the model
    # Ctrl-C / `kill` of the process group reaches the workers too. Let the trainer alone handle
    # SIGINT/SIGTERM (it saves a resumable checkpoint, then shuts the loader down): a worker dying
    # on the signal first would turn a clean stop into "DataLoader worker killed by signal". The
    # workers still exit with the loader, and on their own when the trainer process dies.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def build_loader(dataset: Any, data_cfg: DataConfig, seed: int, batch_size: int = 1,
                 drop_last: bool = False) -> DataLoader:
    """Seeded DataLoader over ``dataset``: ``data_cfg.num_workers`` workers (persistent when > 0).

    Batches are dicts of (B, 1, D, H, W) float32 tensors. Call ``dataset.set_epoch(e)`` before
    iterating epoch ``e``.
    """
    workers = int(data_cfg.num_workers)
    g = torch.Generator()
    g.manual_seed(int(seed))
    kwargs: dict[str, Any] = {}
    if workers > 0:
        kwargs.update(persistent_workers=True, prefetch_factor=2, worker_init_fn=_seed_worker)
    return DataLoader(dataset, batch_size=batch_size, sampler=EpochIndexSampler(dataset), num_workers=workers,
                      generator=g, drop_last=drop_last, pin_memory=torch.cuda.is_available(), **kwargs)


class DataWaitMeter:
    """Fraction of step time spent waiting for data.

    Usage::

        meter = DataWaitMeter()
        for batch in meter.wrap(loader):
            step(batch)
        meter.fraction      # wait / total wall time since wrap() started (0..1)
        meter.summary()     # dict for logs/history

    The first batch (worker start-up) is reported separately as ``first_wait_s`` and left out of
    ``fraction`` so epoch-1 start-up does not hide the steady state.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.wait_s = 0.0
        self.first_wait_s = 0.0
        self.batches = 0
        self._t_start: float | None = None
        self._t_end: float | None = None

    def wrap(self, iterable: Iterable) -> Iterator:
        it = iter(iterable)
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                self._t_end = time.perf_counter()
                return
            dt = time.perf_counter() - t0
            if self.batches == 0:
                self.first_wait_s += dt
                self._t_start = time.perf_counter()
            else:
                self.wait_s += dt
            self.batches += 1
            self._t_end = None
            yield batch

    @property
    def total_s(self) -> float:
        if self._t_start is None:
            return 0.0
        return (self._t_end or time.perf_counter()) - self._t_start

    @property
    def fraction(self) -> float:
        total = self.total_s
        return self.wait_s / total if total > 0 else 0.0

    def summary(self) -> dict[str, float]:
        return {"data_wait_fraction": self.fraction, "data_wait_s": self.wait_s, "first_wait_s": self.first_wait_s,
                "batches": float(self.batches), "total_s": self.total_s}
