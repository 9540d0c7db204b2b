"""Inference engine: translate many inputs with one checkpoint, writing each output atomically.

Inputs are NIfTI files, folders of them, or DICOM series folders (``echo`` picks one echo of a
multi-echo series / 4D NIfTI). Each output is complete or absent: NIfTI files and DICOM series
folders are written under a hidden temporary name and renamed into place when complete (io
writers); temporaries a killed run left behind are removed on the next run. Existing outputs are
skipped unless ``overwrite``.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Sequence

from cyclescan.config import Config
from cyclescan.errors import InputError
from cyclescan.io.nifti import volume_stem

OutputFormat = Literal["nifti", "dicom"]


@dataclass(frozen=True)
class Job:
    """One input volume and where its translation goes."""

    source: Path
    echo: Optional[int]
    output: Path


@dataclass
class JobResult:
    job: Job
    status: Literal["written", "skipped"]
    seconds: float = 0.0
    shape: tuple[int, ...] = field(default_factory=tuple)


def _discover(path: Path) -> list[Path]:
    """The volumes named by one INPUT argument (a NIfTI file, a DICOM series folder, a folder)."""
    from cyclescan.io import list_volumes

    return [Path(p) for p in list_volumes(path)]


def plan_jobs(inputs: Sequence[str | Path], out_dir: str | Path, fmt: OutputFormat = "nifti",
              echo: Optional[int] = None) -> list[Job]:
    """Expand INPUT arguments into jobs with unique output paths in ``out_dir``.

    Output name = input name (``knee.nii.gz`` -> ``knee.nii.gz``; DICOM folder ``S8`` -> ``S8``),
    with ``_echoN`` appended when ``echo`` is given, and ``.nii.gz`` (nifti) or no suffix (a DICOM
    series folder). Names equal to an input, or shared by two inputs, raise InputError.
    """
    out_dir = Path(out_dir)
    out_abs = out_dir.resolve()
    jobs: list[Job] = []
    seen: dict[Path, Path] = {}
    skipped = 0
    for arg in inputs:
        arg_abs = Path(arg).resolve()
        # --out inside a searched input folder: volumes under --out are earlier outputs, not inputs.
        # (An input folder inside --out, or a file named explicitly, is always an input.)
        out_in_arg = arg_abs.is_dir() and (arg_abs == out_abs or arg_abs in out_abs.parents)
        for src in _discover(Path(arg)):
            if out_in_arg and out_abs in src.resolve().parents:
                skipped += 1
                continue
            base = volume_stem(src) + (f"_echo{echo}" if echo is not None else "")
            out = out_dir / (base + ".nii.gz" if fmt == "nifti" else base)
            if out.resolve() == src.resolve():
                raise InputError(f"{src}: output would overwrite the input; choose another --out folder")
            if out in seen:
                raise InputError(
                    f"{src}: output name {out.name} is also produced by {seen[out]}; translate them into separate --out folders"
                )
            seen[out] = src
            jobs.append(Job(src, echo, out))
    if not jobs and skipped:
        raise InputError(f"{out_dir}: every input volume lies inside --out (taken for earlier outputs); "
                         "choose an --out folder outside the inputs")
    return jobs


# ---------------------------------------------------------------------------------------------
# Atomic outputs


def clean_stale_parts(job: Job) -> None:
    """Remove temporary files/folders a killed earlier run left for this job's output."""
    parent = job.output.parent
    if not parent.is_dir():
        return
    stale = list(parent.glob(f".{job.output.name}.*.part*")) + list(parent.glob(f".{job.output.name}.old-*"))
    for p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


def write_output(vol: Any, job: Job, fmt: OutputFormat, description: str, source: Any = None) -> None:
    """Write one translated Volume to ``job.output`` atomically.

    nifti: float32 .nii.gz with the input's affine (io.write_nifti, temp file + rename);
    dicom: a new derived series folder (io.write_dicom_series, temp folder + rename) that takes
    patient/study identity and frame of reference from ``source`` (the input Volume).
    """
    if fmt == "nifti":
        from cyclescan.io import write_nifti

        write_nifti(vol.with_array(vol.array, description=description[:79]), job.output, "float32")
        return
    from cyclescan.io import write_dicom_series

    write_dicom_series(vol, job.output, source=source, description=description[:64])


# ---------------------------------------------------------------------------------------------


def run_jobs(
    jobs: Sequence[Job],
    translate: Callable[[Any, Any], Any],
    *,
    fmt: OutputFormat = "nifti",
    overwrite: bool = False,
    describe: Callable[[Any], str] = lambda vol: "CycleScan translation",
    progress: Optional[bool] = None,
    log: Callable[[str], None] | None = None,
) -> list[JobResult]:
    """Read, translate and write every job in order, with a tqdm progress bar.

    Args:
        jobs: from :func:`plan_jobs`.
        translate: ``translate(volume, bar) -> Volume`` (see translate.translate_volume); ``bar``
            is the inner per-window tqdm bar (``reset(total=n)``, ``update(n)``).
        fmt: 'nifti' or 'dicom'.
        overwrite: replace existing outputs; otherwise they are skipped (and said so).
        describe: description stored in the output (NIfTI descrip / DICOM SeriesDescription).
        progress: show bars (None = only on a terminal).
        log: where one-line messages go (default: tqdm.write, which does not break the bars).
    """
    from tqdm.auto import tqdm

    from cyclescan.io import read_volume

    say = log or tqdm.write
    results: list[JobResult] = []
    bar = tqdm(jobs, desc="translate", unit="vol", disable=None if progress is None else not progress)
    for job in bar:
        bar.set_postfix_str(job.source.name)
        clean_stale_parts(job)
        if job.output.exists() and not overwrite:
            say(f"{job.output}: exists, skipped (use --overwrite to replace it)")
            results.append(JobResult(job, "skipped"))
            continue
        t0 = time.perf_counter()
        vol = read_volume(job.source, echo=job.echo)
        with tqdm(desc=job.source.name, unit="win", leave=False,
                  disable=True if progress is False else None) as inner:
            out = translate(vol, inner)
        job.output.parent.mkdir(parents=True, exist_ok=True)  # only once there is something to write
        write_output(out, job, fmt, describe(vol), source=vol)
        results.append(JobResult(job, "written", time.perf_counter() - t0, tuple(out.shape)))
        del vol, out
    return results


# ---------------------------------------------------------------------------------------------
# The whole `translate` command as one call


def pick_device(name: str) -> "Any":
    """'auto' -> cuda when available else cpu; 'cuda' without a GPU raises InputError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    return torch.device(name)


def target_stats_from_checkpoint(ckpt: dict, direction: str) -> Any:
    """NormStats of the direction's target domain ('b' for a2b, 'a' for b2a) from ``ckpt['norm']``."""
    from cyclescan.data.normalize import NormStats
    from cyclescan.errors import CheckpointError

    key = "b" if direction == "a2b" else "a"
    try:
        return NormStats.from_dict(ckpt["norm"][key])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{ckpt.get('_path', 'checkpoint')}: no usable normalization statistics for domain {key!r}"
        ) from exc


def translate_files(
    inputs: Sequence[str | Path],
    checkpoint: str | Path,
    direction: str,
    out_dir: str | Path,
    *,
    fmt: OutputFormat = "nifti",
    echo: Optional[int] = None,
    overrides: Sequence[str] = (),
    overwrite: bool = False,
    device: str = "auto",
    progress: Optional[bool] = None,
    log: Callable[[str], None] | None = None,
) -> list[JobResult]:
    """Translate every input with ``checkpoint`` into ``out_dir`` (the `cyclescan translate` command).

    ``overrides`` are ``--set``-style strings applied to the checkpoint's config (e.g.
    ``infer.window=[20,128,128]``); only the ``infer`` section may change the result's tiling.
    """
    from cyclescan.infer.translate import source_reference, translate_volume
    from cyclescan.train.checkpoint import build_generator_from_checkpoint, checkpoint_config, load_checkpoint

    if fmt not in ("nifti", "dicom"):
        raise InputError(f"--format {fmt!r}: expected nifti or dicom")
    jobs = plan_jobs(inputs, out_dir, fmt, echo)  # fail on bad inputs before loading the model
    ckpt = load_checkpoint(checkpoint)  # out_dir is created by run_jobs at the first write
    cfg: Config = checkpoint_config(ckpt).with_overrides(list(overrides))
    dev = pick_device(device)
    generator = build_generator_from_checkpoint(ckpt, direction).to(dev)
    stats = target_stats_from_checkpoint(ckpt, direction)
    std_ref = source_reference(ckpt, cfg, direction)
    src_name, tgt_name = (cfg.domains.a, cfg.domains.b) if direction == "a2b" else (cfg.domains.b, cfg.domains.a)
    model = f"{Path(checkpoint).name} ep{ckpt.get('epoch', '?')}"
    del ckpt  # optimizer state etc. are not needed for inference

    def describe(vol: Any) -> str:
        src = str(vol.meta.get("description") or vol.meta.get("series_description") or Path(vol.name).name)
        return f"{tgt_name} from {src_name} [{src}] CycleScan {model}"

    def translate(vol: Any, bar: Any) -> Any:
        return translate_volume(vol, generator, cfg, stats, standardize_to=std_ref, device=dev, progress=bar)

    return run_jobs(jobs, translate, fmt=fmt, overwrite=overwrite, describe=describe, progress=progress, log=log)
