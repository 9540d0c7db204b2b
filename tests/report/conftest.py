"""A fake but contract-conforming run folder: history.csv, samples, config, log, eval metrics."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cyclescan.config import Config  # noqa: E402
from cyclescan.metrics.results import summarize, write_metrics  # noqa: E402

TERMS = ("G_adv_ab", "G_adv_ba", "cycle_a", "cycle_b", "idt_a", "idt_b", "D_a", "D_b", "G_total", "D_total")


def _metrics(direction: str, src: str, tgt: str, rng: np.random.Generator) -> dict:
    # a2b as written now: the model's detail transfer recorded and the histmatch_detail row;
    # b2a as older files: neither.
    methods = (("model", 0.9), ("identity", 0.5), ("histmatch", 0.7)) \
        + ((("histmatch_detail", 0.72),) if direction == "a2b" else ())
    subjects = []
    for i in range(3):
        scores = {}
        for truth in ("clean", "target"):
            scores[truth] = {}
            for method, base in methods:
                scores[truth][method] = {
                    "kl": float(rng.uniform(0.01, 0.3)), "psnr": 20 + 10 * base + float(rng.normal()),
                    "ssim": base + float(rng.normal(0, 0.01)), "mae": 0.1 * (1 - base), "ncc": base,
                    "cartilage_rel_error": float(rng.normal(0, 0.1)), "fluid_rel_error": float(rng.normal(0, 0.1)),
                    "acl_rel_error": float(rng.normal(0, 0.1)), "acl_norm_rel_error": float("nan"),
                }
        subjects.append({"name": f"subject_{i:04d}", "scores": scores})
    x = np.linspace(-1, 1, 256)
    hist = {k: (np.exp(-((x - c) ** 2) / 0.05) / np.exp(-((x - c) ** 2) / 0.05).sum()).tolist()
            for k, c in (("target", 0.1), ("clean", 0.12), ("model", 0.15), ("identity", -0.3), ("histmatch", 0.1))}
    return {
        "format": "cyclescan-metrics", "format_version": 1, "created": "2025-01-01T00:00:00",
        "checkpoint": "RUN/checkpoints/best.pt", "epoch": 6, "step": 60, "direction": direction,
        "source_domain": src, "target_domain": tgt, "metric_space": "test space",
        "inputs": {"detail_sigma": 1.25, "bias_correction": "n4"} if direction == "a2b" else {},
        "methods": [m for m, _ in methods], "truths": ["clean", "target"],
        "metrics": ["kl", "psnr", "ssim", "mae", "ncc", "cartilage_rel_error", "fluid_rel_error",
                    "acl_rel_error", "acl_norm_rel_error"],
        "subjects": subjects, "summary": summarize(subjects),
        "histograms": {"range": [-1, 1], "bins": 256, **hist}, "examples": None, "seconds": 1.0,
    }


def make_fake_run(tmp_path: Path) -> Path:
    """RUN/{config.yaml, history.csv, samples/, train.log, eval/metrics_{a2b,b2a}.json}."""
    rng = np.random.default_rng(0)
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "eval").mkdir()
    cfg = Config().with_overrides(["domains.a=ciss", "domains.b=dess"])
    cfg.save(run / "config.yaml")
    cols = ["epoch", "step", "lr", "seconds", "data_wait_frac"] + [f"train_{t}" for t in TERMS] \
        + [f"val_{t}" for t in TERMS] + ["val_kl_a2b", "val_kl_b2a", "selection_score", "best"]
    lines = [",".join(cols)]
    for e in range(1, 7):
        vals = [e, 10 * e, 2e-4, 30.0, 0.05] + [float(rng.uniform(0.1, 1.0)) / e ** 0.3 for _ in TERMS] * 2
        vals += [0.5 / e, 0.3 / e, -0.5 - 0.05 * e, int(e in (1, 2, 5))]
        lines.append(",".join(str(v) for v in vals))
    (run / "history.csv").write_text("\n".join(lines) + "\n")
    for e in (1, 2, 3, 4, 5, 6):
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.imshow(rng.random((20, 60)), cmap="gray")
        ax.axis("off")
        fig.savefig(run / "samples" / f"epoch_{e:04d}.png")
        plt.close(fig)
    (run / "train.log").write_text(
        "2025-01-01 10:00:00 generator unet: 12,345 parameters each, discriminator: 6,789 each\n"
        "2025-01-01 10:00:00 device cpu, world size 1, precision bf16, patch [16, 64, 64], 10 steps/epoch\n"
        "2025-01-01 10:03:00 epoch 6/6 done\n"
    )
    m = _metrics("a2b", "ciss", "dess", rng)
    ex = {k: rng.random((24, 24)).astype(np.float32) for k in ("source", "model", "identity", "histmatch", "truth")}
    np.savez(run / "eval" / "metrics_a2b_examples.npz", **ex)
    m["examples"] = "metrics_a2b_examples.npz"
    write_metrics(m, run / "eval" / "metrics_a2b.json")
    write_metrics(_metrics("b2a", "dess", "ciss", rng), run / "eval" / "metrics_b2a.json")
    return run


@pytest.fixture
def fake_run(tmp_path: Path) -> Path:
    return make_fake_run(tmp_path)


@pytest.fixture(scope="module")
def built_report(tmp_path_factory) -> Path:
    """index.html of a fake run, rendered once per module (figures take seconds on 2 cores)."""
    from cyclescan.report.html import build_report

    return build_report(make_fake_run(tmp_path_factory.mktemp("report")))
