#!/usr/bin/env python
"""Diagnostic (issue 9): can a generator represent a plain intensity map? Supervised, no GAN.

Trains one generator of a config for N Adam steps on the training patches of domain A with an L1
loss to the domain-level histogram map of its input (train/prior.py: the monotone map from A's
training quantiles to B's), then prints the mean L1 of the last 20 steps and on a whole test
volume. A CycleGAN generator must at least learn such a map quickly; this measures how well the
architecture options (generator.norm, generator.intensity_branch) let it.

    .venv/bin/python scripts/fit_intensity_map.py --a runs/realdata_mese3/data/train_a \
        --b runs/realdata_mese3/data/train_b --test runs/realdata_mese3/data/test_a \
        --steps 300 --set generator.histogram_base=false --set generator.intensity_branch=16

(the default config, scripts/realdata_mese.yaml, has the histogram base on: the generator then
*starts* at the map, so switch it off to measure what the network itself learns).
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
from cyclescan.io import list_volumes, read_volume  # noqa: E402
from cyclescan.metrics.paired import own_normalize  # noqa: E402
from cyclescan.nets import build_generator  # noqa: E402
from cyclescan.train.data_setup import build_train_data  # noqa: E402
from cyclescan.train.distributed import DistContext  # noqa: E402
from cyclescan.train.prior import HistogramPrior  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--a", type=Path, required=True, help="domain A training folder")
    p.add_argument("--b", type=Path, required=True, help="domain B training folder (its quantiles only)")
    p.add_argument("--test", type=Path, required=True, help="folder of domain-A test volumes (first one used)")
    p.add_argument("--config", type=Path, default=REPO / "scripts" / "realdata_mese.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--steps", type=int, default=300)
    a = p.parse_args(argv)

    cfg = load_config(a.config, [*a.overrides, "data.num_workers=0"])
    torch.manual_seed(cfg.train.seed)
    data = build_train_data(cfg, a.a, a.b, None, None, DistContext(), lambda *_: None)
    prior = HistogramPrior(data.reference)
    g = build_generator(cfg, cfg.data.patch_size, generator=torch.Generator().manual_seed(cfg.train.seed))
    opt = torch.optim.Adam(g.parameters(), lr=cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2))
    losses: list[float] = []
    t0, epoch = time.perf_counter(), 0
    while len(losses) < a.steps:
        epoch += 1
        batches = data.epoch_batches(epoch)
        for batch in batches:
            x = batch["a"]
            loss = (g(x) - prior(x, "a2b")).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if len(losses) >= a.steps:
                break
        batches.close()
    x = torch.from_numpy(own_normalize(read_volume(list_volumes(a.test)[0]).array))[None, None]
    d = [s - s % q for s, q in zip(x.shape[2:], g.divisor)]  # whole volume cropped to the divisor
    x = x[..., : d[0], : d[1], : d[2]]
    g.train(False)
    with torch.no_grad():
        test_l1 = float((g(x) - prior(x, "a2b")).abs().mean())
    print(json.dumps({"overrides": a.overrides, "steps": a.steps, "train_l1_last20": float(np.mean(losses[-20:])),
                      "test_volume_l1": test_l1, "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
