#!/usr/bin/env python
"""Issue 9: what the phantom's paired test subjects allow, scored like `cyclescan evaluate`.

Reference rows that read the truth (oracles, not methods) bracketing the SSIM >= 0.90 / PSNR >=
28 dB goal, per direction, against the noise-free truth (``test/clean``):

- ``acquired target``: the real (noisy) target volume itself: what a perfect translation that
  also reproduces the target's noise would score (the noise ceiling).
- ``voxel-wise lookup (LOO)``: the paired voxel-wise map (binned conditional mean,
  ``metrics.baselines.fit_paired_lookup``) fit on the *other* test subjects' pairs: the best any
  context-free intensity map can do with paired data.
- ``voxel-wise oracle``: the same map fit on the scored subject itself.
- ``tissue-mean oracle``: every voxel set to its tissue's mean truth value (perfect segmentation,
  no bias field or texture).
- ``tissue-ratio oracle``: the source times its tissue's (geometric) mean ratio target/source of
  the scored subject, i.e. perfect segmentation *and* the source's shared bias field and texture
  kept: the ceiling of ``generator.output=log_ratio`` with a perfect per-tissue ratio. Scored on
  the noisy source (what a model gets) and on the clean source (separates noise from partial
  volume: a voxel that mixes two tissues has no single tissue ratio).

Usage:  .venv/bin/python scripts/phantom_ceilings.py --phantom demo_out/phantom [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cyclescan.io import read_volume  # noqa: E402
from cyclescan.metrics.baselines import apply_lookup, fit_paired_lookup  # noqa: E402
from cyclescan.metrics.paired import own_normalize, paired_scores  # noqa: E402
from quality_lib import md_table, truth_in_metric_space  # noqa: E402


def load(phantom: Path, contrast: str, name: str, kind: str) -> np.ndarray:
    sub = {"noisy": phantom / "test" / contrast, "clean": phantom / "test" / "clean" / contrast,
           "labels": phantom / "test" / "labels"}[kind]
    return np.asarray(read_volume(sub / name).array, dtype=np.float32)


def per_label_mean(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean of ``values`` per integer label (index = label; 0 for absent labels)."""
    n = int(labels.max()) + 1
    return np.bincount(labels.ravel(), values.ravel(), n) / np.maximum(np.bincount(labels.ravel(), None, n), 1)


def tissue_ratio(src: np.ndarray, tgt: np.ndarray, labels: np.ndarray, eps: float = 1.0) -> np.ndarray:
    """Per-label geometric mean of (tgt + eps) / (src + eps), index = label (1 for absent labels).

    ``eps`` (one scanner unit) keeps air voxels (0 in both) finite; the mean is taken in log space
    because a ratio's arithmetic mean is biased by the few dark voxels of a tissue.
    """
    return np.exp(per_label_mean(np.log((tgt + eps) / (src + eps)), labels))


def ceilings(phantom: Path, src: str, tgt: str) -> dict[str, dict[str, float]]:
    names = sorted(p.name for p in (phantom / "test" / src).glob("*.nii.gz"))
    subj = []
    for n in names:
        clean_t = load(phantom, tgt, n, "clean")
        truth01, mask = truth_in_metric_space(clean_t)
        src_noisy, src_clean = load(phantom, src, n, "noisy"), load(phantom, src, n, "clean")
        labels = load(phantom, src, n, "labels").astype(np.int64)
        subj.append({"src": own_normalize(src_noisy), "src_noisy": src_noisy, "src_clean": src_clean,
                     "ratio": tissue_ratio(src_clean, clean_t, labels), "labels": labels,
                     "tgt_noisy": load(phantom, tgt, n, "noisy"), "mask": mask,
                     "truth01": truth01, "truth": truth01 * 2 - 1})  # [0, 1] scored, [-1, 1] model space
    rows: dict[str, list] = {}
    for i, s in enumerate(subj):
        truth01, m, lab = s["truth01"], s["mask"], s["labels"]
        preds = {"acquired target": own_normalize(s["tgt_noisy"])}
        others = [o for j, o in enumerate(subj) if j != i]
        xs, ys = fit_paired_lookup([o["src"] for o in others], [o["truth"] for o in others], [o["mask"] for o in others])
        preds["voxel-wise lookup (LOO)"] = apply_lookup(s["src"], xs, ys)
        xs, ys = fit_paired_lookup(s["src"], s["truth"], m)
        preds["voxel-wise oracle"] = apply_lookup(s["src"], xs, ys)
        preds["tissue-mean oracle"] = per_label_mean(s["truth"], lab)[lab].astype(np.float32)
        for kind in ("noisy", "clean"):
            preds[f"tissue-ratio oracle ({kind} source)"] = own_normalize(s[f"src_{kind}"] * s["ratio"][lab])
        for k, p in preds.items():
            rows.setdefault(k, []).append(paired_scores((p + 1) / 2, truth01, m).to_dict())
    return {k: {m: float(np.mean([r[m] for r in v])) for m in ("psnr", "ssim", "mae", "ncc")} for k, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phantom", type=Path, required=True)
    p.add_argument("--pair", nargs=2, default=("ciss", "dess"), help="the two contrasts")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    c1, c2 = a.pair
    out = {f"{s}->{t}": ceilings(a.phantom, s, t) for s, t in ((c1, c2), (c2, c1))}
    for d, rows in out.items():
        print(f"\n**{d}** (vs noise-free truth, mean of the test subjects)\n")
        print(md_table(["reference (reads the truth)", "PSNR dB", "SSIM", "MAE", "NCC"],
                       [(k, f"{r['psnr']:.2f}", r["ssim"], r["mae"], r["ncc"]) for k, r in rows.items()]))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
