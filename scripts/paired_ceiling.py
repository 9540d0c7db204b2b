#!/usr/bin/env python
"""Issue 9: what the *same generators* reach on the phantom when trained with paired data.

The unpaired CycleGAN is compared with identity and histogram matching (floors) and with truth-
reading oracles (scripts/phantom_ceilings.py). This script adds the missing reference in
between: the config's two generators (same architecture, air gate, patch size, optimizer, LR
schedule and number of steps) trained *supervised* on paired, noisy CISS/DESS volumes of a
second phantom (different seed: other anatomy, bias, texture and noise), with an L1 loss to the
acquired (noisy) target, i.e. what a user with paired scans could train. Scored exactly like
``scripts/learning_curve.py`` (same functions, same test subjects, clean truth), so its curve
sits next to the unpaired model's curve.

    .venv/bin/cyclescan phantom /tmp/pairs --train-subjects 1 --val-subjects 1 --test-subjects 8 --seed 1
    .venv/bin/python scripts/paired_ceiling.py --phantom demo_out/phantom --pairs /tmp/pairs \
        --steps 320 --every 80 --subjects 4 --json paired.json

With ``--checkpoint OUT.pt`` the trained generators are also written as a checkpoint that
``cyclescan evaluate`` / ``translate`` read (domain statistics and target-scale quantiles from
``--phantom``'s unpaired training folders, as an unpaired run would store them), so the paired
model gets every number of ``evaluate``, the per-tissue signal included.

The gap between this curve and the unpaired one is what the unpaired objective costs at this
model size and budget; the gap between this curve and the issue's 0.90 / 28 dB is what the
architecture and budget cost even with supervision.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cyclescan.config import load_config  # noqa: E402
from cyclescan.io import read_volume  # noqa: E402
from cyclescan.metrics.paired import own_normalize  # noqa: E402
from cyclescan.train.cyclegan import CycleGAN  # noqa: E402
from cyclescan.train.distributed import resolve_device  # noqa: E402
from cyclescan.train.trainer import seed_everything  # noqa: E402
from learning_curve import curve_arguments, directions, load_tests, score  # noqa: E402


def load_pairs(pairs: Path, contrasts: tuple[str, str]) -> list[dict[str, torch.Tensor]]:
    """Every paired subject of ``pairs/test`` as {contrast: (D, H, W) model-space tensor} from the
    *noisy* acquisitions, each normalized by its own percentiles (the training rule)."""
    names = sorted(p.name for p in (pairs / "test" / contrasts[0]).glob("*.nii.gz"))
    if not names:
        raise SystemExit(f"no paired subjects in {pairs / 'test' / contrasts[0]}")
    return [{k: torch.from_numpy(own_normalize(read_volume(pairs / "test" / k / f).array)) for k in contrasts}
            for f in names]


def random_pair(pairs: list[dict[str, torch.Tensor]], patch: list[int], rng: np.random.Generator,
                contrasts: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random crop (patch voxels) of both contrasts of one random subject, (1, 1, *patch)."""
    vols = pairs[int(rng.integers(len(pairs)))]
    shape = vols[contrasts[0]].shape
    start = [int(rng.integers(0, s - p + 1)) for s, p in zip(shape, patch)]
    sl = tuple(slice(s, s + p) for s, p in zip(start, patch))
    return vols[contrasts[0]][sl][None, None], vols[contrasts[1]][sl][None, None]


def train_paired(model: CycleGAN, pairs: list[dict[str, torch.Tensor]], tests: list, contrasts: tuple[str, str],
                 steps: int, every: int, per_epoch: int, rng: np.random.Generator,
                 tag: str = "paired", whole_volume: bool = False) -> list[dict]:
    """Train both generators with L1 to the paired target (both directions, one optimizer, the
    config's LR schedule stepped every ``per_epoch`` steps); score every ``every`` steps.
    Returns the curve: [{step, seconds, l1, a2b: {ssim, psnr}, b2a: {...}}, ...], step 0 first."""
    patch = model.patch_size
    dirs = directions(model.cfg)
    curve = [{"step": 0, "seconds": 0.0, **score(model, tests, dirs, whole_volume=whole_volume)}]
    print(tag, curve[-1], flush=True)
    t0 = time.perf_counter()
    model.train(True)
    for step in range(1, steps + 1):
        x_a, x_b = (x.to(model.device) for x in random_pair(pairs, patch, rng, contrasts))
        loss = F.l1_loss(model.G_ab(x_a), x_b) + F.l1_loss(model.G_ba(x_b), x_a)
        model.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        model.opt_G.step()
        if step % per_epoch == 0:
            model.sched_G.step()
        if step % every == 0 or step == steps:
            curve.append({"step": step, "seconds": time.perf_counter() - t0, "l1": float(loss.detach()),
                          **score(model, tests, dirs, whole_volume=whole_volume)})
            print(tag, curve[-1], flush=True)
    return curve


def save_paired_checkpoint(path: Path, model: CycleGAN, cfg, phantom: Path, steps: int) -> None:
    """``model`` as a regular checkpoint: its generators (and untouched discriminators) plus the
    domain normalization and reference quantiles of the unpaired training folders
    ``phantom/{a,b}/train``, from ``build_train_data`` as in ``cyclescan train`` (so evaluate puts
    the output on the same target scale)."""
    from cyclescan.train.checkpoint import rng_state, save_checkpoint
    from cyclescan.train.data_setup import build_train_data
    from cyclescan.train.distributed import DistContext

    data = build_train_data(cfg, phantom / cfg.domains.a / "train", phantom / cfg.domains.b / "train",
                            None, None, DistContext(), print)
    save_checkpoint(path, {
        "config": cfg.to_dict(), "epoch": 0, "step": steps, **model.state_dict(), "rng": rng_state(),
        "norm": data.norm, "reference": data.reference, "history": [], "best": {}, "partial": None,
    })
    print(f"wrote {path}", flush=True)


def main() -> None:
    p = curve_arguments(__doc__.split("\n")[0], steps=320, every=80, subjects=4, tag="paired")
    p.add_argument("--pairs", type=Path, required=True, help="second phantom whose test/ pairs train the model")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="also write the paired generators as a checkpoint for `cyclescan evaluate`")
    p.add_argument("--steps-per-epoch", type=int, default=32,
                   help="steps between LR-schedule epochs: the unpaired run's (demo: 8 volumes x 4 patches)")
    a = p.parse_args()

    cfg = load_config(a.config, a.overrides)
    device = resolve_device(cfg.train.device)
    if cfg.generator.histogram_base or cfg.data.standardize:
        raise SystemExit("generator.histogram_base and data.standardize need unpaired training quantiles; "
                         "not supported here")
    seed_everything(cfg.train.seed, False)
    contrasts = (cfg.domains.a, cfg.domains.b)
    pairs = load_pairs(a.pairs, contrasts)
    model = CycleGAN(cfg, cfg.data.patch_size, device=device)  # only its generators, optimizer and LR schedule are used
    tests = load_tests(a.phantom, contrasts, a.subjects)
    curve = train_paired(model, pairs, tests, contrasts, a.steps, a.every, a.steps_per_epoch,
                         np.random.default_rng(cfg.train.seed), tag=a.tag, whole_volume=a.whole_volume)
    if a.checkpoint:
        save_paired_checkpoint(a.checkpoint, model, cfg, a.phantom, a.steps)
    if a.json:
        a.json.write_text(json.dumps({"tag": a.tag, "overrides": a.overrides, "config": str(a.config),
                                      "pairs": str(a.pairs), "n_pairs": len(pairs), "curve": curve}, indent=1))


if __name__ == "__main__":
    main()
