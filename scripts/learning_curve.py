#!/usr/bin/env python
"""Learning curve of a config on the phantom: train N steps in-process, score the paired test
subjects every K steps. The quick experiment loop behind the demo recipe (docs/results.md §0).

    .venv/bin/python scripts/learning_curve.py --phantom demo_out/phantom --steps 300 --every 75 \
        --set loss.identity_weight=0 --set optim.lr=0.0005 --set "data.patch_size=[8,64,64]"

Scores (SSIM, PSNR; raw and with the ratio detail transfer) use the evaluation's metric functions
against the noise-free truth and the same sliding window as `cyclescan evaluate` (the config's
infer.window / overlap / blend / precision), but no trip through scanner units, so they track `evaluate`
closely without being identical. ``--whole-volume`` scores one whole-volume generator pass
instead, as every curve measured before session 11 did: with instance normalization that pass
sees other statistics than the training patches did (much more air) and understated some models
by up to 0.17 SSIM (DESS -> CISS of a paired model, docs/results.md section 1).
Prints one line per checkpoint; ``--json`` writes them; ``--figure`` saves middle slices at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cyclescan.config import load_config  # noqa: E402
from cyclescan.io import read_volume  # noqa: E402
from cyclescan.metrics.paired import own_normalize, paired_scores  # noqa: E402
from cyclescan.train.cyclegan import CycleGAN  # noqa: E402
from cyclescan.train.data_setup import build_train_data  # noqa: E402
from cyclescan.train.distributed import DistContext  # noqa: E402
from cyclescan.train.trainer import seed_everything  # noqa: E402
from quality_lib import slice_figure, truth_in_metric_space  # noqa: E402

@dataclass
class TestPair:
    """One paired test subject prepared once: model-space inputs (1,1,D,H,W) per contrast and, per
    contrast, the clean truth in [0, 1] metric space with its foreground mask."""

    inputs: dict[str, torch.Tensor]
    truth01: dict[str, np.ndarray]
    mask: dict[str, np.ndarray]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)  # mm (D, H, W), for the detail transfer


def directions(cfg) -> dict[str, tuple[str, str]]:
    """'a2b' -> (domain a, domain b), 'b2a' -> (b, a): phantom contrast folders are domain names."""
    a, b = cfg.domains.a, cfg.domains.b
    return {"a2b": (a, b), "b2a": (b, a)}


def load_tests(phantom: Path, contrasts: tuple[str, str], n: int) -> list[TestPair]:
    """The first ``n`` paired test subjects of the phantom, normalized once for every scoring."""
    names = sorted(p.name for p in (phantom / "test" / contrasts[0]).glob("*.nii.gz"))[:n]
    tests = []
    for f in names:
        inputs, truth01, mask = {}, {}, {}
        for k in contrasts:
            vol = read_volume(phantom / "test" / k / f)
            inputs[k] = torch.from_numpy(own_normalize(vol.array))[None, None]
            truth01[k], mask[k] = truth_in_metric_space(read_volume(phantom / "test" / "clean" / k / f).array)
        tests.append(TestPair(inputs, truth01, mask, vol.spacing))
    return tests


def predict(model: CycleGAN, x: torch.Tensor, direction: str, whole_volume: bool = False) -> np.ndarray:
    """The model's (D, H, W) translation of a (1, 1, D, H, W) model-space input: by the sliding
    window of `cyclescan translate` (window = infer.window or the training patch, the config's
    overlap, blend and precision), or by one whole-volume pass."""
    from cyclescan.infer.sliding import sliding_window_translate
    from cyclescan.infer.translate import network_divisor

    if whole_volume:
        return model.translate(x, direction)[0, 0].float().numpy()
    cfg = model.cfg
    return sliding_window_translate(x[0, 0], lambda b: model.translate(b, direction),
                                    cfg.window(), divisor=network_divisor(cfg),
                                    overlap=cfg.infer.overlap, blend=cfg.infer.blend,
                                    precision=cfg.infer.precision, device=model.device)


@torch.no_grad()
def score(model: CycleGAN, tests: list[TestPair], dirs: dict[str, tuple[str, str]],
          detail_sigma: float = 1.25, whole_volume: bool = False) -> dict[str, dict[str, float]]:
    """direction -> mean {ssim, psnr} of the raw output and {ssim_detail, psnr_detail} with the
    ratio detail transfer (infer/detail.py, here in model space: source + 1 and output floor -1)
    over the test subjects (eval mode; sliding window unless ``whole_volume``)."""
    from cyclescan.infer.detail import ratio_detail_transfer

    model.train(False)
    out = {}
    for d, (src, tgt) in dirs.items():
        rows = []
        for t in tests:
            y = predict(model, t.inputs[src], d, whole_volume)
            s = paired_scores((own_normalize(y) + 1) / 2, t.truth01[tgt], t.mask[tgt])
            x1 = t.inputs[src][0, 0].numpy() + 1.0
            yd = ratio_detail_transfer(x1, y, t.spacing, detail_sigma, floor=-1.0)
            sd = paired_scores((own_normalize(yd) + 1) / 2, t.truth01[tgt], t.mask[tgt])
            rows.append((s.ssim, s.psnr, sd.ssim, sd.psnr))
        m = np.mean(np.asarray(rows), axis=0)
        out[d] = {"ssim": float(m[0]), "psnr": float(m[1]), "ssim_detail": float(m[2]), "psnr_detail": float(m[3])}
    model.train(True)
    return out


@torch.no_grad()
def save_figure(model: CycleGAN, test: TestPair, dirs: dict[str, tuple[str, str]], path: Path) -> None:
    """Middle slices of one subject, both directions: input, translation, clean truth ([0, 1])."""
    model.train(False)
    panels = []
    for d, (src, tgt) in dirs.items():
        x = test.inputs[src]
        y = predict(model, x, d)
        mid = y.shape[0] // 2
        panels += [(src, (x[0, 0, mid].numpy() + 1) / 2), (d, (y[mid] + 1) / 2), (f"{tgt} truth", test.truth01[tgt][mid])]
    slice_figure(panels, path)


def curve_arguments(description: str, steps: int, every: int, subjects: int, tag: str) -> argparse.ArgumentParser:
    """The options every learning-curve script shares (phantom, config + overrides, steps, scoring, output)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--phantom", type=Path, required=True, help="phantom whose paired test subjects are scored")
    p.add_argument("--config", type=Path, default=REPO / "configs" / "demo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override KEY=VALUE")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--every", type=int, default=every, help="score every this many steps")
    p.add_argument("--subjects", type=int, default=subjects, help="test subjects scored")
    p.add_argument("--tag", default=tag)
    p.add_argument("--json", type=Path, default=None, help="write the curve here")
    p.add_argument("--whole-volume", action="store_true",
                   help="score one whole-volume pass instead of the sliding window (curves before session 11)")
    return p


def main() -> None:
    p = curve_arguments(__doc__.split("\n")[0], steps=300, every=75, subjects=2, tag="run")
    p.add_argument("--figure", type=Path, default=None)
    a = p.parse_args()

    cfg = load_config(a.config, a.overrides)
    if cfg.data.standardize:
        # the test inputs here are only percentile-normalized (load_tests); a model trained on
        # standardized inputs must be scored through `cyclescan evaluate`, which standardizes
        raise SystemExit("data.standardize=true is not supported here: train with `cyclescan train` "
                         "and score with `cyclescan evaluate` (phantom_quality.py)")
    seed_everything(cfg.train.seed, False)
    ph = a.phantom
    data = build_train_data(cfg, ph / cfg.domains.a / "train", ph / cfg.domains.b / "train", None, None,
                            DistContext(), print)
    model = CycleGAN(cfg, cfg.data.patch_size, reference=data.reference)
    dirs = directions(cfg)
    tests = load_tests(ph, (cfg.domains.a, cfg.domains.b), a.subjects)
    curve = [{"step": 0, "seconds": 0.0, **score(model, tests, dirs, whole_volume=a.whole_volume)}]
    print(a.tag, curve[-1], flush=True)
    step, epoch, t0 = 0, 0, time.perf_counter()
    while step < a.steps:
        epoch += 1
        batches = data.epoch_batches(epoch)
        for batch in batches:
            model.step(batch["a"], batch["b"], precision=cfg.train.precision)
            step += 1
            if step % a.every == 0 or step == a.steps:
                curve.append({"step": step, "seconds": time.perf_counter() - t0, **score(model, tests, dirs, whole_volume=a.whole_volume)})
                print(a.tag, curve[-1], flush=True)
            if step >= a.steps:
                break
        batches.close()  # stop this epoch's loader workers now, not at interpreter exit
        model.scheduler_step()
    if a.json:
        a.json.write_text(json.dumps({"tag": a.tag, "overrides": a.overrides, "config": str(a.config),
                                      "curve": curve}, indent=1))
    if a.figure:
        save_figure(model, tests[0], dirs, a.figure)


if __name__ == "__main__":
    main()
