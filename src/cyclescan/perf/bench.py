"""``cyclescan benchmark``: training step (naive vs tuned, vs matmul peak), inference, data wait.

``run_benchmark(opts) -> dict`` runs the sections and returns the JSON-able result;
``format_table(result) -> str`` renders it for the terminal. Sizes come from :class:`BenchOptions`
(``BenchOptions.full()`` = the report's setup, ``BenchOptions.small()`` = tiny, < 60 s).

Result schema (keys always present; a section that was skipped or failed holds {"error": ...}):
    machine: runtime.machine_info()        runtime: the tuned settings applied in this process
    options: the BenchOptions used         peak: {"bf16": matmul_peak, "fp32": matmul_peak}
    train: {naive, tuned: bench_train dicts, speedup, flops_per_step, tuned_gflops,
            fraction_of_bf16_peak, fraction_of_fp32_peak, peak_dtype, fraction_of_peak (vs the
            peak of the precision the tuned path ran in)}
    infer: {shape, cases: {"sliding_fp32", "sliding_bf16", "whole_fp32"}: bench_infer dicts}
    data:  bench_data dict
    targets: {name: {"value", "target", "met"}}
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

SECTIONS = ("train", "infer", "data")


@dataclass
class BenchOptions:
    """Sizes and repeats of one benchmark run."""

    quick: bool = False
    patch: list[int] = field(default_factory=lambda: [20, 256, 256])
    gen_base: int = 32
    disc_base: int = 64
    infer_shape: list[int] = field(default_factory=lambda: [100, 512, 512])
    warmup: int = 1
    repeats: int = 3
    budget_s: float = 900.0
    naive_subprocess: bool = True
    sections: tuple[str, ...] = SECTIONS
    data_workers: int = 1

    @classmethod
    def full(cls, **kw) -> "BenchOptions":
        """The report's setup: default model, 20x256x256 patches, a 100x512x512 volume."""
        return cls(**{"quick": False, **kw})

    @classmethod
    def small(cls, **kw) -> "BenchOptions":
        """Tiny sizes for CI / trend tracking (< 60 s on 2 cores): same code paths, narrow nets."""
        base = dict(quick=True, patch=[8, 32, 32], gen_base=4, disc_base=8, infer_shape=[16, 64, 64], warmup=1,
                    repeats=2, budget_s=5.0)
        base.update(kw)
        return cls(**base)


def _safe(fn: Callable[[], dict]) -> dict:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a failed section is reported, the others still run
        return {"error": f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}


def bench_train(opts: BenchOptions, peak: dict) -> dict:
    """Naive (child process, default allocator) vs tuned (this process) CycleGAN step."""
    from cyclescan.perf.bench_train import TrainCase, run_naive_subprocess, time_train_steps

    common = dict(patch=list(opts.patch), gen_base=opts.gen_base, disc_base=opts.disc_base, warmup=opts.warmup,
                  repeats=opts.repeats, budget_s=opts.budget_s)
    naive_case = TrainCase(precision="fp32", channels_last=False, tuned=False, **common)
    tuned_case = TrainCase(precision="auto", channels_last=True, tuned=True, **common)
    if opts.naive_subprocess:
        # generous: on a shared machine the naive path (spinning OpenMP threads) can be 10x slower
        naive = _safe(lambda: run_naive_subprocess(naive_case, timeout_s=max(180.0, 12 * opts.budget_s)))
    else:
        naive = time_train_steps(naive_case)
    tuned = time_train_steps(tuned_case)
    flops = tuned.get("flops_per_step") or naive.get("flops_per_step")
    gf = flops / tuned["step_s"] / 1e9 if flops else None
    speedup = naive["step_s"] / tuned["step_s"] if "step_s" in naive else None
    out = {"naive": naive, "tuned": tuned, "speedup": speedup, "flops_per_step": flops, "tuned_gflops": gf}
    for dt in ("bf16", "fp32"):
        p = peak.get(dt, {}).get("gflops")
        out[f"fraction_of_{dt}_peak"] = (gf / p) if (gf and p) else None
    # the hardware limit of the precision the tuned path actually ran in (bf16 only where it is fast)
    out["peak_dtype"] = tuned["precision"]
    out["fraction_of_peak"] = out[f"fraction_of_{tuned['precision']}_peak"]
    return out


def bench_infer(opts: BenchOptions, workdir: Path) -> dict:
    """End-to-end translation of one volume: sliding fp32 / bf16 and whole-volume fp32, each in a child."""
    from cyclescan.perf.bench_infer import run_case_subprocess, write_test_volume
    from cyclescan.perf.runtime import bf16_is_fast

    src = workdir / "infer_in.nii.gz"
    write_test_volume(str(src), opts.infer_shape)
    cases = {"sliding_fp32": ("fp32", False), "sliding_bf16": ("bf16", False), "whole_fp32": ("fp32", True)}
    res: dict = {"shape": list(opts.infer_shape), "input_mb": src.stat().st_size / 2**20, "cases": {}}
    for name, (prec, whole) in cases.items():
        args = ["--input", str(src), "--output", str(workdir / f"{name}.nii.gz"), "--patch", *map(str, opts.patch),
                "--gen-base", str(opts.gen_base), "--precision", prec, "--budget-s", str(opts.budget_s), "--tuned"]
        if whole:
            args.append("--whole")
        if prec == "bf16" and not bf16_is_fast() and not opts.quick:
            # Measured ~20x slower than fp32 on AVX2-only CPUs (slow_conv3d fallback): time-boxed.
            args[args.index("--budget-s") + 1] = str(min(opts.budget_s, 120.0))
        res["cases"][name] = run_case_subprocess(args, timeout_s=max(120.0, 6 * opts.budget_s))
    return res


def bench_data(opts: BenchOptions, workdir: Path, step_s: float) -> dict:
    """Data-wait fraction at the benchmark's patch size for steps of ``step_s`` seconds."""
    from cyclescan.perf.bench_data import data_wait

    vol = [max(p * 2, p + 8) if i == 0 else p * 2 for i, p in enumerate(opts.patch)]
    steps = 4 if opts.quick else 6
    return data_wait(workdir / "data", opts.patch, vol, step_s, n_volumes=2, n_steps=steps,
                     num_workers=opts.data_workers)


def _targets(result: dict) -> dict:
    tr, inf, data = result.get("train", {}), result.get("infer", {}), result.get("data", {})
    sl = inf.get("cases", {}).get("sliding_fp32", {}) if isinstance(inf, dict) else {}
    best = [c for c in (inf.get("cases", {}) if isinstance(inf, dict) else {}).values() if "total_s" in c]
    fastest = min(best, key=lambda c: c["total_s"]) if best else {}
    rows = {
        "train_speedup": (tr.get("speedup"), 2.0, ">="),
        "train_fraction_of_peak": (tr.get("fraction_of_peak"), 0.45, ">="),
        "translate_seconds": (fastest.get("total_s"), 20.0, "<"),
        "translate_peak_rss_gb": ((sl.get("peak_rss_mb") or 0) / 1024 or None, 2.0, "<"),
        "data_wait_fraction": (data.get("data_wait_fraction"), 0.05, "<"),
    }
    out = {}
    for k, (v, t, op) in rows.items():
        met = None if v is None else (v >= t if op == ">=" else v < t)
        out[k] = {"value": v, "target": f"{op} {t}", "met": met}
    return out


def run_benchmark(opts: BenchOptions, log: Callable[[str], None] = lambda s: None,
                  workdir: Optional[str | Path] = None) -> dict:
    """Run the selected sections and return the result dict (schema in the module docstring)."""
    from cyclescan.perf.peak import matmul_peak
    from cyclescan.perf.runtime import configure_runtime, machine_info

    t0 = time.perf_counter()
    settings = configure_runtime()
    result: dict = {"machine": machine_info(), "runtime": settings.to_dict(), "options": dataclasses.asdict(opts)}
    peak_budget = 3.0 if opts.quick else 20.0
    log("measuring matmul peak (bf16, fp32)")
    result["peak"] = {dt: _safe(lambda dt=dt: matmul_peak(dt, budget_s=peak_budget)) for dt in ("bf16", "fp32")}
    with tempfile.TemporaryDirectory(prefix="cyclescan-bench-", dir=workdir) as tmp:
        work = Path(tmp)
        if "train" in opts.sections:
            log(f"training step at {opts.patch}: naive, then tuned")
            result["train"] = _safe(lambda: bench_train(opts, result["peak"]))
        if "infer" in opts.sections:
            log(f"translating a {opts.infer_shape} volume: sliding fp32 / bf16, whole fp32")
            result["infer"] = _safe(lambda: bench_infer(opts, work))
        if "data" in opts.sections:
            step_s = (result.get("train", {}).get("tuned") or {}).get("step_s") or (0.2 if opts.quick else 30.0)
            log(f"data pipeline at {opts.patch}, step {step_s:.2f} s")
            result["data"] = _safe(lambda: bench_data(opts, work, float(step_s)))
    result["targets"] = _targets(result)
    result["wall_s"] = time.perf_counter() - t0
    result["pid"] = os.getpid()
    return result


def _fmt(v, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, (int, float)) else str(v)


def format_table(result: dict) -> str:
    """Human-readable summary of a :func:`run_benchmark` result."""
    m = result["machine"]
    lines = [f"machine: {m['cpu_model']}, {m['physical_cores']} cores, ISA {m['isa']}, torch {m['torch_version']}, "
             f"oneDNN {m['onednn_version']}, native bf16 {m['native_bf16']}, jemalloc {m['jemalloc_loaded']}"]
    pk = result.get("peak", {})
    lines.append("peak matmul GFLOP/s: " + ", ".join(f"{k} {_fmt(v.get('gflops'), '.1f')}" for k, v in pk.items()))
    tr = result.get("train")
    if tr:
        if "error" in tr:
            lines.append(f"train: {tr['error']}")
        else:
            lines.append(f"{'train step ' + str(tr['tuned']['patch']):<34}{'step s':>10}{'GFLOP/s':>10}  precision / layout")
            for k in ("naive", "tuned"):
                r = tr[k]
                if "error" in r:
                    lines.append(f"  {k:<32}{r['error']}")
                    continue
                lines.append(f"  {k:<32}{_fmt(r['step_s'], '.3f'):>10}{_fmt(r['gflops'], '.1f'):>10}  "
                             f"{r['precision']} / {'channels_last' if r['channels_last'] else 'ncdhw'}"
                             f"{' +jemalloc' if r['jemalloc'] else ''}"
                             f"{' +oneDNN permute' if r.get('onednn_permute') else ''}, {r['threads']} thr")
            lines.append(f"  speedup naive/tuned {_fmt(tr['speedup'], '.2f')}x; {_fmt(tr['flops_per_step'] / 1e9, '.1f')}"
                         f" GFLOP/step; {_fmt(tr['fraction_of_peak'], '.1%')} of the {tr['peak_dtype']} peak "
                         f"(bf16 peak {_fmt(tr['fraction_of_bf16_peak'], '.1%')}, "
                         f"fp32 peak {_fmt(tr['fraction_of_fp32_peak'], '.1%')})")
    inf = result.get("infer")
    if inf:
        if "error" in inf:
            lines.append(f"infer: {inf['error']}")
        else:
            lines.append(f"{'translate ' + str(inf['shape']):<34}{'total s':>10}{'peak MB':>10}  windows")
            for k, r in inf["cases"].items():
                if "error" in r:
                    lines.append(f"  {k:<32}{r['error']}")
                    continue
                ex = " (extrapolated)" if r["extrapolated"] else ""
                lines.append(f"  {k:<32}{_fmt(r['total_s'], '.2f'):>10}{_fmt(r['peak_rss_mb'], '.0f'):>10}  "
                             f"{r['windows_done']}/{r['windows_total']}{ex}")
    d = result.get("data")
    if d:
        lines.append(f"data: {d['error']}" if "error" in d else
                     f"data wait at {d['patch']}: {_fmt(d['data_wait_fraction'], '.1%')} of step time "
                     f"(step {_fmt(d['step_s'], '.2f')} s, loader alone {_fmt(d['load_s_per_batch'], '.3f')} s/batch, "
                     f"{d['num_workers']} worker(s))")
    lines.append("targets: " + "; ".join(
        f"{k} {_fmt(v['value'])} ({v['target']}: {'met' if v['met'] else 'NOT met' if v['met'] is False else 'n/a'})"
        for k, v in result.get("targets", {}).items()))
    return "\n".join(lines)
