"""Sliding-window inference of a whole normalized volume with overlap and Gaussian blending.

The stitching itself is MONAI's ``sliding_window_inference``; this module only decides the window
(network divisibility, never larger than needed), pads the volume so that window fits, runs each
batch of windows in the requested precision, and crops the padding off again.

Memory: the network only ever sees ``batch_size`` windows; the full-size tensors are the input,
MONAI's output and weight-count accumulators (all float32, on ``stitch_device``, CPU by default).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Optional, Sequence

import numpy as np
import torch
from monai.data.utils import dense_patch_slices
from monai.inferers import sliding_window_inference

from cyclescan.errors import ConfigError
from cyclescan.nets.precision import PRECISIONS, precision_autocast
from cyclescan.space import AIR

# Value used to pad a normalized volume whose size is below the window: the model space's air
# level, i.e. "nothing outside the field of view".
PAD_VALUE = AIR


@dataclass(frozen=True)
class WindowPlan:
    """How a volume of ``shape`` is covered: the (divisible) ``window``, the padding per axis
    ``pad`` as (before, after) pairs, and the number of windows ``n_windows``."""

    shape: tuple[int, int, int]
    window: tuple[int, int, int]
    pad: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    n_windows: int

    @property
    def padded_shape(self) -> tuple[int, int, int]:
        return tuple(s + a + b for s, (a, b) in zip(self.shape, self.pad))  # type: ignore[return-value]


def _as3(x: int | Sequence[int], name: str) -> tuple[int, int, int]:
    vals = [int(x)] * 3 if isinstance(x, (int, np.integer)) else [int(v) for v in x]
    if len(vals) != 3 or min(vals) < 1:
        raise ConfigError(f"{name}: expected 3 positive integers (slices, rows, cols), got {x!r}")
    return vals[0], vals[1], vals[2]


def plan_windows(
    shape: Sequence[int], window: Sequence[int], divisor: int | Sequence[int] = 1, overlap: float = 0.5
) -> WindowPlan:
    """Choose the window and padding for a volume of ``shape`` (D, H, W).

    Each window axis is rounded *up* to a multiple of the network's ``divisor`` (a U-Net that pools
    ``k`` times needs multiples of ``2**k``), then capped at the volume size rounded up to the
    divisor (a window larger than the volume only wastes compute). The volume is padded
    symmetrically to at least the window on each axis.
    """
    shape3 = _as3(shape, "volume shape")
    win = _as3(window, "infer.window")
    div = _as3(divisor, "network divisor")
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"infer.overlap: {overlap} must be in [0, 1)")
    fitted, pads = [], []
    for s, w, d in zip(shape3, win, div):
        w_div = math.ceil(w / d) * d
        s_div = math.ceil(s / d) * d
        w_fit = min(w_div, s_div)
        total = max(w_fit - s, 0)
        fitted.append(w_fit)
        pads.append((total // 2, total - total // 2))
    padded = [s + a + b for s, (a, b) in zip(shape3, pads)]
    # Same scan interval rule as MONAI (monai.inferers.utils._get_scan_interval), only to count.
    interval = [w if w == p else max(int(w * (1 - overlap)), 1) for w, p in zip(fitted, padded)]
    n = len(dense_patch_slices(padded, fitted, interval))
    return WindowPlan(shape3, tuple(fitted), tuple(pads), n)  # type: ignore[arg-type]


def blend_weights(window: Sequence[int], blend: str = "gaussian", sigma_scale: float = 0.125,
                  floor: float = 1e-3) -> torch.Tensor:
    """(d, h, w) float32 blending weights of one window: a separable Gaussian or ones.

    Each axis is a 1-D Gaussian (sigma = ``sigma_scale`` x window, peak 1) floored at ``floor``,
    and the 3-D map is their product. MONAI's ``compute_importance_map`` floors the *3-D* map
    instead, which flattens it wherever two axes are far from the centre (e.g. the first and last
    slices of a volume, covered by one window only along D): there the blend falls back to
    constant weights and window edges in H/W show as seams. The separable floor keeps the H/W
    profile Gaussian on every slice (the smallest weight, floor**3 = 1e-9, is still a safe divisor).
    """
    if blend == "constant":
        return torch.ones(tuple(int(w) for w in window), dtype=torch.float32)
    if blend != "gaussian":
        raise ConfigError(f"infer.blend: {blend!r} is not one of gaussian, constant")
    axes = []
    for w in window:
        pos = torch.arange(int(w), dtype=torch.float64) - (int(w) - 1) / 2.0
        g = torch.exp(-0.5 * (pos / (sigma_scale * int(w))) ** 2)
        axes.append(torch.clamp(g / g.max(), min=floor))
    return (axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]).float()


def autocast_for(device: torch.device, precision: str) -> ContextManager[Any]:
    """Autocast context: 'fp32' = none, 'bf16' = bfloat16 autocast on ``device``, 'auto' = bf16
    only where bf16 convolutions are fast (nets.precision.precision_autocast), else fp32.
    ConfigError for an unknown name."""
    if precision not in PRECISIONS:
        raise ConfigError(f"infer.precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    return precision_autocast(precision, device.type)


def sliding_window_translate(
    volume: np.ndarray | torch.Tensor,
    net: Callable[[torch.Tensor], torch.Tensor],
    window: Sequence[int],
    *,
    divisor: int | Sequence[int] = 1,
    overlap: float = 0.5,
    blend: str = "gaussian",
    batch_size: int = 1,
    precision: str = "fp32",
    device: str | torch.device = "cpu",
    stitch_device: str | torch.device = "cpu",
    on_windows: Optional[Callable[[int], None]] = None,
) -> np.ndarray:
    """Run ``net`` over a whole normalized volume window by window and blend the windows.

    Args:
        volume: (D, H, W) float array in model space [-1, 1].
        net: maps (B, 1, d, h, w) float32 on ``device`` to the same shape (e.g. a generator in
            eval mode, already on ``device``).
        window: requested window (D, H, W); rounded up to ``divisor`` and capped (plan_windows).
        divisor: spatial size multiple the network needs (int or per axis).
        overlap: fraction of overlap between neighbouring windows, in [0, 1).
        blend: 'gaussian' (separable, sigma = 0.125 x window: see blend_weights) or 'constant'.
        batch_size: windows per forward pass.
        precision: 'fp32', 'bf16' or 'auto' (autocast_for; outputs are cast back to float32).
        device: where the network runs (the window batches are moved there).
        stitch_device: where the full-size output and weights are accumulated (CPU keeps
            accelerator memory bounded by the window).
        on_windows: called with the number of windows after each forward pass (progress bars).

    Returns:
        (D, H, W) float32 numpy array, same shape as ``volume``, in the net's output range.
    """
    x = torch.as_tensor(volume, dtype=torch.float32)
    if x.ndim != 3:
        raise ValueError(f"sliding_window_translate expects a (D, H, W) volume, got shape {tuple(x.shape)}")
    device = torch.device(device)
    stitch_device = torch.device(stitch_device)
    plan = plan_windows(x.shape, window, divisor, overlap)
    x = x.to(stitch_device)[None, None]  # (1, 1, D, H, W): a view, no copy on CPU
    if any(a or b for a, b in plan.pad):
        # F.pad order is last axis first.
        flat = [v for a, b in reversed(plan.pad) for v in (a, b)]
        x = torch.nn.functional.pad(x, flat, mode="constant", value=PAD_VALUE)

    def predictor(batch: torch.Tensor) -> torch.Tensor:
        with autocast_for(device, precision):
            out = net(batch.to(device, non_blocking=True))
        if on_windows is not None:
            on_windows(int(batch.shape[0]))
        out = out.float()
        # MONAI multiplies the returned tensor in place by the blending weights; with batch size 1
        # the window is a view of the full input, so a net that returns its input (identity-like
        # nets, tests) would corrupt the input of later windows. Copy in that case only.
        if out.untyped_storage().data_ptr() == batch.untyped_storage().data_ptr():
            out = out.clone()
        return out

    with torch.inference_mode(), warnings.catch_warnings():
        # MONAI 1.5 indexes with lists of slices, which torch >= 2.9 warns about on every window.
        warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)
        out = sliding_window_inference(
            x,
            roi_size=plan.window,
            sw_batch_size=batch_size,
            predictor=predictor,
            overlap=overlap,
            mode=blend,
            roi_weight_map=blend_weights(plan.window, blend).to(device),
            sw_device=device,
            device=stitch_device,
        )
    del x
    out = out[0, 0]
    (d0, _), (h0, _), (w0, _) = plan.pad
    d, h, w = plan.shape
    out = out[d0 : d0 + d, h0 : h0 + h, w0 : w0 + w]
    return np.ascontiguousarray(out.cpu().numpy(), dtype=np.float32)
