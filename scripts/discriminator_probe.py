#!/usr/bin/env python
"""Issue 9: does a trained discriminator see a wrong tissue level? (fluid and the ACL)

The unpaired models give phantom fluid and the ACL the wrong level (docs/results.md section 1). A
CycleGAN generator only learns what its discriminator penalises, so this asks the checkpoint's
discriminators directly. For every paired test subject, contrast and tissue it scores patches of
the training size centred on random voxels of the tissue (the same patches for every row):

- real:      the acquired test volume of that contrast (what D should call real);
- scaled:    the same volume with the tissue's voxels multiplied by a factor, i.e. a real image
             that is wrong only in that tissue's level (defaults: the models' measured errors);
- model:     the model's translation of the other contrast, patch by patch (what D was trained on
             as fake);
- other:     the untranslated other contrast (a control that D must reject if it sees anything).

Scores are the mean of the PatchGAN's map (LSGAN: real -> 1, fake -> 0). "real - scaled" near 0
means the discriminator does not see the wrong level, so no gradient asks the generator to fix it.

    .venv/bin/python scripts/discriminator_probe.py --checkpoint RUN/checkpoints/last.pt --phantom PH
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

from quality_lib import md_table  # noqa: E402

# contrast -> (its discriminator, the generator that makes it, the other contrast); phantom domains a=ciss, b=dess
ROLES = {"ciss": ("D_a", "G_ba", "dess"), "dess": ("D_b", "G_ab", "ciss")}
# default factors: the unpaired models' measured errors (raw generator, docs/results.md section 1)
FACTORS = {("ciss", "fluid"): 0.15, ("dess", "fluid"): 0.5, ("ciss", "acl"): 3.0, ("dess", "acl"): 3.0}


def scale_tissue(array: np.ndarray, labels: np.ndarray, tissue: int, factor: float) -> np.ndarray:
    """Copy of ``array`` with the voxels of label ``tissue`` multiplied by ``factor``."""
    out = np.array(array, dtype=np.float32, copy=True)
    out[labels == tissue] *= np.float32(factor)
    return out


def centred_starts(labels: np.ndarray, tissue: int, patch: list[int], n: int,
                   rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Corners of up to ``n`` patches, each centred on a different random voxel of ``tissue``
    (clamped inside the volume, so the voxel is always inside its patch)."""
    idx = np.argwhere(labels == tissue)
    if len(idx) == 0:
        return []
    pick = idx[rng.choice(len(idx), size=min(n, len(idx)), replace=False)]
    return [tuple(int(np.clip(c - p // 2, 0, s - p)) for c, p, s in zip(v, patch, labels.shape)) for v in pick]


def patch_scores(disc, arrays: list[np.ndarray], starts, patch: list[int], box: np.ndarray | None = None) -> list[float]:
    """Mean PatchGAN score of each (array, start) crop; ``arrays`` and ``starts`` pair up. With
    ``box`` (a foreground box, for a checkpoint trained with ``discriminator.positions``) each crop
    gets its position map as 3 more channels, as in training."""
    import torch

    from cyclescan.data.patches import crop, position_map

    out = []
    with torch.no_grad():
        for arr, st in zip(arrays, starts):
            x = arr if torch.is_tensor(arr) else torch.from_numpy(crop(arr, st, patch))[None, None]
            if box is not None:
                x = torch.cat([x, torch.from_numpy(position_map(st, patch, box))[None]], dim=1)
            out.append(float(disc(x).mean()))
    return out


def probe(checkpoint: Path, phantom: Path, tissues: list[str], n: int, seed: int = 0) -> list[dict]:
    """One record per (subject, contrast, tissue): mean scores real / scaled / model / other."""
    import torch

    from cyclescan.data.patches import crop, foreground_box
    from cyclescan.data.prepare import prepare_volume
    from cyclescan.io import read_volume
    from cyclescan.nets import build_discriminator, build_generator
    from cyclescan.train.checkpoint import checkpoint_config, load_checkpoint

    ck = load_checkpoint(checkpoint)
    cfg = checkpoint_config(ck)
    patch = [int(p) for p in cfg.data.patch_size]
    nets = {}
    for name in ("D_a", "D_b", "G_ab", "G_ba"):
        build = build_discriminator if name.startswith("D") else build_generator
        nets[name] = build(cfg, patch).eval()
        nets[name].load_state_dict(ck["nets"][name])
    ids = json.loads((phantom / "phantom.json").read_text())["labels"]
    rng = np.random.default_rng(seed)
    records = []
    for f in sorted((phantom / "test" / "labels").glob("*.nii.gz")):
        labels_src = np.asarray(read_volume(f).array).astype(np.int64)
        for contrast, (d_name, g_name, other) in ROLES.items():
            vol = read_volume(phantom / "test" / contrast / f.name)
            real = prepare_volume(f, cfg.data, source=vol)
            src = prepare_volume(phantom / "test" / other / f.name, cfg.data)
            labels = real.reorientation.apply_array(labels_src)  # the prepared (canonical) layout
            if labels.shape != real.array.shape:
                raise SystemExit(f"{f.name}: labels {labels.shape} vs prepared {real.array.shape} (padding?)")
            box = foreground_box(real.mask) if cfg.discriminator.positions else None
            for tissue in tissues:
                factor = FACTORS.get((contrast, tissue), 2.0)
                scaled = prepare_volume(f, cfg.data, source=type(vol)(
                    scale_tissue(vol.array, labels_src, ids[tissue], factor), vol.affine, vol.meta))
                starts = centred_starts(labels, ids[tissue], patch, n, rng)
                with torch.no_grad():
                    fakes = [nets[g_name](torch.from_numpy(crop(src.array, st, patch))[None, None]) for st in starts]
                d, k = nets[d_name], len(starts)
                row = {"subject": f.name, "contrast": contrast, "tissue": tissue, "factor": factor, "patches": k,
                       "real": float(np.mean(patch_scores(d, [real.array] * k, starts, patch, box))),
                       "scaled": float(np.mean(patch_scores(d, [scaled.array] * k, starts, patch, box))),
                       "model": float(np.mean(patch_scores(d, fakes, starts, patch, box))),
                       "other": float(np.mean(patch_scores(d, [src.array] * k, starts, patch, box)))}
                records.append(row)
    return records


def summary_rows(records: list[dict]) -> list[tuple]:
    """Mean over subjects per (contrast, tissue): factor, real, scaled, real - scaled, model, other."""
    rows = []
    for contrast in ROLES:
        for tissue in dict.fromkeys(r["tissue"] for r in records):
            rs = [r for r in records if r["contrast"] == contrast and r["tissue"] == tissue]
            if not rs:
                continue
            m = {k: float(np.mean([r[k] for r in rs])) for k in ("real", "scaled", "model", "other")}
            rows.append((contrast, tissue, f"x{rs[0]['factor']:g}", len(rs), f"{m['real']:.3f}", f"{m['scaled']:.3f}",
                         f"{m['real'] - m['scaled']:+.3f}", f"{m['model']:.3f}", f"{m['other']:.3f}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--phantom", type=Path, required=True, help="phantom folder (test/{ciss,dess,labels}, phantom.json)")
    p.add_argument("--tissues", nargs="+", default=["fluid", "acl"])
    p.add_argument("--patches", type=int, default=12, help="patches per subject, contrast and tissue")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    records = probe(a.checkpoint, a.phantom, a.tissues, a.patches)
    if not records:
        raise SystemExit(f"no labels in {a.phantom / 'test' / 'labels'}")
    print(md_table(["contrast", "tissue", "tissue scaled", "subjects", "D(real)", "D(scaled)", "real - scaled",
                    "D(model)", "D(other contrast)"], summary_rows(records)))
    if a.json:
        a.json.write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
