"""Fixtures for inference tests: a tiny checkpoint that follows the checkpoint contract, inputs."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from cyclescan.config import Config
from cyclescan.data.normalize import NormStats

# Tiny networks: 8x16x16 patches, 4 channels, 2 levels. The ratio detail transfer is off here so
# these tests pin the raw pipeline (scale mapping, geometry); tests/infer/test_detail.py covers it.
TINY = {
    "domains": {"a": "ciss", "b": "dess"},
    "data": {"patch_size": [8, 16, 16]},
    "generator": {"base_channels": 4, "depth": 2},
    "discriminator": {"base_channels": 4, "n_layers": 2},
    "infer": {"window": [8, 16, 16], "overlap": 0.25, "precision": "fp32", "detail_sigma": 0.0},
}
STATS_A = NormStats(10.0, 500.0)
STATS_B = NormStats(-100.0, 3000.0)


@pytest.fixture(scope="session")
def tiny_cfg() -> Config:
    return Config.from_dict(TINY)


def make_checkpoint(path: Path, cfg: Config, seed: int = 0) -> Path:
    """A checkpoint dict per docs/architecture.md with randomly initialised nets."""
    from cyclescan.nets import build_discriminator, build_generator
    from cyclescan.train.checkpoint import save_checkpoint

    g = torch.Generator().manual_seed(seed)
    patch = cfg.data.patch_size
    nets = {
        "G_ab": build_generator(cfg, patch, generator=g).state_dict(),
        "G_ba": build_generator(cfg, patch, generator=g).state_dict(),
        "D_a": build_discriminator(cfg, patch, generator=g).state_dict(),
        "D_b": build_discriminator(cfg, patch, generator=g).state_dict(),
    }
    state = {
        "config": cfg.to_dict(), "epoch": 3, "step": 30, "nets": nets,
        "norm": {"a": STATS_A.to_dict(), "b": STATS_B.to_dict()},
        "reference": {"a": torch.linspace(-1, 1, 64), "b": torch.linspace(-1, 1, 64)},
        "history": [], "best": None,
    }
    return save_checkpoint(path, state)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, tiny_cfg) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", tiny_cfg)


def oblique_affine() -> np.ndarray:
    """A rotated, anisotropic, non-canonical affine (so orientation handling is exercised)."""
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([-1.0, 1.0, 1.0])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([3.0, 0.6, 0.7])[:, [2, 0, 1]]
    aff[:3, 3] = [12.0, -40.0, 7.5]
    return aff


def knee_like(shape=(10, 24, 20), seed: int = 0) -> np.ndarray:
    """Smooth blob + noise in scanner-like units (air ~ 0, tissue ~ 200..400)."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    blob = 300.0 * np.exp(-(zz**2 + yy**2 + xx**2) * 2.0) + 100.0 * (xx > 0) * (yy**2 < 0.3)
    return (blob + rng.normal(0, 5.0, shape)).astype(np.float32)


@pytest.fixture
def nifti_dir(tmp_path) -> Path:
    """Two small NIfTI inputs with oblique affines (different shapes)."""
    d = tmp_path / "in"
    d.mkdir()
    for i, shape in enumerate([(10, 24, 20), (9, 20, 26)]):
        nib.save(nib.Nifti1Image(knee_like(shape, i), oblique_affine()), str(d / f"knee{i}.nii.gz"))
    return d
