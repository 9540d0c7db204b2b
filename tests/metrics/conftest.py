"""Fixtures for evaluate tests: tiny paired volumes and a tiny checkpoint that follows the contract."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

SHAPE = (12, 24, 24)
AFFINE = np.diag([2.0, 0.6, 0.6, 1.0])
LABEL_MAP = {"background": 0, "femoral_cartilage": 1, "tibial_cartilage": 2, "patellar_cartilage": 3,
             "fluid": 4, "acl": 5, "muscle": 6}


def _subject(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(source scanner values, label map): a block of labelled tissues in air."""
    labels = np.zeros(SHAPE, np.int16)
    labels[2:10, 3:21, 3:21] = 6
    labels[3:9, 5:8, 5:19] = 1
    labels[3:9, 9:11, 5:19] = 2
    labels[3:9, 12:14, 5:19] = 3
    labels[3:9, 15:18, 5:12] = 4
    labels[3:9, 15:18, 13:19] = 5
    signal = np.array([0, 500, 480, 520, 900, 200, 300], np.float32)
    src = signal[labels] + rng.normal(0, 8, SHAPE).astype(np.float32)
    return np.clip(src, 0, None), labels


def _save(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(arr, AFFINE), str(path))


@pytest.fixture(scope="module")
def paired_set(tmp_path_factory) -> dict[str, Path]:
    """source/, target/ (= 2 * source + 10: same content, other scale), clean/, labels/, 2 subjects,
    plus an unpaired extra source volume that must be ignored."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("set")
    for i in range(2):
        src, lab = _subject(rng)
        name = f"subject_{i:04d}.nii.gz"
        _save(src, root / "source" / name)
        _save(2.0 * src + 10.0, root / "target" / name)
        _save(src, root / "clean" / name)
        _save(lab, root / "labels" / name)
    _save(_subject(rng)[0], root / "source" / "unpaired_9999.nii.gz")
    return {k: root / k for k in ("source", "target", "clean", "labels")}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint dict per docs/architecture.md with randomly initialised tiny generators."""
    import torch

    from cyclescan.config import Config
    from cyclescan.nets import build_generator
    from cyclescan.train.checkpoint import save_checkpoint

    cfg = Config().with_overrides([
        "domains.a=ciss", "domains.b=dess", "data.patch_size=[8,16,16]", "generator.base_channels=4",
        "generator.depth=2", "infer.precision=fp32", "train.precision=fp32",
    ])
    torch.manual_seed(0)
    nets = {n: build_generator(cfg, cfg.data.patch_size).state_dict() for n in ("G_ab", "G_ba")}
    ref = torch.linspace(-0.9, 0.9, 256)
    state = {
        "config": cfg.to_dict(), "epoch": 3, "step": 30, "nets": nets,
        "norm": {"a": {"lo": 0.0, "hi": 900.0}, "b": {"lo": 10.0, "hi": 1810.0}},
        "reference": {"a": ref, "b": ref},
    }
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "ckpt.pt", state)
