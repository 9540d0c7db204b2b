#!/usr/bin/env python
"""Issue 9, real data: an unpaired echo-1 -> echo-8 experiment on one multi-echo knee series.

Data: ../shared/data/knee_mese_t2/dicom (resolved from the repository root; never copied into the
repository): 24 sagittal slices x 8 echoes of 256 x 256 (0.625 mm in-plane, 4 mm slice spacing).
Echo 1 (PD-like) and echo 8 (T2-weighted) of the same slice share the anatomy voxel for voxel.

Split (slice slabs of one knee, disjoint, documented in docs/results.md):
    domain A training  = echo 1 of slices  0-7   (lateral slab)
    paired test        = echo 1 (input) and echo 8 (truth) of slices 8-15 (central slab)
    domain B training  = echo 8 of slices 16-23  (medial slab)
so the model never sees a voxel of the test slab, and never sees an echo-1/echo-8 pair. The
pipeline's augmentation (in-plane flips, intensity jitter) adds variety.

Steps: 1) write the slabs as NIfTI under OUT/data (slab affine = series affine shifted by the
first slice); 2) `cyclescan train` with scripts/realdata_mese.yaml; 3) `cyclescan evaluate` in
both directions (model vs identity vs histogram matching to the TRAINING target slab); 4) the
paired voxel-wise lookup (metrics.baselines.fit_paired_lookup) fit on the echo-1/echo-8 pairs of
the two training slabs (paired information the unpaired model never gets: a ceiling, not a fair
baseline), scored with the same metric code; 5) OUT/realdata_results.{json,md} + a figure.

Usage (from the repository root):
    .venv/bin/python scripts/realdata_mese.py --out runs/realdata_mese [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_lib import REPO, load_summary, md_table, mean, run_cli, slice_figure  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "knee_mese_t2" / "dicom"
CONFIG = Path(__file__).resolve().with_name("realdata_mese.yaml")
ROLES = ("train_a", "train_b", "test")
DEFAULT_SPLIT = {"train_a": (0, 8), "train_b": (16, 24), "test": (8, 16)}  # [start, stop) slices


def parse_slab(text: str) -> tuple[int, int]:
    """'0:8' -> (0, 8): half-open slice range [start, stop)."""
    try:
        start, stop = (int(v) for v in text.split(":"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected START:STOP, e.g. 0:8") from exc
    return start, stop


def check_split(split: dict[str, tuple[int, int]], n_slices: int) -> None:
    """ValueError unless every slab lies in [0, n_slices), is non-empty and the slabs are disjoint."""
    seen: dict[int, str] = {}
    for role in ROLES:
        start, stop = split[role]
        if not 0 <= start < stop <= n_slices:
            raise ValueError(f"slab {role} {start}:{stop} is empty or outside 0:{n_slices}")
        for k in range(start, stop):
            if k in seen:
                raise ValueError(f"slice {k} is in both {seen[k]} and {role}: the split must be disjoint")
            seen[k] = role


def slab(vol: Any, start: int, stop: int) -> Any:
    """Slices [start, stop) of a Volume (axis 0), with the affine shifted to the first kept slice."""
    from cyclescan.io import Volume

    affine = vol.affine.copy()
    affine[:3, 3] = (vol.affine @ np.array([start, 0.0, 0.0, 1.0]))[:3]
    return Volume(np.ascontiguousarray(vol.array[start:stop]), affine,
                  {**vol.meta, "slab": [int(start), int(stop)]})


def make_slabs(va: Any, vb: Any, split: dict[str, tuple[int, int]]) -> dict[str, list[Any]]:
    """Cut the echo-A / echo-B Volumes (D, H, W), voxel-aligned, into the experiment's folders.

    Returns folder -> Volumes: train_a (echo A of the A slab), train_b (echo B of the B slab),
    test_a / test_b (both echoes of the test slab), pairs_a / pairs_b (both echoes of the two
    training slabs, voxel-aligned, for the paired lookup only: the model never reads them).
    Each Volume's meta["slab"] = [start, stop). ValueError if the split is not disjoint.
    """
    if va.shape != vb.shape:
        raise ValueError(f"echo volumes differ in shape: {va.shape} vs {vb.shape}")
    check_split(split, va.shape[0])
    cut = {role: (slab(va, *split[role]), slab(vb, *split[role])) for role in ROLES}
    return {"train_a": [cut["train_a"][0]], "train_b": [cut["train_b"][1]],
            "test_a": [cut["test"][0]], "test_b": [cut["test"][1]],
            "pairs_a": [cut["train_a"][0], cut["train_b"][0]], "pairs_b": [cut["train_a"][1], cut["train_b"][1]]}


def prepare(dicom_dir: Path, out: Path, split: dict[str, tuple[int, int]], echo_a: int = 1,
            echo_b: int = 8) -> dict[str, Path]:
    """Read echoes ``echo_a`` / ``echo_b`` of the series and write :func:`make_slabs` as NIfTI.

    Returns folder name -> path (OUT/<folder>/knee_sSS-EE.nii.gz; existing files are kept).
    """
    from cyclescan.io import read_dicom_series, write_nifti

    va, vb = read_dicom_series(dicom_dir, echo=echo_a), read_dicom_series(dicom_dir, echo=echo_b)
    dirs = {}
    for folder, vols in make_slabs(va, vb, split).items():
        dirs[folder] = out / folder
        dirs[folder].mkdir(parents=True, exist_ok=True)
        for v in vols:
            start, stop = v.meta["slab"]
            path = dirs[folder] / f"knee_s{start:02d}-{stop - 1:02d}.nii.gz"
            if not path.is_file():
                write_nifti(v, path)
    return dirs


def lookup_scores(dirs: dict[str, Path], direction: str, data_cfg: dict) -> tuple[dict[str, dict], np.ndarray]:
    """Fit the paired lookup on the training-slab pairs, score it on the test slab.

    Same metric space as `cyclescan evaluate`: each volume normalized by its own percentile stats,
    [0, 1], scores inside the truth's foreground mask. Returns ({row name: scores} for the
    training-pair lookup and the test-pair oracle, mid-slice of the training-pair lookup's output).
    """
    from cyclescan.data.normalize import foreground_mask
    from cyclescan.io import list_volumes, read_volume
    from cyclescan.metrics.baselines import apply_lookup, fit_paired_lookup
    from cyclescan.metrics.kl import histogram_kl
    from cyclescan.metrics.paired import own_normalize, paired_scores

    lo, hi, use = data_cfg["norm_lower_percentile"], data_cfg["norm_upper_percentile"], data_cfg["norm_foreground_mask"]
    s_dir, t_dir = ("pairs_a", "pairs_b") if direction == "a2b" else ("pairs_b", "pairs_a")
    srcs, tgts, masks = [], [], []
    for ps, pt in zip(list_volumes(dirs[s_dir]), list_volumes(dirs[t_dir])):
        assert ps.name == pt.name, (ps, pt)
        t = read_volume(pt).array
        srcs.append(own_normalize(read_volume(ps).array, lo, hi, use))
        tgts.append(own_normalize(t, lo, hi, use))
        masks.append(foreground_mask(t))
    # Fit where it is scored (the truth's foreground), then send the darkest source values (air)
    # to the floor -1 like histogram matching does, so the air of the output matches the truth's.
    xs, ys = fit_paired_lookup(srcs, tgts, masks, n_bins=128)
    if xs[0] > -1.0:
        xs, ys = np.concatenate([[-1.0], xs]), np.concatenate([[-1.0], ys])
    ts, tt = ("test_a", "test_b") if direction == "a2b" else ("test_b", "test_a")
    src = read_volume(list_volumes(dirs[ts])[0]).array
    truth = read_volume(list_volumes(dirs[tt])[0]).array
    s_norm, t_norm = own_normalize(src, lo, hi, use), own_normalize(truth, lo, hi, use)
    mask = foreground_mask(truth)
    # The absolute ceiling of any voxel-wise map on this test pair: the same lookup fit on the
    # test pair itself (an oracle: it reads the truth).
    oxs, oys = fit_paired_lookup(s_norm, t_norm, mask, n_bins=128)
    oxs, oys = (np.concatenate([[-1.0], oxs]), np.concatenate([[-1.0], oys])) if oxs[0] > -1.0 else (oxs, oys)
    rows, mid = {}, None
    for name, (kx, ky) in {"paired lookup (fit on training pairs)": (xs, ys),
                           "voxel-wise oracle (fit on the test pair)": (oxs, oys)}.items():
        out = apply_lookup(s_norm, kx, ky)
        rows[name] = {"kl": histogram_kl(t_norm, out), **paired_scores((out + 1) / 2, (t_norm + 1) / 2, mask).to_dict()}
        mid = (out[out.shape[0] // 2] + 1) / 2 if mid is None else mid
    return rows, mid


def spectrum_check(translated_dir: Path, truth_dir: Path) -> dict[str, float]:
    """Checkerboard check on the trained model: power-spectrum peak ratio at the U-Net's upsampling
    periods (2, 4 voxels in-plane) of the translation, beside the same ratio of the real truth."""
    from cyclescan.io import list_volumes, read_volume
    from quality_lib import periodic_peak_ratio

    out = {}
    for name, folder in (("model", translated_dir), ("truth", truth_dir)):
        vol = read_volume(list_volumes(folder)[0]).array
        for period in (2, 4):
            out[f"{name}_period{period}"] = periodic_peak_ratio(vol, period)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "runs" / "realdata_mese", help="scratch folder (git-ignored runs/)")
    p.add_argument("--dicom", type=Path, default=DATA, help="multi-echo DICOM series folder")
    p.add_argument("--config", type=Path, default=CONFIG, help="training config YAML")
    p.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="extra --set KEY=VALUE for train")
    p.add_argument("--a-slices", type=parse_slab, default=DEFAULT_SPLIT["train_a"], help="domain A training slab (echo 1)")
    p.add_argument("--b-slices", type=parse_slab, default=DEFAULT_SPLIT["train_b"], help="domain B training slab (echo 8)")
    p.add_argument("--test-slices", type=parse_slab, default=DEFAULT_SPLIT["test"], help="paired test slab")
    p.add_argument("--figure", type=Path, default=REPO / "docs" / "images" / "realdata_echo1_to_echo8.png",
                   help="PNG of the mid test slice")
    p.add_argument("--checkpoint", default="last.pt", help="checkpoint file name to evaluate")
    p.add_argument("--skip-train", action="store_true", help="reuse OUT/run")
    args = p.parse_args(argv)

    split = {"train_a": args.a_slices, "train_b": args.b_slices, "test": args.test_slices}
    dirs = prepare(args.dicom, args.out / "data", split)
    run_dir = args.out / "run"
    commands: list[str] = []
    if not args.skip_train:
        extra = [x for kv in args.overrides for x in ("--set", kv)]
        epochs = ["--epochs", str(args.epochs)] if args.epochs else []
        resume = ["--resume"] if (run_dir / "checkpoints" / "last.pt").is_file() else []
        run_cli(["train", "--a", dirs["train_a"], "--b", dirs["train_b"], "--out", run_dir, "--config", args.config,
                 *epochs, *extra, *resume, "--quiet"], commands)
    ckpt = run_dir / "checkpoints" / args.checkpoint
    data_cfg = __import__("yaml").safe_load((run_dir / "config.yaml").read_text())["data"]
    results: dict[str, Any] = {"split": {k: list(v) for k, v in split.items()}, "checkpoint": str(ckpt), "directions": {}}
    md = []
    for direction, (s, t) in {"a2b": ("test_a", "test_b"), "b2a": ("test_b", "test_a")}.items():
        mpath = args.out / f"eval_{ckpt.stem}" / f"metrics_{direction}.json"
        run_cli(["evaluate", "--checkpoint", ckpt, "--direction", direction, "--source", dirs[s], "--target", dirs[t],
                 "--out", mpath, "--save-translated", mpath.parent / f"translated_{direction}", "--quiet"], commands)
        summ = load_summary(mpath)
        methods = json.loads(mpath.read_text())["methods"]  # evaluate's own rows, in its order
        lk, lk_mid = lookup_scores(dirs, direction, data_cfg)
        rows = {m: {k: mean(summ, "target", m, k) for k in ("psnr", "ssim", "mae", "ncc", "kl")} for m in methods}
        rows.update({name: {k: float(v[k]) for k in ("psnr", "ssim", "mae", "ncc", "kl")} for name, v in lk.items()})
        results["directions"][direction] = rows
        results.setdefault("spectrum_peak_ratio", {})[direction] = spectrum_check(mpath.parent / f"translated_{direction}",
                                                                                 dirs[t])
        name = "echo1 -> echo8" if direction == "a2b" else "echo8 -> echo1"
        md.append(f"**{name}** (test slab {split['test'][0]}-{split['test'][1] - 1}, vs the real acquired echo)\n\n"
                  + md_table(["method", "PSNR dB", "SSIM", "MAE", "NCC", "KL"],
                             [(m, f"{r['psnr']:.2f}", r["ssim"], r["mae"], r["ncc"], r["kl"]) for m, r in rows.items()]))
        if direction == "a2b":
            ex = np.load(mpath.with_name(mpath.stem + "_examples.npz"))
            slice_figure([("echo1 input", ex["source"]), ("model", ex["model"]), ("histmatch", ex["histmatch"]),
                          ("paired lookup", lk_mid), ("echo8 truth", ex["truth"])], args.figure,
                         title="real knee, test slice, echo1 -> echo8", diff_of=(1, 4))
    results["commands"] = commands
    from cyclescan.io.atomic import atomic_write_text

    atomic_write_text(args.out / f"realdata_results_{ckpt.stem}.json", json.dumps(results, indent=1))
    md.append("checkerboard check (power at the upsampling period / neighbouring frequencies; >> 1 = peak): "
              + json.dumps({d: {k: round(v, 2) for k, v in r.items()} for d, r in results["spectrum_peak_ratio"].items()}))
    text = "\n\n".join(md)
    atomic_write_text(args.out / f"realdata_results_{ckpt.stem}.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
