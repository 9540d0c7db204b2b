"""Per-tissue mean-signal error with a label map (cartilage, fluid, ACL; ACL relative to muscle).

Both volumes are in *signal space* (:func:`to_signal_space`): scanner units divided by the
volume's own upper percentile, so zero stays zero signal. (The [0, 1] metric space of the paired
metrics maps the darkest tissue to ~0, where a relative error explodes.) For each tissue group the
mean signal of the prediction and of the truth over the group's voxels are compared:

    rel_error = (mean_pred - mean_truth) / mean_truth          (signed; 0.1 = 10 % too bright)

The ACL is also scored the way ACL healing is followed in the clinic: its signal normalized to a
reference tissue (muscle by default), ``acl_norm = mean(ACL) / mean(muscle)``, and the relative
error of that ratio. Label values come from a name -> int map (the phantom's ``LABELS`` by
default, or a JSON file for real data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from cyclescan.errors import InputError
from cyclescan.io.jsonfile import read_json

# Tissue group -> label names (the phantom's names; a real label map must use the same names).
TISSUE_GROUPS: dict[str, tuple[str, ...]] = {
    "cartilage": ("femoral_cartilage", "tibial_cartilage", "patellar_cartilage"),
    "fluid": ("fluid",),
    "acl": ("acl",),
}
REFERENCE_TISSUE = "muscle"


def default_label_map() -> dict[str, int]:
    """The phantom's label names -> integer values (``cyclescan.phantom.LABELS``)."""
    from cyclescan.phantom import LABELS

    return {str(k): int(v) for k, v in dict(LABELS).items()}


def load_label_map(path: str | Path) -> dict[str, int]:
    """Read a JSON label map: ``{"name": value, ...}`` or a phantom.json holding ``"labels"``."""
    p = Path(path)
    data = read_json(p, "label map")
    if isinstance(data, dict) and isinstance(data.get("labels"), dict):
        data = data["labels"]
    if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
        raise InputError(f"{p}: label map must be a JSON object of name -> integer")
    return {str(k): int(v) for k, v in data.items()}


def to_signal_space(array: np.ndarray, upper_pct: float = 99.5, use_mask: bool = True, *,
                    mask: np.ndarray | None = None) -> np.ndarray:
    """(D, H, W) scanner units -> float32 divided by the volume's own ``upper_pct`` percentile
    (inside its foreground mask when ``use_mask``): a scale-only normalization (0 stays 0).
    ``mask``: ``foreground_mask(array)`` when the caller already has it (not computed again)."""
    from cyclescan.data.normalize import fit_stats, foreground_mask

    a = np.asarray(array, dtype=np.float32)
    if use_mask and mask is None:
        mask = foreground_mask(a)
    hi = fit_stats(a, 0.0, upper_pct, mask=mask if use_mask else None).hi
    return a / np.float32(hi) if hi > 0 else a


def group_mask(labels: np.ndarray, label_map: Mapping[str, int], names: tuple[str, ...]) -> np.ndarray:
    """Boolean (D, H, W) mask of the voxels whose label is any of ``names`` (unknown names ignored)."""
    values = [label_map[n] for n in names if n in label_map]
    return np.isin(labels, values) if values else np.zeros(labels.shape, dtype=bool)


def tissue_errors(
    pred: np.ndarray,
    truth: np.ndarray,
    labels: np.ndarray,
    label_map: Mapping[str, int] | None = None,
    reference: str = REFERENCE_TISSUE,
) -> dict[str, float]:
    """Signed relative mean-signal errors per tissue group, plus the ACL/reference ratio error.

    pred, truth: (D, H, W) in signal space (:func:`to_signal_space`); labels: (D, H, W) integer label map of the subject.
    Returns ``{"<group>_rel_error": float, ..., "acl_norm_rel_error": float,
    "acl_norm_truth": float, "acl_norm_pred": float}``; a group absent from this subject's labels
    gives ``nan`` (never a fake 0).
    """
    lm = dict(label_map) if label_map is not None else default_label_map()
    lab = np.asarray(labels)
    if lab.shape != np.shape(truth) or np.shape(pred) != np.shape(truth):
        raise ValueError(f"labels {lab.shape}, prediction {np.shape(pred)} and truth {np.shape(truth)} differ")
    out: dict[str, float] = {}
    means: dict[str, tuple[float, float]] = {}
    for group, names in {**TISSUE_GROUPS, reference: (reference,)}.items():
        m = group_mask(lab, lm, names)
        if m.any():
            means[group] = (float(np.mean(pred[m])), float(np.mean(truth[m])))
    for group in TISSUE_GROUPS:
        out[f"{group}_rel_error"] = _rel(*means[group]) if group in means else float("nan")
    if "acl" in means and reference in means and means[reference][0] > 0 and means[reference][1] > 0:
        ratio_pred = means["acl"][0] / means[reference][0]
        ratio_truth = means["acl"][1] / means[reference][1]
        out.update(acl_norm_truth=ratio_truth, acl_norm_pred=ratio_pred,
                   acl_norm_rel_error=_rel(ratio_pred, ratio_truth))
    else:
        out.update(acl_norm_truth=float("nan"), acl_norm_pred=float("nan"), acl_norm_rel_error=float("nan"))
    return out


def _rel(pred: float, truth: float) -> float:
    return (pred - truth) / truth if truth != 0 else float("nan")
