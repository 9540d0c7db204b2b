"""Canonical internal orientation and its exact inverse.

Every volume is reoriented (axis permutation + flips only: exact, no interpolation) so that its
voxel axes (D, H, W) point as close as possible to a fixed target given as nibabel axis codes, the
direction each index *increases* towards. The default ``RIP`` is the radiological sagittal view
used by knee CISS/DESS: slices run towards the patient's right, rows go superior -> inferior,
columns anterior -> posterior. Mixed orientations in one folder therefore all end up alike.

Uses nibabel.orientations (the reference implementation of this bookkeeping) rather than MONAI's
``Orientation``, which needs a MetaTensor and does not return a standalone inverse record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nibabel import orientations as nio

from cyclescan.errors import ConfigError
from cyclescan.io.volume import Volume

DEFAULT_ORIENTATION = "RIP"
_PAIRS = ("LR", "AP", "SI")


def parse_orientation(code: str) -> tuple[str, str, str]:
    """Validate a 3-letter axis code (one of L/R, one of A/P, one of S/I, any order)."""
    c = str(code).upper()
    groups = sorted(next((i for i, pair in enumerate(_PAIRS) if ch in pair), -1) for ch in c)
    if len(c) != 3 or groups != [0, 1, 2]:
        raise ConfigError(
            f"data.orientation: {code!r} is not an axis code such as RIP or RAS "
            "(three letters, one from each of L/R, A/P, S/I)"
        )
    return (c[0], c[1], c[2])


def axcodes(affine: np.ndarray) -> str:
    """Nearest axis codes of an affine's voxel axes, e.g. 'RIP' (oblique axes: nearest)."""
    return "".join(nio.aff2axcodes(np.asarray(affine, dtype=np.float64)))


@dataclass(frozen=True)
class Reorientation:
    """Record of one reorientation, enough to undo it exactly.

    ``ornt`` is the nibabel (3, 2) orientation transform (target axis source, flip) applied to the
    source array; ``source_shape``/``source_affine`` restore the original geometry bit for bit.
    """

    ornt: np.ndarray
    source_shape: tuple[int, int, int]
    source_affine: np.ndarray

    @property
    def is_identity(self) -> bool:
        return bool(np.array_equal(self.ornt, [[0, 1], [1, 1], [2, 1]]))

    def apply_array(self, array: np.ndarray) -> np.ndarray:
        """Source-layout array (D, H, W[, ...]) -> canonical layout (a view when possible)."""
        return nio.apply_orientation(array, self.ornt)

    def invert_array(self, array: np.ndarray) -> np.ndarray:
        """Canonical-layout array -> source layout; exact inverse of ``apply_array``."""
        out = nio.apply_orientation(array, _inverse(self.ornt))
        if out.shape[:3] != tuple(self.source_shape):
            raise ValueError(f"invert_array: shape {out.shape} does not match the source {self.source_shape}")
        return out

    def invert(self, vol: Volume) -> Volume:
        """Canonical Volume -> Volume in the source's voxel layout with the source's exact affine."""
        return Volume(self.invert_array(vol.array), self.source_affine.copy(), dict(vol.meta))

    def to_dict(self) -> dict:
        return {"ornt": self.ornt.tolist(), "source_shape": list(self.source_shape),
                "source_affine": self.source_affine.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Reorientation":
        return cls(np.asarray(d["ornt"], dtype=np.float64), tuple(int(s) for s in d["source_shape"]),
                   np.asarray(d["source_affine"], dtype=np.float64))


def _inverse(ornt: np.ndarray) -> np.ndarray:
    """Inverse of a nibabel orientation transform (a signed permutation)."""
    inv = np.zeros_like(ornt)
    for src_axis, (dst_axis, flip) in enumerate(ornt):
        inv[int(dst_axis)] = [src_axis, flip]
    return inv


def canonicalize(vol: Volume, target: str = DEFAULT_ORIENTATION) -> tuple[Volume, Reorientation]:
    """Reorient ``vol`` so its axes (D, H, W) point towards ``target`` (e.g. 'RIP').

    Returns the canonical Volume (array is a contiguous copy, affine updated so every voxel keeps
    its world position) and the Reorientation that undoes it exactly.
    """
    codes = parse_orientation(target)
    current = nio.io_orientation(vol.affine)
    ornt = nio.ornt_transform(current, nio.axcodes2ornt(codes))
    record = Reorientation(ornt, vol.shape, vol.affine.copy())
    array = np.ascontiguousarray(record.apply_array(vol.array))
    affine = vol.affine @ nio.inv_ornt_aff(ornt, vol.shape)
    return Volume(array, affine, {**vol.meta, "orientation": "".join(codes)}), record
