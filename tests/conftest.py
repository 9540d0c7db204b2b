"""Suite-wide settings: tiny tensors run fastest single-threaded (and 2 shared cores are noisy)."""

import os

os.environ.setdefault("CYCLESCAN_NO_JEMALLOC", "1")  # no re-exec of CLI subprocesses in tests

import torch  # noqa: E402

torch.set_num_threads(1)
