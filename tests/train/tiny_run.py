"""Helpers for trainer tests: a tiny synthetic two-contrast dataset and a tiny config."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from cyclescan.config import Config

SHAPE = (16, 32, 32)


def _subject(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A blob phantom: contrast A bright tissue / dark fluid, contrast B the other way round."""
    d, h, w = np.meshgrid(*[np.linspace(-1, 1, s) for s in SHAPE], indexing="ij")
    c = rng.uniform(-0.2, 0.2, 3)
    r = np.sqrt((d - c[0]) ** 2 + (h - c[1]) ** 2 + (w - c[2]) ** 2)
    tissue = (r < 0.7).astype(np.float32)
    fluid = (r < 0.3).astype(np.float32)
    a = 100 * tissue - 60 * fluid + rng.normal(0, 3, SHAPE)
    b = 40 * tissue + 120 * fluid + rng.normal(0, 3, SHAPE)
    return a.astype(np.float32), b.astype(np.float32)


def make_dataset(root: Path, n_train: int = 2, n_val: int = 1, seed: int = 0) -> dict[str, Path]:
    """root/{a,b}/{train,val}/subj_XX.nii.gz; val is paired (same names in a and b)."""
    rng = np.random.default_rng(seed)
    dirs = {}
    for split, n in (("train", n_train), ("val", n_val)):
        for dom in ("a", "b"):
            (root / dom / split).mkdir(parents=True, exist_ok=True)
            dirs[f"{dom}_{split}"] = root / dom / split
        for i in range(n):
            a, b = _subject(rng)
            aff = np.diag([2.0, 0.5, 0.5, 1.0])
            nib.save(nib.Nifti1Image(a, aff), str(root / "a" / split / f"subj_{split}{i:02d}.nii.gz"))
            nib.save(nib.Nifti1Image(b, aff), str(root / "b" / split / f"subj_{split}{i:02d}.nii.gz"))
    return dirs


TINY = [
    "data.patch_size=[8,16,16]", "data.patches_per_volume=2", "data.num_workers=0", "data.cache=memory",
    "generator.base_channels=4", "generator.depth=2", "discriminator.base_channels=4",
    "discriminator.n_layers=2", "train.precision=fp32", "train.pool_size=2", "train.epochs=3",
    "train.deterministic=true", "train.num_threads=1", "train.checkpoint_every=2", "train.device=cpu",
]


def tiny_cfg(*extra: str) -> Config:
    return Config().with_overrides(TINY + list(extra))
