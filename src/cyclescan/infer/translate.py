"""Translate one whole volume: orient, normalize, slide the generator, map to the target scale, undo.

``translate_volume`` is the single function every user of a trained generator calls (the
``translate`` CLI, ``evaluate``, the demo): the output Volume has the input's exact shape, affine
and voxel layout, with intensities on the **target** domain's scanner scale.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from cyclescan.config import Config
from cyclescan.data.normalize import NormStats
from cyclescan.infer.sliding import plan_windows, sliding_window_translate
from cyclescan.io.volume import Volume


def network_divisor(cfg: Config) -> int | Sequence[int]:
    """Spatial multiple (D, H, W) the configured generator needs.

    The architecture (its anisotropic stride schedule) is fixed by the training patch size, so the
    divisor comes from ``cfg.data.patch_size`` whatever the inference window is.
    """
    from cyclescan.nets import required_divisor

    return required_divisor(cfg.generator, cfg.data.patch_size)


def post_detail_sigma(cfg: Config) -> float:
    """Width of the ratio detail transfer ``translate_volume`` applies after the generator: 0 when
    it is off (``infer.detail_sigma`` 0) or when the generator applies it itself
    (``generator.detail_sigma_vox``: never twice)."""
    return 0.0 if cfg.generator.detail_sigma_vox else float(cfg.infer.detail_sigma)


def model_device(net: torch.nn.Module) -> torch.device:
    """Device of the first parameter/buffer of ``net`` (CPU for parameter-free modules)."""
    for t in list(net.parameters()) + list(net.buffers()):
        return t.device
    return torch.device("cpu")


def source_reference(ckpt: dict, cfg: Config, direction: str) -> Optional[np.ndarray]:
    """The source domain's training quantiles for ``translate_volume(standardize_to=...)``, or
    None when the checkpoint's model was trained without ``data.standardize``."""
    if not cfg.data.standardize:
        return None
    from cyclescan.errors import CheckpointError
    from cyclescan.train.checkpoint import checkpoint_reference

    key = "a" if direction == "a2b" else "b"
    ref = checkpoint_reference(ckpt, key)
    if ref is None:
        raise CheckpointError(f"{ckpt.get('_path', 'checkpoint')}: data.standardize is on but the checkpoint "
                              f"has no reference quantiles for domain {key!r}")
    return ref


def translate_volume(
    vol: Volume,
    generator: torch.nn.Module,
    cfg: Config,
    target_stats: NormStats,
    *,
    divisor: Optional[int | Sequence[int]] = None,
    standardize_to: Optional[np.ndarray] = None,
    device: Optional[str | torch.device] = None,
    progress: Any = None,
    prep: Any = None,
) -> Volume:
    """Translate a whole Volume; the result has the input's shape, affine and voxel layout.

    Steps (the training rules, via data.prepare.prepare_volume): canonical orientation
    (cfg.data.orientation), optional resampling (cfg.data.target_spacing), percentile
    normalization to [-1, 1] with the volume's **own** statistics, padding with -1; then the
    generator window by window (cfg.infer: window, overlap, blend, batch_size, precision); then
    every spatial step undone and [-1, 1] mapped to scanner units with ``target_stats``; last, with
    ``cfg.infer.detail_sigma`` > 0, the ratio detail transfer (infer/detail.py): the output keeps
    the source's fine structure (edges, thin structures, texture, noise) at the model's local level
    (skipped when the generator applies it itself, ``generator.detail_sigma_vox``).

    Args:
        vol: input Volume (array (D, H, W) in source scanner units, any orientation).
        generator: network mapping (B, 1, d, h, w) in [-1, 1] to the same shape (eval mode, on
            ``device``), e.g. ``train.checkpoint.build_generator_from_checkpoint(ckpt, 'a2b')``.
        cfg: the checkpoint's Config.
        target_stats: NormStats of the target domain (``ckpt['norm']['b']`` for a2b).
        divisor: network size multiple (default: nets.required_divisor for cfg).
        standardize_to: the source domain's training quantiles when the model was trained with
            ``data.standardize`` (``source_reference``): the normalized input's histogram is
            matched to them before the generator, as in training.
        device: where the generator runs (default: the generator's device).
        progress: optional tqdm-like bar (``reset(total=)``, ``update(n)``) counting windows.
        prep: ``prepare_volume(vol.name, cfg.data, source=vol)`` when the caller already has it
            (``evaluate`` also needs its bias field); prepared here otherwise.

    Returns:
        Volume with a float32 (D, H, W) array in target scanner units, the input's affine (a
        copy) and metadata plus ``translated=True``.

    Raises:
        InputError (naming the volume) for NaN/Inf voxels or a constant image; CheckpointError
        when the generator turns a finite input into NaN/Inf (broken weights).
    """
    from cyclescan.data.prepare import prepare_volume

    if prep is None:
        prep = prepare_volume(vol.name, cfg.data, source=vol)
    x = prep.array  # the caller's PreparedVolume is not modified
    if standardize_to is not None:
        from cyclescan.data.histogram import apply_map, standardization_map

        x = apply_map(x, standardization_map(x, prep.mask, standardize_to))
    if divisor is None:
        divisor = network_divisor(cfg)
    dev = torch.device(device) if device is not None else model_device(generator)
    window = cfg.window()
    if progress is not None:
        progress.reset(total=plan_windows(x.shape, window, divisor, cfg.infer.overlap).n_windows)
    y = sliding_window_translate(
        x, generator, window, divisor=divisor, overlap=cfg.infer.overlap, blend=cfg.infer.blend,
        batch_size=cfg.infer.batch_size, precision=cfg.infer.precision, device=dev,
        on_windows=None if progress is None else progress.update,
    )
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:  # the input was checked finite: the generator made them (NaN weights, overflow)
        from cyclescan.errors import CheckpointError

        raise CheckpointError(f"{vol.name}: the generator produced {bad} NaN/Inf voxel(s) from a finite "
                              "input; the checkpoint's weights are broken (NaN/Inf) or overflow; nothing written")
    out = apply_post_detail(vol, prep.to_source(y, target_stats), cfg, target_stats)
    out.meta = {**vol.meta, "translated": True}
    return out


def apply_post_detail(source: Volume, raw: Volume, cfg: Config, target_stats: NormStats) -> Volume:
    """The last step of ``translate_volume``: the ratio detail transfer (infer/detail.py) of the
    generator's raw output ``raw`` (target scanner units, the source's grid) at width
    ``post_detail_sigma(cfg)``; ``raw`` itself when that is 0. ``evaluate`` calls it on a raw
    translation to score the model with and without the transfer from one generator pass."""
    detail_sigma = post_detail_sigma(cfg)
    if detail_sigma <= 0:
        return raw
    from cyclescan.infer.detail import ratio_detail_transfer

    return raw.with_array(ratio_detail_transfer(source.array, raw.array, source.spacing, detail_sigma,
                                                floor=target_stats.lo))
