"""Validation: every loss term on deterministic val patches, and whole-volume metrics.

Whole-volume metrics (both directions): the report's histogram KL (``metrics.kl``; P = the pooled
histogram of the real target-domain val volumes, Q = that of the translated volumes), the cycle
L1 ``mean |G_ba(G_ab(a)) - a|`` in model units, and, when the val sets are paired (same file
names), the mean SSIM of translation vs the real target in [0, 1] metric space (data range 1).

Selection score (lower is better, see ``selection_score``): ``ssim`` -> ``-mean SSIM``;
``kl_cycle`` -> mean val KL + mean cycle L1; ``auto`` -> ssim if paired else kl_cycle.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from skimage.metrics import structural_similarity

from cyclescan.faults import fault_point
from cyclescan.infer.sliding import sliding_window_translate
from cyclescan.metrics.kl import kl_from_histograms, normalized_histogram
from cyclescan.train.samples import SampleTriplet


@dataclass
class ValVolume:
    """A validation volume in model space: ``array`` (D, H, W) float32 in [-1, 1]."""

    name: str
    array: np.ndarray
    spacing: tuple[float, float, float] | None = None  # mm along (D, H, W), for sample figures


@dataclass
class ValResult:
    """Scalars (``val_*`` keys) plus the triplets of the first volume of each domain (samples)."""

    scalars: dict[str, float] = field(default_factory=dict)
    triplets: list[SampleTriplet] = field(default_factory=list)


def paired_names(vols_a: Sequence[ValVolume], vols_b: Sequence[ValVolume]) -> bool:
    """True when both val sets hold the same file names (a paired val set)."""
    return bool(vols_a) and sorted(v.name for v in vols_a) == sorted(v.name for v in vols_b)


def resolve_selection(metric: str, paired: bool) -> str:
    """'auto' -> 'ssim' when the val set is paired, else 'kl_cycle'."""
    if metric == "auto":
        return "ssim" if paired else "kl_cycle"
    return metric


def selection_score(scalars: dict[str, float], metric: str) -> float:
    """Lower-is-better score for best.pt from validation scalars (nan when not computable)."""
    if metric == "ssim":
        vals = [scalars.get("val_ssim_a2b"), scalars.get("val_ssim_b2a")]
        vals = [v for v in vals if v is not None]
        return -float(np.mean(vals)) if vals else math.nan
    kl = 0.5 * (scalars["val_kl_a2b"] + scalars["val_kl_b2a"])
    cyc = 0.5 * (scalars["val_cycle_l1_a"] + scalars["val_cycle_l1_b"])
    return float(kl + cyc)


def paired_ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """SSIM of two (D, H, W) [-1, 1] volumes mapped to [0, 1], data range 1.

    Averaged inside the target's foreground (target above its 5th percentile in [0, 1], dilated
    by the SSIM window) so air does not inflate the score; the whole volume if that is empty.
    """
    p = np.clip((pred + 1.0) / 2.0, 0.0, 1.0).astype(np.float64)
    t = np.clip((target + 1.0) / 2.0, 0.0, 1.0).astype(np.float64)
    win = min(7, *(s if s % 2 else s - 1 for s in t.shape))
    if win < 3:
        return float(1.0 - np.mean(np.abs(p - t)))
    _, smap = structural_similarity(t, p, data_range=1.0, win_size=win, full=True)
    mask = t > max(np.percentile(t, 5), 0.02)
    return float(smap[mask].mean() if mask.any() else smap.mean())


def translate_volume(translate: Callable[[torch.Tensor], torch.Tensor], vol: np.ndarray, window: Sequence[int],
                     divisor: int | Sequence[int], device: str, precision: str) -> np.ndarray:
    """(D, H, W) [-1, 1] -> (D, H, W) translated, by sliding windows of the training patch size."""
    return sliding_window_translate(vol, translate, window, divisor=divisor, overlap=0.25, blend="gaussian",
                                    batch_size=4, precision=precision, device=device)


def validate(model, vols_a: Sequence[ValVolume], vols_b: Sequence[ValVolume], *, window: Sequence[int],
             divisor: int | Sequence[int], device: str, precision: str, names: tuple[str, str] = ("a", "b"),
             patch_losses: Callable[[], dict[str, float]] | None = None) -> ValResult:
    """Run validation. ``model`` is a CycleGAN (``translate(x, direction)``, ``networks()``).

    ``patch_losses`` (optional) returns the mean of every loss term over the deterministic val
    patches; its keys get a ``val_`` prefix. Networks are put in eval mode and restored after.
    """
    res = ValResult()
    with _eval_mode(model), torch.no_grad():
        if patch_losses is not None:
            res.scalars.update({f"val_{k}": float(v) for k, v in patch_losses().items()})
        paired = paired_names(vols_a, vols_b)
        by_name_b = {v.name: v for v in vols_b}
        by_name_a = {v.name: v for v in vols_a}
        for src_vols, tgt_vols, d, back, s_dom, t_dom, by_name in (
            (vols_a, vols_b, "a2b", "b2a", "a", "b", by_name_b),
            (vols_b, vols_a, "b2a", "a2b", "b", "a", by_name_a),
        ):
            fwd = _fn(model, d)
            bwd = _fn(model, back)
            q_hists, cyc, ssims = [], [], []
            for i, v in enumerate(src_vols):
                fault_point("validation")  # crash-safety tests
                fake = translate_volume(fwd, v.array, window, divisor, device, precision)
                rec = translate_volume(bwd, fake, window, divisor, device, precision)
                q_hists.append(normalized_histogram(fake))
                cyc.append(float(np.mean(np.abs(rec - v.array))))
                if paired:
                    ssims.append(paired_ssim(fake, by_name[v.name].array))
                if i == 0:
                    res.triplets.append(SampleTriplet(_label(names, s_dom, t_dom), v.array, fake, rec))
            p_hist = np.mean([normalized_histogram(t.array) for t in tgt_vols], axis=0)
            res.scalars[f"val_kl_{d}"] = kl_from_histograms(p_hist, np.mean(q_hists, axis=0))
            res.scalars[f"val_cycle_l1_{s_dom}"] = float(np.mean(cyc))
            if ssims:
                res.scalars[f"val_ssim_{d}"] = float(np.mean(ssims))
    return res


def sample_triplets(model, vols_a: Sequence[ValVolume], vols_b: Sequence[ValVolume], *, window: Sequence[int],
                    divisor: int | Sequence[int], device: str, precision: str,
                    names: tuple[str, str] = ("a", "b")) -> list[SampleTriplet]:
    """Only the sample triplets of :func:`validate` (first volume of each domain, both
    directions), for epochs that write samples without validating. Deterministic and RNG-free
    (eval mode, no dropout), so it does not change the training that follows."""
    out = []
    with _eval_mode(model), torch.no_grad():
        for vols, d, back, s_dom, t_dom in ((vols_a, "a2b", "b2a", "a", "b"), (vols_b, "b2a", "a2b", "b", "a")):
            if vols:
                fake = translate_volume(_fn(model, d), vols[0].array, window, divisor, device, precision)
                rec = translate_volume(_fn(model, back), fake, window, divisor, device, precision)
                out.append(SampleTriplet(_label(names, s_dom, t_dom), vols[0].array, fake, rec))
    return out


def _label(names: tuple[str, str], s_dom: str, t_dom: str) -> str:
    return f"{names[0 if s_dom == 'a' else 1]} -> {names[0 if t_dom == 'a' else 1]}"


@contextlib.contextmanager
def _eval_mode(model) -> Iterator[None]:
    """Every network of ``model`` in eval mode inside the block, its own mode restored after."""
    nets = model.networks()
    modes = {k: n.training for k, n in nets.items()}
    for n in nets.values():
        n.eval()
    try:
        yield
    finally:
        for k, n in nets.items():
            n.train(modes[k])


def _fn(model, direction: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: model.translate(x, direction)
