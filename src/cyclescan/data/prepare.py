"""From a file on disk to a normalized, canonical, padded array, and back again.

    read -> canonical orientation -> [resample] -> [divide by the N4 bias field] -> foreground mask
         -> percentile stats -> normalize to [-1, 1] -> pad to >= patch size (value -1)

``PreparedVolume.to_source`` undoes the spatial steps (and optionally the intensity steps, the
bias field included) so model output lands in the source file's voxel grid with the source affine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cyclescan.config import DataConfig
from cyclescan.errors import InputError
from cyclescan.data.normalize import NormStats, denormalize, fit_stats, foreground_mask, normalize
from cyclescan.data.spatial import Padding, Resampling, plan_padding, plan_resampling
from cyclescan.io.discover import read_volume
from cyclescan.io.orientation import Reorientation, canonicalize
from cyclescan.io.volume import Volume, voxel_spacing
from cyclescan.space import AIR

log = logging.getLogger(__name__)


@dataclass
class PreparedVolume:
    """A volume ready for patch sampling, plus everything needed to map results back.

    Attributes:
        array: float32 (D, H, W) in [-1, 1]: canonical orientation, resampled, padded.
        stats: the volume's NormStats (scanner units of ``source``).
        source: the Volume as read (source voxel layout, affine, metadata).
        mask: bool (D, H, W) foreground of ``array`` (False in the padding).
        affine: voxel -> RAS mm of ``array`` (so patches keep their world position).
        reorientation, resampling, padding: the records ``to_source`` undoes.
        bias: float32 (D, H, W) N4 bias field the (unpadded) array was divided by
            (``data.bias_correction: n4``), or None.
    """

    array: np.ndarray
    stats: NormStats
    source: Volume
    mask: np.ndarray
    affine: np.ndarray
    reorientation: Reorientation
    resampling: Resampling | None
    padding: Padding
    info: dict[str, Any] = field(default_factory=dict)
    bias: np.ndarray | None = None

    @property
    def path(self) -> str:
        return self.source.name

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along (D, H, W) of ``array`` (canonical, resampled), from ``affine``."""
        return voxel_spacing(self.affine)

    def to_source(self, array: np.ndarray, stats: NormStats | None = None) -> Volume:
        """Model-grid (D, H, W) array (e.g. a translation) -> Volume on the source grid and affine.

        Crops the padding (exact), resamples back if resampling was used (linear), undoes the
        reorientation (exact). With ``stats``, also maps [-1, 1] to scanner units with them
        (pass the *target domain's* stats for translated output) and multiplies by ``bias`` when
        the volume was bias-corrected. Metadata is the source's.
        """
        if tuple(array.shape) != tuple(self.array.shape):
            raise ValueError(f"to_source: array shape {array.shape} != prepared shape {self.array.shape}")
        out = self.padding.invert(np.asarray(array))
        if stats is not None:
            # Units change here, on the prepared grid where the bias lives. Linear resampling
            # (weights summing to 1, mode "nearest") commutes with the affine denormalization.
            out = denormalize(out, stats)
            if self.bias is not None:
                out = out * self.bias   # the input's bias back
        if self.resampling is not None:
            out = self.resampling.invert(out)
        out = self.reorientation.invert_array(out)
        return Volume(np.ascontiguousarray(out, dtype=np.float32), self.source.affine.copy(), dict(self.source.meta))

    def bias_to_source(self) -> np.ndarray | None:
        """The N4 field this volume was divided by, in the source file's layout (float32 (D, H, W)),
        or None without bias correction. ``evaluate`` gives it to the baselines."""
        if self.bias is None:
            return None
        return self.to_source(self.padding.apply(np.asarray(self.bias, dtype=np.float32), 1.0)).array


def prepare_volume(path: str | Path, data_cfg: DataConfig, source: Volume | None = None) -> PreparedVolume:
    """Read ``path`` (or use the already-read ``source``) and prepare it for the network.

    Raises InputError naming the file for unreadable input, NaN/Inf voxels or a constant image.
    A volume smaller than ``data_cfg.patch_size`` is padded (logged at INFO).
    """
    vol = source if source is not None else read_volume(path, data_cfg.echo)
    canon, reo = canonicalize(vol, data_cfg.orientation)
    array = canon.array.astype(np.float32, copy=False)
    affine = canon.affine
    res = plan_resampling(canon.shape, canon.spacing, data_cfg.target_spacing)
    if res is not None:
        array = res.apply(array)
        affine = res.affine(affine)
    bias = None
    try:
        mask = foreground_mask(array)
        if data_cfg.bias_correction == "n4":
            from cyclescan.data.bias import estimate_bias

            bias = estimate_bias(array, mask, voxel_spacing(affine), data_cfg.n4_shrink, data_cfg.n4_iterations)
            array = array / bias
            mask = foreground_mask(array)
        stats = fit_stats(array, data_cfg.norm_lower_percentile, data_cfg.norm_upper_percentile,
                          mask if data_cfg.norm_foreground_mask else None)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    norm = normalize(array, stats)
    pad = plan_padding(norm.shape, data_cfg.patch_size, data_cfg.pad_multiple)
    if not pad.is_identity:
        if any(n < p for n, p in zip(norm.shape, data_cfg.patch_size)):
            log.info("%s: shape %s is smaller than the patch %s; padded", path, norm.shape, data_cfg.patch_size)
        norm = pad.apply(norm, AIR)
        mask = pad.apply(mask, False)
        affine = pad.affine(affine)
    info = {"canonical_shape": list(canon.shape), "shape": list(norm.shape),
            "foreground_fraction": float(mask.mean())}
    return PreparedVolume(np.ascontiguousarray(norm, dtype=np.float32), stats, vol, np.ascontiguousarray(mask),
                          affine, reo, res, pad, info, bias)
