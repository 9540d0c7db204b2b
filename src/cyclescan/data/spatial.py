"""Invertible spatial steps: resampling to a target spacing and padding to the network's needs.

Each step returns the new array, the new affine (voxel -> RAS mm, so geometry is never lost) and a
small record that undoes it. Padding/cropping is exact; resampling back is linear interpolation.

Hand-written on numpy/scipy rather than MONAI ``Spacing``/``SpatialPad``/``DivisiblePad``: those
invert through MetaTensor transform stacks, while here the records must be plain data that live in
a PreparedVolume (and its disk cache) and are undone on numpy arrays by the inference writer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Resampling:
    """Resampling of a (D, H, W) grid from ``source_shape`` to ``target_shape`` (same field of view).

    Voxel edges of the two grids coincide at the field-of-view borders (scipy ``grid_mode``):
    target voxel i covers source coordinate ``(i + 0.5) * f - 0.5`` with ``f = source / target``.
    """

    source_shape: tuple[int, int, int]
    target_shape: tuple[int, int, int]

    @property
    def factors(self) -> np.ndarray:
        """source voxels per target voxel along (D, H, W)."""
        return np.asarray(self.source_shape, dtype=np.float64) / np.asarray(self.target_shape, dtype=np.float64)

    def affine(self, source_affine: np.ndarray) -> np.ndarray:
        """Affine of the target grid given the source grid's affine."""
        f = self.factors
        m = np.diag([*f, 1.0])
        m[:3, 3] = 0.5 * f - 0.5
        return np.asarray(source_affine, dtype=np.float64) @ m

    def apply(self, array: np.ndarray, order: int = 1) -> np.ndarray:
        """source-grid (D, H, W) -> target grid (float32 for order > 0, same dtype for order 0)."""
        return _zoom(array, self.target_shape, order)

    def invert(self, array: np.ndarray, order: int = 1) -> np.ndarray:
        """target-grid (D, H, W) -> source grid (interpolated, not bit-exact)."""
        return _zoom(array, self.source_shape, order)

    def to_dict(self) -> dict:
        return {"source_shape": list(self.source_shape), "target_shape": list(self.target_shape)}

    @classmethod
    def from_dict(cls, d: dict | None) -> "Resampling | None":
        if d is None:
            return None
        return cls(tuple(int(s) for s in d["source_shape"]), tuple(int(s) for s in d["target_shape"]))


def _zoom(array: np.ndarray, shape: tuple[int, int, int], order: int) -> np.ndarray:
    a = np.asarray(array)
    if tuple(a.shape) == tuple(shape):
        return a.copy()
    zoom = np.asarray(shape, dtype=np.float64) / np.asarray(a.shape, dtype=np.float64)
    src = a.astype(np.float32) if order > 0 else a
    out = ndimage.zoom(src, zoom, order=order, mode="nearest", grid_mode=True)
    assert out.shape == tuple(shape), (out.shape, shape)
    return out


def plan_resampling(shape: tuple[int, int, int], spacing: tuple[float, float, float],
                    target_spacing: list[float] | tuple[float, ...] | None) -> Resampling | None:
    """Grid for ``target_spacing`` (mm, D H W) keeping the field of view; None if off or already there."""
    if target_spacing is None:
        return None
    target = tuple(max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, target_spacing))
    if target == tuple(shape):
        return None
    return Resampling(tuple(int(s) for s in shape), target)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Padding:
    """Constant padding ``((d0, d1), (h0, h1), (w0, w1))`` voxels before/after each axis."""

    widths: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]

    @property
    def is_identity(self) -> bool:
        return all(a == 0 and b == 0 for a, b in self.widths)

    def apply(self, array: np.ndarray, value: float) -> np.ndarray:
        return np.pad(array, self.widths, mode="constant", constant_values=value) if not self.is_identity else array

    def invert(self, array: np.ndarray) -> np.ndarray:
        """Crop the padding off again: exact inverse of ``apply``."""
        sl = tuple(slice(a, array.shape[i] - b) for i, (a, b) in enumerate(self.widths))
        return array[sl]

    def affine(self, affine: np.ndarray) -> np.ndarray:
        """Affine of the padded grid (origin moves back by the leading pad)."""
        shift = np.eye(4)
        shift[:3, 3] = [-a for a, _ in self.widths]
        return np.asarray(affine, dtype=np.float64) @ shift

    def to_dict(self) -> dict:
        return {"widths": [list(w) for w in self.widths]}

    @classmethod
    def from_dict(cls, d: dict) -> "Padding":
        return cls(tuple((int(a), int(b)) for a, b in d["widths"]))  # type: ignore[arg-type]


def plan_padding(shape: tuple[int, ...], min_shape: list[int] | tuple[int, ...], multiple: int = 1) -> Padding:
    """Padding so each dim is >= ``min_shape`` and a multiple of ``multiple``, split evenly (extra after)."""
    widths = []
    for n, m in zip(shape, min_shape):
        target = max(int(n), int(m))
        target = -(-target // multiple) * multiple
        total = target - int(n)
        widths.append((total // 2, total - total // 2))
    return Padding(tuple(widths))  # type: ignore[arg-type]
