#!/usr/bin/env python
"""Issue 9, phantom: headline table, per-tissue errors, test SSIM vs epoch beside the selection
metric (is best.pt a good pick?), and a small ablation of short runs.

Works on a `cyclescan demo --out DIR` folder (DIR/phantom + DIR/run) or trains one first:

    .venv/bin/cyclescan demo --out runs/demo --set train.val_every=2 --set train.checkpoint_every=2
    .venv/bin/python scripts/phantom_quality.py --demo runs/demo
    .venv/bin/python scripts/phantom_quality.py --demo runs/demo --ablation lsgan_id0=loss.identity_weight=0 \
        --ablation bce=loss.gan_mode=bce --ablation-epochs 4

Every number is a `cyclescan evaluate` metrics.json (foreground, [0,1] metric space, against the
noise-free truth `test/clean` and the noisy targets); the exact commands are printed and saved in
OUT/phantom_results.json.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_lib import REPO, load_summary, md_table, mean, run_cli, save_png, slice_figure  # noqa: E402

DIRS = {"a2b": ("ciss", "dess"), "b2a": ("dess", "ciss")}


def evaluate_ckpt(ckpt: Path, phantom: Path, direction: str, out_json: Path, log: list[str]) -> dict[str, Any]:
    """`cyclescan evaluate` of one checkpoint on the phantom's paired test set (reused if present and
    scored with the same detail transfer the checkpoint's config asks for now; a metrics file
    written before the transfer existed, or with another width, is evaluated again)."""
    src, tgt = DIRS[direction]
    if not _reusable(out_json, ckpt):
        run_cli(["evaluate", "--checkpoint", ckpt, "--direction", direction, "--source", phantom / "test" / src,
                 "--target", phantom / "test" / tgt, "--clean-target", phantom / "test" / "clean" / tgt,
                 "--labels", phantom / "test" / "labels", "--label-map", phantom / "phantom.json",
                 "--out", out_json, "--quiet"], log)
    return load_summary(out_json)


def _reusable(out_json: Path, ckpt: Path) -> bool:
    if not out_json.is_file():
        return False
    recorded = json.loads(out_json.read_text()).get("inputs", {}).get("detail_sigma")
    return recorded is not None and float(recorded) == _wanted_detail_sigma(Path(ckpt))


@functools.lru_cache(maxsize=None)
def _wanted_detail_sigma(ckpt: Path) -> float:
    """infer.detail_sigma of a checkpoint's config, read once per checkpoint (both directions ask)."""
    from cyclescan.train.checkpoint import checkpoint_config, load_checkpoint

    return float(checkpoint_config(load_checkpoint(ckpt)).infer.detail_sigma)


def read_history(run_dir: Path) -> list[dict[str, str]]:
    """RUN/history.csv as a list of rows (strings)."""
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def selection_check(history: list[dict[str, str]], test_ssim: dict[int, float]) -> dict[str, Any]:
    """Compare the best-checkpoint rule with the best epoch in hindsight.

    history: rows of history.csv (``epoch``, ``selection_score``, lower is better, empty when the
    epoch was not validated); test_ssim: epoch -> mean test SSIM (both directions) of the kept
    checkpoints. The rule's pick is the validated epoch with the lowest selection score among the
    epochs that have a test score. Returns {picked, picked_ssim, oracle, oracle_ssim, gap}.
    """
    scores = {int(r["epoch"]): float(r["selection_score"]) for r in history
              if r.get("selection_score") not in (None, "", "nan") and int(r["epoch"]) in test_ssim}
    if not scores:
        raise ValueError("no validated epoch has a test score (checkpoint_every / val_every do not align)")
    picked = min(scores, key=lambda e: (scores[e], e))
    oracle = max(test_ssim, key=lambda e: (test_ssim[e], -e))
    return {"picked": picked, "picked_ssim": test_ssim[picked], "oracle": oracle,
            "oracle_ssim": test_ssim[oracle], "gap": test_ssim[oracle] - test_ssim[picked]}


def _best_epoch(history: list[dict[str, str]]) -> int:
    """The epoch of best.pt: the last history row flagged best (the last epoch if none is)."""
    flagged = [int(r["epoch"]) for r in history if r.get("best") in ("1", "True", "true")]
    return flagged[-1] if flagged else int(history[-1]["epoch"])


def headline(summ: dict[str, dict], truths=("clean", "target")) -> list[list[Any]]:
    """Rows: direction, truth, method, PSNR, SSIM, MAE, cartilage/fluid/ACL error %."""
    rows = []
    for d, s in summ.items():
        for truth in truths:
            for m in ("model", "identity", "histmatch"):
                row = [f"{DIRS[d][0]} -> {DIRS[d][1]}", "clean" if truth == "clean" else "noisy", m,
                       f"{mean(s, truth, m, 'psnr'):.2f}", mean(s, truth, m, "ssim"), mean(s, truth, m, "mae")]
                row += [f"{100 * mean(s, truth, m, k):+.1f}" if truth == "clean" else ""
                        for k in ("cartilage_rel_error", "fluid_rel_error", "acl_rel_error")]
                rows.append(row)
    return rows


def plot_selection(epochs: list[int], ssim: dict[str, list[float]], sel: dict[int, float], out_png: Path) -> None:
    """Test SSIM (per direction) and the selection score vs epoch, one small PNG (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
    for d, v in ssim.items():
        ax.plot(epochs, v, "o-", label=f"test SSIM {DIRS[d][0]}->{DIRS[d][1]}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test SSIM (vs clean truth)")
    ax2 = ax.twinx()
    se = sorted(e for e, v in sel.items() if np.isfinite(v))  # only the validated epochs
    ax2.plot(se, [sel[e] for e in se], "k^--", label="selection score (val, lower=better)")
    ax2.set_ylabel("selection score")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="best")
    save_png(fig, out_png)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="phantom quality tables for issue 9",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--demo", type=Path, required=True, help="a `cyclescan demo --out` folder (phantom/, run/)")
    p.add_argument("--run", type=Path, default=None, help="run folder (default: DEMO/run)")
    p.add_argument("--images", type=Path, default=REPO / "docs" / "images", help="where the PNGs go")
    p.add_argument("--tag", default="demo", help="name used in file names")
    p.add_argument("--ablation", action="append", default=[], metavar="NAME=KEY=VAL[,KEY=VAL]",
                   help="a short run from the same config with these overrides (repeatable)")
    p.add_argument("--ablation-epochs", type=int, default=4, help="epochs of each ablation run")
    p.add_argument("--no-epochs", action="store_true", help="skip the per-epoch checkpoint evaluation")
    args = p.parse_args(argv)

    phantom, run_dir = args.demo / "phantom", args.run or args.demo / "run"
    ev = run_dir / "quality"
    log: list[str] = []
    out: dict[str, Any] = {"run": str(run_dir)}
    history = read_history(run_dir)
    ckpts = sorted((run_dir / "checkpoints").glob("epoch_*.pt"))
    if args.no_epochs or not ckpts:
        ckpts = [run_dir / "checkpoints" / "best.pt"]
    per: dict[int, dict[str, dict]] = {}
    for c in ckpts:
        e = int(c.stem.split("_")[1]) if c.stem.startswith("epoch_") else _best_epoch(history)
        per[e] = {d: evaluate_ckpt(c, phantom, d, ev / f"{c.stem}_{d}.json", log) for d in DIRS}
    epochs = sorted(per)
    sel = {int(r["epoch"]): float(r["selection_score"]) for r in history if r.get("selection_score") not in ("", None)}
    # best.pt = the epoch the rule picked; with val_every == checkpoint_every its weights are epoch_NNNN.pt
    pick = _best_epoch(history)
    head_epoch = pick if pick in per else epochs[-1]
    header = ["direction", "truth", "method", "PSNR dB", "SSIM", "MAE", "cartilage %", "fluid %", "ACL %"]
    md = [f"### headline (epoch {head_epoch}, the selection rule's pick = best.pt; "
          f"{len(history)} epochs trained)\n\n" + md_table(header, headline(per[head_epoch]))]
    out["headline_epoch"] = head_epoch
    out["per_epoch"] = per
    stem = ckpts[0].stem if len(ckpts) == 1 else f"epoch_{head_epoch:04d}"
    ex_path = ev / f"{stem}_a2b_examples.npz"
    if ex_path.is_file():
        ex = np.load(ex_path)
        slice_figure([("CISS input", ex["source"]), ("model", ex["model"]), ("histmatch", ex["histmatch"]),
                      ("DESS truth", ex["truth"])], args.images / f"phantom_{args.tag}_ciss2dess.png",
                     title=f"phantom test subject, mid slice, CISS -> DESS (epoch {head_epoch})", diff_of=(1, 3))
    if len(epochs) > 1:
        ssim = {e: {d: mean(per[e][d], "clean", "model", "ssim") for d in DIRS} for e in epochs}
        test_ssim = {e: float(np.mean(list(ssim[e].values()))) for e in epochs}
        check = selection_check(history, test_ssim)
        out["selection"] = {"scores": sel, "check": check}
        rows = [(e, sel.get(e, float("nan")), ssim[e]["a2b"], ssim[e]["b2a"], test_ssim[e],
                 mean(per[e]["a2b"], "clean", "histmatch", "ssim"), mean(per[e]["b2a"], "clean", "histmatch", "ssim"))
                for e in epochs]
        md.append("### test SSIM vs epoch (clean truth)\n\n" + md_table(
            ["epoch", "selection score (val, lower=better)", "SSIM ciss->dess", "SSIM dess->ciss", "mean",
             "histmatch ciss->dess", "histmatch dess->ciss"], rows)
            + f"\n\nrule picks epoch {check['picked']} (mean test SSIM {check['picked_ssim']:.3f}); best in hindsight: "
              f"epoch {check['oracle']} ({check['oracle_ssim']:.3f}); gap {check['gap']:.3f}")
        plot_selection(epochs, {d: [ssim[e][d] for e in epochs] for d in DIRS}, sel,
                       args.images / f"phantom_{args.tag}_selection.png")

    abl_rows = []
    for spec in args.ablation:
        name, _, sets = spec.partition("=")
        adir = args.demo / f"ablation_{name}"
        if not (adir / "checkpoints" / "last.pt").is_file():
            extra = [x for kv in sets.split(",") if kv for x in ("--set", kv)]
            run_cli(["train", "--phantom", phantom, "--out", adir, "--config", run_dir / "config.yaml",
                     "--epochs", str(args.ablation_epochs), *extra, "--quiet"], log)
        s = {d: evaluate_ckpt(adir / "checkpoints" / "last.pt", phantom, d, adir / "quality" / f"last_{d}.json", log)
             for d in DIRS}
        abl_rows.append((name, sets or "(config as is)", *(f"{mean(s[d], 'clean', 'model', 'psnr'):.2f}" for d in DIRS),
                         *(mean(s[d], "clean", "model", "ssim") for d in DIRS),
                         *(mean(s[d], "clean", "histmatch", "ssim") for d in DIRS)))
    if abl_rows:
        md.append(f"### ablation ({args.ablation_epochs} epochs each, last.pt, vs clean truth)\n\n" + md_table(
            ["run", "overrides", "PSNR c->d", "PSNR d->c", "SSIM c->d", "SSIM d->c", "histmatch SSIM c->d",
             "histmatch SSIM d->c"], abl_rows))
        out["ablation"] = abl_rows
    out["commands"] = log
    from cyclescan.io.atomic import atomic_write_text

    atomic_write_text(ev / "phantom_results.json", json.dumps(out, indent=1, default=str))
    atomic_write_text(ev / "phantom_results.md", "\n\n".join(md) + "\n")
    print("\n\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
