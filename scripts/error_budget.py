#!/usr/bin/env python
"""Issue 9: where a phantom translation's error comes from, tissue by tissue.

PSNR and SSIM say how far a translation is from the truth, not where. This splits the squared
error inside the truth's foreground (the voxels PSNR is computed over, same metric space as
`cyclescan evaluate`: each volume normalized by its own percentiles, [0, 1]) by the phantom's
tissue labels: per tissue the voxel count, the truth's and the translation's mean, the bias
(difference of the means, a wrong tissue *level*), the RMS error (level plus texture/noise) and
the tissue's share of the total squared error, the correlation of translation and truth
inside the tissue (does the translation keep the texture and bias field, or invert them?) and the
relative spread ratio, the translation's coefficient of variation (std / mean) inside the tissue
over the truth's. It is blind to a global scale, which the metric space's per-volume normalization
applies; below 1, the bias field and texture are kept but shrunk toward the tissue mean, which
shortens the bright tail and so lifts every tissue in that normalization.

    cyclescan translate --checkpoint RUN/checkpoints/best.pt --direction a2b --out /tmp/t_a2b PH/test/ciss
    .venv/bin/python scripts/error_budget.py --phantom PH --translated /tmp/t_a2b --target dess [--json F]
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
from cyclescan.metrics.paired import to_metric_space  # noqa: E402
from quality_lib import md_table, truth_in_metric_space  # noqa: E402


def error_budget(pred01: np.ndarray, truth01: np.ndarray, mask: np.ndarray, labels: np.ndarray,
                 names: dict[int, str]) -> list[dict]:
    """Per label inside ``mask``: {tissue, n, truth, pred, bias, rms, share, corr, spread} (share of
    the summed squared error, so the shares add up to 1; spread = the coefficient of variation of
    pred over truth's inside the tissue, nan when the truth is constant there). Arrays (D, H, W); pred/truth in [0, 1]."""
    se = (pred01 - truth01) ** 2
    total = float(se[mask].sum()) or 1.0
    rows = []
    for lab in np.unique(labels[mask]):
        k = mask & (labels == lab)
        t, p = float(truth01[k].mean()), float(pred01[k].mean())
        rows.append({"tissue": names.get(int(lab), str(int(lab))), "n": int(k.sum()), "truth": t, "pred": p,
                     "bias": p - t, "rms": float(np.sqrt(se[k].mean())), "share": float(se[k].sum()) / total,
                     "corr": _corr(pred01[k], truth01[k]), "spread": _spread(pred01[k], truth01[k])})
    return rows


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two voxel sets (nan when either is constant or < 3 voxels)."""
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _spread(pred: np.ndarray, truth: np.ndarray) -> float:
    """(std / mean of pred) / (std / mean of truth) of one voxel set: 1 for any pred = c x truth.
    nan when the truth is constant, either mean is not positive, or < 3 voxels."""
    if truth.size < 3 or truth.std() == 0 or truth.mean() <= 0 or pred.mean() <= 0:
        return float("nan")
    return float((pred.std() / pred.mean()) / (truth.std() / truth.mean()))


def pooled(per_subject: list[list[dict]]) -> list[dict]:
    """Voxel-weighted pooling of several subjects' budgets (shares re-normalized to the pooled total;
    the within-tissue correlation and spread ratio are voxel-weighted means of the subjects')."""
    acc: dict[str, dict] = {}
    for rows in per_subject:
        for r in rows:
            a = acc.setdefault(r["tissue"], {"n": 0, "truth": 0.0, "pred": 0.0, "sse": 0.0, "corr": 0.0, "n_corr": 0,
                                             "spread": 0.0, "n_spread": 0})
            a["n"] += r["n"]
            a["truth"] += r["truth"] * r["n"]
            a["pred"] += r["pred"] * r["n"]
            a["sse"] += r["rms"] ** 2 * r["n"]
            if np.isfinite(r["corr"]):
                a["corr"] += r["corr"] * r["n"]
                a["n_corr"] += r["n"]
            if np.isfinite(r.get("spread", float("nan"))):
                a["spread"] += r["spread"] * r["n"]
                a["n_spread"] += r["n"]
    total = sum(a["sse"] for a in acc.values()) or 1.0
    return [{"tissue": k, "n": a["n"], "truth": a["truth"] / a["n"], "pred": a["pred"] / a["n"],
             "bias": (a["pred"] - a["truth"]) / a["n"], "rms": float(np.sqrt(a["sse"] / a["n"])),
             "share": a["sse"] / total, "corr": a["corr"] / a["n_corr"] if a["n_corr"] else float("nan"),
             "spread": a["spread"] / a["n_spread"] if a["n_spread"] else float("nan")}
            for k, a in acc.items()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phantom", type=Path, required=True, help="phantom folder (test/clean, test/labels, phantom.json)")
    p.add_argument("--translated", type=Path, required=True, help="folder of `cyclescan translate` outputs")
    p.add_argument("--target", required=True, help="target contrast (its clean truth is scored)")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    names = {v: k for k, v in json.loads((a.phantom / "phantom.json").read_text())["labels"].items()}
    per_subject = []
    for f in sorted(a.translated.glob("*.nii.gz")):
        truth01, mask = truth_in_metric_space(read_volume(a.phantom / "test" / "clean" / a.target / f.name).array)
        pred01 = to_metric_space(read_volume(f).array)
        labels = np.asarray(read_volume(a.phantom / "test" / "labels" / f.name).array).astype(np.int64)
        per_subject.append(error_budget(pred01, truth01, mask, labels, names))
    if not per_subject:
        raise SystemExit(f"no .nii.gz in {a.translated}")
    rows = sorted(pooled(per_subject), key=lambda r: -r["share"])
    print(md_table(["tissue", "voxels", "truth mean", "model mean", "bias", "RMS error", "share of squared error",
                    "corr. with truth inside the tissue", "relative spread (CV model / CV truth)"],
                   [(r["tissue"], r["n"], f"{r['truth']:.3f}", f"{r['pred']:.3f}", f"{r['bias']:+.3f}",
                     f"{r['rms']:.3f}", f"{100 * r['share']:.1f} %", f"{r['corr']:+.2f}", f"{r['spread']:.2f}")
                    for r in rows]))
    if a.json:
        a.json.write_text(json.dumps({"subjects": len(per_subject), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
