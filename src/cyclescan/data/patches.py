"""Random 3D patch crops and light augmentation, driven by an explicit numpy Generator.

Hand-written instead of MONAI ``RandCropByPosNegLabel``/``RandFlip``/``RandScaleIntensity``: MONAI
randomizable transforms each own one RandomState that advances with every call, so the patch an
item gets depends on which worker process drew it and in what order. Here every item's generator
is derived from (seed, epoch, index, domain), so patches are identical for any ``num_workers``
and reproducible by seed, and validation patches are the same every epoch.
"""

from __future__ import annotations

import numpy as np


def foreground_index(mask: np.ndarray) -> np.ndarray:
    """Flat indices (int64) of the foreground voxels of a (D, H, W) mask."""
    return np.flatnonzero(np.asarray(mask).ravel())


def sample_start(shape: tuple[int, ...], patch: list[int] | tuple[int, ...], rng: np.random.Generator,
                 fg_index: np.ndarray | None, fg_prob: float) -> tuple[int, int, int]:
    """Corner of a patch: centred on a random foreground voxel with probability ``fg_prob``
    (when there is foreground), else on a uniformly random voxel; clamped inside the volume."""
    if fg_index is not None and len(fg_index) > 0 and rng.random() < fg_prob:
        centre = np.unravel_index(int(fg_index[rng.integers(len(fg_index))]), shape)
    else:
        centre = tuple(int(rng.integers(n)) for n in shape)
    return tuple(int(np.clip(c - p // 2, 0, max(n - p, 0))) for c, p, n in zip(centre, patch, shape))  # type: ignore[return-value]


def crop(array: np.ndarray, start: tuple[int, int, int], patch: list[int] | tuple[int, ...]) -> np.ndarray:
    """float32 copy of ``array[start : start + patch]`` (D, H, W); ``array`` must be >= patch."""
    sl = tuple(slice(s, s + p) for s, p in zip(start, patch))
    out = np.array(array[sl], dtype=np.float32)
    if out.shape != tuple(patch):
        raise ValueError(f"volume {array.shape} is smaller than the patch {tuple(patch)}; it should have been padded")
    return out


def foreground_box(mask: np.ndarray) -> np.ndarray:
    """(2, 3) float64: first and last foreground index per axis of a (D, H, W) mask (the whole
    volume when the mask is empty)."""
    mask = np.asarray(mask, dtype=bool)
    box = np.zeros((2, 3))
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        box[:, axis] = (idx[0], idx[-1]) if len(idx) else (0, mask.shape[axis] - 1)
    return box


def position_map(start: tuple[int, int, int], patch: list[int] | tuple[int, ...], box: np.ndarray) -> np.ndarray:
    """(3, D, H, W) float32: for every voxel of the patch at ``start``, its (slice, row, column)
    index mapped linearly so the foreground box ``box`` (``foreground_box``) spans [-1, 1]
    (voxels outside the box go beyond +-1). Relative to the body, not the array, so volumes with
    a different field of view or padding give the same anatomy about the same position."""
    axes = []
    for a in range(3):
        lo, hi = float(box[0, a]), float(box[1, a])
        idx = np.arange(start[a], start[a] + patch[a], dtype=np.float64)
        axes.append((2.0 * (idx - lo) / max(hi - lo, 1.0) - 1.0).astype(np.float32))
    grids = np.meshgrid(*axes, indexing="ij")
    return np.ascontiguousarray(np.stack(grids, axis=0), dtype=np.float32)


def random_flips(arrays: list[np.ndarray], rng: np.random.Generator, flip_prob: float) -> list[np.ndarray]:
    """In-plane flips (the last two axes, each with ``flip_prob``), the same ones for every array
    of ``arrays`` (a patch and its position map)."""
    for axis in (-2, -1):
        if flip_prob > 0 and rng.random() < flip_prob:
            arrays = [np.flip(a, axis=axis) for a in arrays]
    return arrays


def augment(patch: np.ndarray, rng: np.random.Generator, flip_prob: float, jitter: float,
            positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """In-plane flips (H and W axes, each with ``flip_prob``) and intensity jitter of the tissue
    ``-1 + (y + 1) (1 + s) + t`` with s, t ~ U(-jitter, jitter); voxels at the normalization floor
    (-1: air) stay at -1; result clipped to [-1, 1], float32.

    Why the floor stays: the generators' air gate (nets/gate.py) writes air as exactly -1, so a
    real patch whose air was lifted by the shift gave the discriminator a real/fake cue no
    generator could remove, and a lifted source air switched the gate off for that patch (28 of
    100 phantom patches at jitter 0.05, found in review).

    Returns (patch, positions): ``positions`` (a (3, D, H, W) ``position_map``, or None) gets the
    same flips, so every voxel keeps the position it had in the volume."""
    flipped = random_flips([patch] if positions is None else [patch, positions], rng, flip_prob)
    out = flipped[0]
    pos = None if positions is None else np.ascontiguousarray(flipped[1], dtype=np.float32)
    if jitter > 0:
        s, t = rng.uniform(-jitter, jitter, size=2)
        floor = out <= -1.0
        out = (out + np.float32(1.0)) * np.float32(1.0 + s) + np.float32(t - 1.0)
        out[floor] = -1.0
        np.clip(out, -1.0, 1.0, out=out)
    return np.ascontiguousarray(out, dtype=np.float32), pos
