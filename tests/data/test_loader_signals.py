"""Ctrl-C / kill of the process group must not kill DataLoader workers before the trainer saves."""

import os
import signal
import time

import torch

from cyclescan.config import DataConfig
from cyclescan.data.loader import build_loader


class _Tiny(torch.utils.data.Dataset):
    epoch = 0

    def __len__(self):
        return 6

    def __getitem__(self, item):
        _, i = item
        return {"a": torch.full((1, 2, 2, 2), float(i))}


def test_workers_ignore_sigterm_and_sigint():
    loader = build_loader(_Tiny(), DataConfig(num_workers=1), seed=0)
    it = iter(loader)
    first = next(it)
    workers = it._workers  # private, but the only handle on the worker processes
    assert len(workers) == 1 and workers[0].is_alive()
    for sig in (signal.SIGTERM, signal.SIGINT):
        os.kill(workers[0].pid, sig)
    time.sleep(0.5)
    assert workers[0].is_alive()
    rest = [b["a"][0, 0, 0, 0, 0].item() for b in it]
    assert first["a"].flatten()[0].item() == 0.0 and rest == [1.0, 2.0, 3.0, 4.0, 5.0]
    del it
