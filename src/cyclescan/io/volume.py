"""The one volume type: array (D, H, W) + affine (voxel index -> RAS+ mm) + source metadata.

Like DOSMA's ``MedicalVolume`` / TorchIO's ``ScalarImage`` / MONAI's ``MetaTensor``, the geometry
travels with the array so nothing downstream loses the position of a voxel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def voxel_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size in mm along the array axes (D, H, W): the norms of the affine's first three columns."""
    return tuple(float(s) for s in np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3], axis=0))  # type: ignore[return-value]


@dataclass
class Volume:
    """A 3D image.

    Attributes:
        array: (D, H, W) = (slices, rows, cols), float32 after reading (any real dtype accepted).
        affine: (4, 4) float64; ``affine @ (d, h, w, 1)`` is the voxel centre in RAS+ millimetres
            (nibabel convention).
        meta: plain-Python metadata of the source (``format``, ``path``, ``source_dtype``, ``echo``,
            ``dicom`` header fields, ...). Never holds arrays, so it survives JSON/checkpoints.
    """

    array: np.ndarray
    affine: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.array.ndim != 3:
            raise ValueError(f"Volume.array must be 3D (D, H, W), got shape {self.array.shape}")
        if self.affine.shape != (4, 4):
            raise ValueError(f"Volume.affine must be 4x4, got {self.affine.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(D, H, W)."""
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along (D, H, W): the norms of the affine's first three columns."""
        return voxel_spacing(self.affine)

    @property
    def name(self) -> str:
        """A short name for messages: the source path if known."""
        return str(self.meta.get("path", "<volume>"))

    def with_array(self, array: np.ndarray, **meta_updates: Any) -> "Volume":
        """Same geometry and metadata (copied), new array of the same (D, H, W) shape."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise ValueError(f"with_array: shape {array.shape} != {self.array.shape}")
        return dataclasses.replace(self, array=array, affine=self.affine.copy(), meta={**self.meta, **meta_updates})
