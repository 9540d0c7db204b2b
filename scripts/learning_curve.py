#!/usr/bin/env python
"""Learning curve of a config on the phantom: train N steps in-process, score the paired test
subjects every K steps. The quick experiment loop behind the demo recipe (docs/results.md §0).

    .venv/bin/python scripts/learning_curve.py --phantom demo_out/phantom --steps 300 --every 75 \
        --set loss.identity_weight=0 --set optim.lr=0.0005 --set "data.patch_size=[8,64,64]"

Scores (SSIM, PSNR) use the evaluation's metric functions against the noise-free truth, but with
one whole-volume generator pass and no trip through scanner units (`cyclescan evaluate` does the
sliding window and de-normalization), so they track `evaluate` closely without being identical.
Prints one line per checkpoint; ``--json`` writes them; ``--figure`` saves middle slices at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from cyclescan.config import load_config  # noqa: E402
from cyclescan.data.normalize import foreground_mask  # noqa: E402
from cyclescan.io import read_volume  # noqa: E402
from cyclescan.metrics.paired import own_normalize, paired_scores  # noqa: E402
from cyclescan.train.cyclegan import CycleGAN  # noqa: E402
from cyclescan.train.data_setup import build_train_data  # noqa: E402
from cyclescan.train.distributed import DistContext  # noqa: E402
from cyclescan.train.trainer import seed_everything  # noqa: E402

DIRECTIONS = {"a2b": ("ciss", "dess"), "b2a": ("dess", "ciss")}


def load_tests(phantom: Path, n: int) -> list[tuple[dict, dict]]:
    """(noisy inputs, clean truths) per test subject, each {contrast: (D, H, W) array}."""
    names = sorted(p.name for p in (phantom / "test" / "ciss").glob("*.nii.gz"))[:n]
    return [({k: read_volume(phantom / "test" / k / f).array for k in ("ciss", "dess")},
             {k: read_volume(phantom / "test" / "clean" / k / f).array for k in ("ciss", "dess")}) for f in names]


@torch.no_grad()
def score(model: CycleGAN, tests: list[tuple[dict, dict]]) -> dict[str, dict[str, float]]:
    """direction -> mean {ssim, psnr} over the test subjects (whole-volume pass, eval mode)."""
    model.train(False)
    out = {}
    for d, (src, tgt) in DIRECTIONS.items():
        rows = []
        for vols, clean in tests:
            x = torch.from_numpy(own_normalize(vols[src]))[None, None]
            y = model.translate(x, d)[0, 0].float().numpy()
            fg = foreground_mask(clean[tgt]).astype(bool)
            s = paired_scores((own_normalize(y) + 1) / 2, (own_normalize(clean[tgt], mask=fg) + 1) / 2, fg)
            rows.append((s.ssim, s.psnr))
        out[d] = {"ssim": float(np.mean([r[0] for r in rows])), "psnr": float(np.mean([r[1] for r in rows]))}
    model.train(True)
    return out


@torch.no_grad()
def save_figure(model: CycleGAN, tests: list[tuple[dict, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model.train(False)
    vols, clean = tests[0]
    fig, ax = plt.subplots(2, 3, figsize=(9, 6))
    for r, (d, (src, tgt)) in enumerate(DIRECTIONS.items()):
        x = torch.from_numpy(own_normalize(vols[src]))[None, None]
        y = model.translate(x, d)[0, 0].float().numpy()
        for c, (im, title) in enumerate([(x[0, 0].numpy(), src), (y, d), (own_normalize(clean[tgt]), f"{tgt} truth")]):
            ax[r, c].imshow(im[im.shape[0] // 2], cmap="gray", vmin=-1, vmax=1)
            ax[r, c].set_title(title)
            ax[r, c].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phantom", type=Path, required=True, help="phantom folder (cyclescan phantom)")
    p.add_argument("--config", type=Path, default=REPO / "configs" / "demo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override KEY=VALUE")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=75)
    p.add_argument("--subjects", type=int, default=2, help="test subjects scored")
    p.add_argument("--tag", default="run")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--figure", type=Path, default=None)
    a = p.parse_args()

    cfg = load_config(a.config, a.overrides)
    seed_everything(cfg.train.seed, False)
    ph = a.phantom
    data = build_train_data(cfg, ph / cfg.domains.a / "train", ph / cfg.domains.b / "train", None, None,
                            DistContext(), print)
    model = CycleGAN(cfg, cfg.data.patch_size)
    tests = load_tests(ph, a.subjects)
    curve = [{"step": 0, "seconds": 0.0, **score(model, tests)}]
    print(a.tag, curve[-1], flush=True)
    step, epoch, t0 = 0, 0, time.perf_counter()
    while step < a.steps:
        epoch += 1
        batches = data.epoch_batches(epoch)
        for batch in batches:
            model.step(batch["a"], batch["b"], precision=cfg.train.precision)
            step += 1
            if step % a.every == 0 or step == a.steps:
                curve.append({"step": step, "seconds": time.perf_counter() - t0, **score(model, tests)})
                print(a.tag, curve[-1], flush=True)
            if step >= a.steps:
                break
        batches.close()  # stop this epoch's loader workers now, not at interpreter exit
        model.scheduler_step()
    if a.json:
        a.json.write_text(json.dumps({"tag": a.tag, "overrides": a.overrides, "config": str(a.config),
                                      "curve": curve}, indent=1))
    if a.figure:
        save_figure(model, tests, a.figure)


if __name__ == "__main__":
    main()
