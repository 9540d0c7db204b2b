"""Suite-wide settings: tiny tensors run fastest single-threaded (and 2 shared cores are noisy).

Also the fixtures several test folders share: the bad-input corpus (tests/badinput), the real
MESE DICOM folder, and the tiny training set with its one uninterrupted reference run (tests/train
and tests/reliability compare resumed runs against it).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("CYCLESCAN_NO_JEMALLOC", "1")  # no re-exec of CLI subprocesses in tests

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # so `badinput.corpus` imports from any test folder
if str(TESTS / "train") not in sys.path:
    sys.path.insert(0, str(TESTS / "train"))  # tiny_run: the tiny dataset and config

#: The real multi-echo knee DICOM series (../shared relative to the repository root).
MESE_DIR = TESTS.parent / ".." / "shared" / "data" / "knee_mese_t2" / "dicom"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one thread is faster, and far faster when other jobs share the 2 cores (an
    OpenMP team waiting on a descheduled thread makes 3 ms convs take 80 ms). Restores the
    previous count, so a test that changes it cannot leak into the next."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """{name: path} of the bad-input corpus (see badinput.corpus.make_corpus)."""
    from badinput.corpus import make_corpus

    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def mese_dir() -> Path:
    """The real MESE DICOM folder; skips the test when it is absent."""
    if not MESE_DIR.is_dir():
        pytest.skip(f"real MESE DICOM data not found at {MESE_DIR}")
    return MESE_DIR.resolve()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """{a_train, b_train, a_val, b_val}: 2 + 2 training volumes, 1 + 1 paired val volumes (16x32x32)."""
    from tiny_run import make_dataset

    return make_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_straight_run(tiny_dataset, tmp_path_factory):
    """(RUN dir, best path) of one uninterrupted deterministic 3-epoch run with validation every
    epoch; tests read it or check that refused commands leave it unchanged, none may modify it."""
    from tiny_run import tiny_cfg

    from cyclescan.train.trainer import train

    out = tmp_path_factory.mktemp("straight") / "RUN"
    best = train(tiny_cfg(), tiny_dataset["a_train"], tiny_dataset["b_train"], out, val_a=tiny_dataset["a_val"],
                 val_b=tiny_dataset["b_val"], progress=False)
    return out, best
