"""The rows of ``cyclescan evaluate``'s table: each method's output in the spaces it is scored in.

``method_outputs`` turns one source volume, the model's translation (and its raw form) into, per
method (model, model_raw, identity, histmatch, histmatch_detail), the model-space volume for the
histogram KL, the [0, 1] metric-space volume for the paired metrics and the signal-space volume
for the per-tissue errors. Split from metrics/evaluate.py, which runs the model and aggregates.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from cyclescan.metrics import baselines as bl
from cyclescan.metrics.paired import own_normalize
from cyclescan.metrics.tissue import to_signal_space


def method_outputs(src: np.ndarray, translated: np.ndarray, target_stats: Any, reference: np.ndarray,
                    data_cfg: Any, signal: bool = True, detail: Optional[tuple[float, Any]] = None,
                    raw: Optional[np.ndarray] = None,
                    bias: Optional[np.ndarray] = None) -> dict[str, tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]]:
    """method -> (model space [-1,1] for KL, [0,1] metric space, signal space for tissues), (D, H, W).

    The signal-space entry is None unless ``signal`` (it is only used for the per-tissue errors).
    ``raw`` (the generator's translation before the detail transfer, target scanner units) adds
    ``model_raw``; ``detail`` = (sigma, spacing) adds ``histmatch_detail``: the histogram-matched
    volume on the target scanner scale, through the ratio detail transfer. Both are scored exactly
    like the model.
    Each volume's foreground mask is computed once and shared by its normalizations.

    Metric space: the model's translation (target scanner units) is normalized by its own stats,
    exactly like the truth; the identity is the source normalized by its own stats; histogram
    matching outputs a model-space volume by construction and is only mapped to [0, 1] (normalizing
    an already clipped volume again is not idempotent: the clipped air changes its mask).
    Signal space (tissue errors): each output in scanner units over its own upper percentile; the
    histogram-matched volume is put on the target scanner scale with the target domain's stats.

    ``bias`` (the source's N4 field in its own layout, when the checkpoint was trained with
    ``data.bias_correction: n4``): histogram matching gets the model's bias handling too. The source
    divided by it is matched to the reference (which then holds flattened training volumes), put on
    the target scale and multiplied by it, then scored like the model. So the baseline shares the
    model's preprocessing and the rows compare what the network adds; matching the raw source to
    a flattened reference would be a mismatched, weaker baseline (measured on the real knee: 0.8
    to 3.9 dB below the consistent one).
    """
    from cyclescan.data.normalize import denormalize, normalize

    def target_scale(vol: np.ndarray) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """The entry of an output in target scanner units (the model's, histmatch_detail's)."""
        fg = fg_raw(vol) if data_cfg.norm_foreground_mask else None
        return (normalize(vol, target_stats), (own_norm(vol, data_cfg, fg) + 1.0) * 0.5,
                signal_space(vol, data_cfg, fg) if signal else None)

    translated = np.asarray(translated, dtype=np.float32)
    src_fg = fg_raw(src)
    src_norm = own_norm(src, data_cfg, src_fg)
    # The reference quantiles are of the training volumes' foreground (data.intensity_quantiles):
    # match the source's foreground to them.
    if bias is None:
        hm_norm = bl.histmatch_source(src, reference, data_cfg, fg=src_fg, source_norm=src_norm)
        hm_target = denormalize(hm_norm, target_stats)
        histmatch = (hm_norm, (hm_norm + 1.0) * 0.5, signal_space(hm_target, data_cfg) if signal else None)
    else:
        hm_target = denormalize(bl.histmatch_source(src / bias, reference, data_cfg), target_stats) * bias
        histmatch = target_scale(hm_target)
    out = {"model": target_scale(translated)}
    if raw is not None:
        out["model_raw"] = target_scale(np.asarray(raw, dtype=np.float32))
    out["identity"] = (bl.identity(src_norm), (src_norm + 1.0) * 0.5,
                       signal_space(src, data_cfg, src_fg) if signal else None)
    out["histmatch"] = histmatch
    if detail is not None:
        from cyclescan.infer.detail import ratio_detail_transfer

        sigma, spacing = detail
        out["histmatch_detail"] = target_scale(
            ratio_detail_transfer(src, hm_target, spacing, sigma, floor=target_stats.lo))
    return out


def signal_space(array: np.ndarray, data_cfg: Any, fg: Optional[np.ndarray] = None) -> np.ndarray:
    """Signal space (tissue errors); ``fg``: the volume's ``foreground_mask`` if already computed."""
    return to_signal_space(array, data_cfg.norm_upper_percentile, data_cfg.norm_foreground_mask, mask=fg)


def own_norm(array: np.ndarray, data_cfg: Any, fg: Optional[np.ndarray] = None) -> np.ndarray:
    """(D, H, W) -> float32 [-1, 1] normalized by the volume's own percentile stats (training rules);
    ``fg``: the volume's ``foreground_mask`` if already computed."""
    return own_normalize(array, data_cfg.norm_lower_percentile, data_cfg.norm_upper_percentile,
                         data_cfg.norm_foreground_mask, mask=fg)


def fg_raw(array: np.ndarray) -> np.ndarray:
    """``foreground_mask`` of a (D, H, W) volume as bool (may be empty)."""
    from cyclescan.data.normalize import foreground_mask

    return np.asarray(foreground_mask(np.asarray(array, dtype=np.float32)), dtype=bool)


def foreground_or_all(fg: np.ndarray) -> np.ndarray:
    """The mask paired metrics and histogram matching use: ``fg`` (from ``fg_raw``), or every
    voxel when it is empty."""
    return fg if fg.any() else np.ones(fg.shape, dtype=bool)
