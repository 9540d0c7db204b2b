#!/usr/bin/env python
"""Issue 9: can a translator see a tissue in its input? Contrast to the tissue's rim, in noise units.

A translator that maps intensities (with some context) can only place a tissue at its right level
if the tissue stands out from its surroundings in the *input*. For each contrast and tissue of the
phantom's paired test set this prints the noise-free mean inside the tissue, the mean of its
one-voxel rim (the foreground voxels that touch it), their difference divided by the noise
standard deviation (the noisy test volume minus the clean one, inside the foreground: a per-voxel
contrast-to-noise ratio) and what the rim is made of. A per-voxel CNR near 0 means the tissue is
invisible in that contrast: a translator from it can only infer the tissue from anatomy.

    .venv/bin/python scripts/tissue_visibility.py --phantom PH [--tissues acl fluid] [--json F]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cyclescan.io import read_volume  # noqa: E402
from quality_lib import md_table  # noqa: E402


def rim_contrast(clean: np.ndarray, noisy: np.ndarray, labels: np.ndarray, tissue: int) -> dict:
    """One tissue of one volume: {n, mean, rim_mean, sigma, cnr, rim: {label: fraction}}.

    Arrays (D, H, W). The rim is the tissue dilated by one voxel (6-connected), minus the tissue,
    inside the foreground (label > 0). sigma is the std of ``noisy - clean`` over the foreground.
    nan values when the tissue or its rim is empty.
    """
    t = labels == tissue
    fg = labels > 0
    rim = ndimage.binary_dilation(t, iterations=1) & ~t & fg
    sigma = float((np.asarray(noisy, np.float64) - clean)[fg].std())
    if not t.any() or not rim.any():
        return {"n": int(t.sum()), "mean": float("nan"), "rim_mean": float("nan"), "sigma": sigma,
                "cnr": float("nan"), "rim": {}}
    mean, rim_mean = float(clean[t].mean()), float(clean[rim].mean())
    counts = np.bincount(labels[rim].astype(np.int64))
    return {"n": int(t.sum()), "mean": mean, "rim_mean": rim_mean, "sigma": sigma,
            "cnr": (mean - rim_mean) / sigma if sigma > 0 else float("nan"),
            "rim": {int(k): float(c) / float(rim.sum()) for k, c in enumerate(counts) if c}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phantom", type=Path, required=True, help="phantom folder (test/{clean,ciss,dess,labels}, phantom.json)")
    p.add_argument("--tissues", nargs="+", default=["acl", "fluid", "femoral_cartilage"])
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    ids = json.loads((a.phantom / "phantom.json").read_text())["labels"]
    names = {v: k for k, v in ids.items()}
    rows, records = [], []
    for f in sorted((a.phantom / "test" / "labels").glob("*.nii.gz")):
        labels = np.asarray(read_volume(f).array).astype(np.int64)
        for contrast in ("ciss", "dess"):
            clean = np.asarray(read_volume(a.phantom / "test" / "clean" / contrast / f.name).array, np.float64)
            noisy = np.asarray(read_volume(a.phantom / "test" / contrast / f.name).array, np.float64)
            for tissue in a.tissues:
                r = rim_contrast(clean, noisy, labels, ids[tissue])
                top = sorted(r["rim"].items(), key=lambda kv: -kv[1])[:2]
                records.append({"subject": f.name, "contrast": contrast, "tissue": tissue, **r})
                rows.append((f.name.split(".")[0], contrast, tissue, f"{r['mean']:.0f}", f"{r['rim_mean']:.0f}",
                             f"{r['sigma']:.0f}", f"{r['cnr']:+.1f}",
                             ", ".join(f"{names.get(k, k)} {100 * v:.0f} %" for k, v in top)))
    if not records:
        raise SystemExit(f"no labels in {a.phantom / 'test' / 'labels'}")
    print(md_table(["subject", "contrast", "tissue", "mean (clean)", "rim mean", "noise sigma",
                    "CNR to rim (per voxel)", "rim is mostly"], rows))
    if a.json:
        a.json.write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
