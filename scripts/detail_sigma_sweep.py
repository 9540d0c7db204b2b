#!/usr/bin/env python
"""Issue 9: the ratio detail transfer (infer/detail.py) swept over its width, for the model and
for histogram matching, on paired volumes.

For each source volume with a same-named truth: the checkpoint's raw translation
(``infer.detail_sigma = 0``) and the histogram-matching baseline (evaluate's ``histmatch``, put on
the target scale with the checkpoint's stats), each post-processed with the transfer at every
``--sigmas`` value, scored like `cyclescan evaluate` (each volume normalized by its own
foreground percentiles to [0, 1]; PSNR/SSIM inside the truth's foreground). Sigma 0 is the raw
output. ``histmatch + transfer`` answers whether a gain comes from the model or from the
post-process alone.

Used to *select* the default width on data that is not the test set (a second phantom, seed 1;
the real knee's training slabs), then to report it on the test set:

    .venv/bin/python scripts/detail_sigma_sweep.py --checkpoint RUN/checkpoints/best.pt --direction a2b \\
        --source PH1/test/ciss --truth PH1/test/clean/dess --sigmas 0,0.75,1,1.25,1.5,2 [--json F]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_lib import md_table, truth_in_metric_space  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import torch

    from cyclescan.data.normalize import NormStats, denormalize
    from cyclescan.infer.detail import ratio_detail_transfer
    from cyclescan.infer.translate import source_reference, translate_volume
    from cyclescan.io import read_volume
    from cyclescan.metrics import baselines as bl
    from cyclescan.metrics.evaluate import pair_volumes
    from cyclescan.metrics.paired import paired_scores, to_metric_space
    from cyclescan.train.checkpoint import build_generator_from_checkpoint, checkpoint_config, load_checkpoint

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--direction", choices=("a2b", "b2a"), required=True)
    p.add_argument("--source", type=Path, required=True, help="source volumes")
    p.add_argument("--truth", type=Path, required=True, help="truth volumes of the same names (clean or acquired)")
    p.add_argument("--sigmas", default="0,0.75,1,1.25,1.5,2", help="comma-separated widths (finest-voxel units)")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    sigmas = [float(s) for s in a.sigmas.split(",")]

    ckpt = load_checkpoint(a.checkpoint)
    cfg = checkpoint_config(ckpt)
    cfg = dataclasses.replace(cfg, infer=dataclasses.replace(cfg.infer, detail_sigma=0.0))  # raw output
    tgt = "b" if a.direction == "a2b" else "a"
    stats = NormStats.from_dict(ckpt["norm"][tgt])
    reference = bl.reference_from_checkpoint(ckpt, tgt)
    gen = build_generator_from_checkpoint(ckpt, a.direction)
    std_ref = source_reference(ckpt, cfg, a.direction)
    scores: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for _key, src_path, truth_path in pair_volumes(a.source, a.truth):  # InputError when none pair
        src = read_volume(src_path)
        truth01, mask = truth_in_metric_space(read_volume(truth_path).array)
        with torch.inference_mode():
            raw = translate_volume(src, gen, cfg, stats, standardize_to=std_ref, device="cpu").array
        outputs = {"model": raw, "histmatch": denormalize(bl.histmatch_source(src.array, reference, cfg.data), stats)}
        for method, out in outputs.items():
            for s in sigmas:
                pred01 = to_metric_space(ratio_detail_transfer(src.array, out, src.spacing, s))
                sc = paired_scores(pred01, truth01, mask)
                scores.setdefault((method, s), []).append((sc.psnr, sc.ssim))
    rows = [{"method": m, "sigma": s, "psnr": float(np.mean([v[0] for v in vals])),
             "ssim": float(np.mean([v[1] for v in vals])), "n": len(vals)} for (m, s), vals in scores.items()]
    print(md_table(["method", "detail_sigma", "PSNR dB", "SSIM", "volumes"],
                   [(r["method"], f"{r['sigma']:g}", f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", r["n"]) for r in rows]))
    if a.json:
        a.json.write_text(json.dumps({"checkpoint": str(a.checkpoint), "direction": a.direction,
                                      "source": str(a.source), "truth": str(a.truth), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
