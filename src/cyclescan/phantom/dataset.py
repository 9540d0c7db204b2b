"""Write the phantom data set: unpaired train/val per contrast, paired test set, phantom.json, preview.

Layout under ``out_dir`` (file names ``subject_NNNN.nii.gz``, ids unique across the data set):

    ciss/train  dess/train    disjoint subjects (unpaired)
    ciss/val    dess/val      disjoint subjects
    test/ciss  test/dess  test/labels      the same subjects, voxel-identical anatomy,
    test/clean/ciss  test/clean/dess       one shared bias field per subject; noise-free truth
    phantom.json  preview.png

Every random draw comes from ``SeedSequence([seed, subject_id, stream, ...])``, so a file depends
only on the seed, its subject id and the parameters: same seed => byte-identical files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from cyclescan.errors import InputError
from cyclescan.io.atomic import atomic_write_text
from cyclescan.io.nifti import write_nifti
from cyclescan.io.volume import Volume
from cyclescan.phantom.anatomy import SubjectParams, build_shapes, sample_subject
from cyclescan.phantom.render import Grid, bias_field, render, rician, texture_field, to_scanner
from cyclescan.phantom.sequences import (
    CISS_CYCLE_KEYS,
    CISSParams,
    DESSParams,
    ciss_cycle_luts,
    combine_ciss_cycles,
    params_dict,
    signal_lut,
)
from cyclescan.phantom.tissues import FAT_SHIFT_PPM, FAT_SOURCE, FAT_T1_MS, FAT_T2_MS, LABELS, TISSUES, tissue_table

CONTRASTS = ("ciss", "dess")
FORMAT_VERSION = 1
# Random streams of SeedSequence([seed, subject, stream, ...]).
_ANATOMY, _TEXTURE, _BIAS, _NOISE, _GAIN = range(5)


@dataclass(frozen=True)
class PhantomConfig:
    """Every parameter of a phantom data set (all recorded in phantom.json)."""

    train_subjects: int = 8
    val_subjects: int = 2
    test_subjects: int = 4
    shape: tuple[int, int, int] = (32, 128, 128)
    fov: tuple[float, float, float] = (130.0, 150.0, 150.0)
    snr: float = 25.0
    seed: int = 0
    bias_strength: float = 0.3
    texture: bool = True
    supersample_mm: float = 0.7
    scanner_max: float = 1500.0
    gain_range: tuple[float, float] = (0.8, 1.25)
    ciss: CISSParams = field(default_factory=CISSParams)
    dess: DESSParams = field(default_factory=DESSParams)

    def validate(self) -> None:
        if min(self.train_subjects, self.val_subjects, self.test_subjects) < 0:
            raise InputError("phantom: subject counts must be >= 0")
        if self.train_subjects + self.val_subjects + self.test_subjects == 0:
            raise InputError("phantom: nothing to generate (all subject counts are 0)")
        if len(self.shape) != 3 or min(self.shape) < 4:
            raise InputError(f"phantom: --shape {self.shape}: need 3 sizes (D H W), each >= 4")
        if len(self.fov) != 3 or min(self.fov) <= 0:
            raise InputError(f"phantom: --fov {self.fov}: need 3 positive sizes in mm")
        if not self.snr > 0:
            raise InputError(f"phantom: --snr {self.snr}: must be > 0")
        if self.bias_strength < 0:
            raise InputError("phantom: bias strength must be >= 0")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"phantom: --seed {self.seed}: must be an integer in 0 .. 2^63-1")


@dataclass(frozen=True)
class Scan:
    subject: int
    split: str  # train | val | test
    contrasts: tuple[str, ...]


def plan(cfg: PhantomConfig) -> list[Scan]:
    """Subject ids per split: train/val subjects are disjoint between contrasts; test is paired."""
    scans, sid = [], 0
    for split, n in (("train", cfg.train_subjects), ("val", cfg.val_subjects)):
        for c in CONTRASTS:
            for _ in range(n):
                scans.append(Scan(sid, split, (c,)))
                sid += 1
    for _ in range(cfg.test_subjects):
        scans.append(Scan(sid, "test", CONTRASTS))
        sid += 1
    return scans


def _rng(cfg: PhantomConfig, subject: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, subject, *stream]))


def subject_params(cfg: PhantomConfig, subject: int) -> SubjectParams:
    return sample_subject(_rng(cfg, subject, _ANATOMY))


def _name(subject: int) -> str:
    return f"subject_{subject:04d}.nii.gz"


@dataclass
class RenderedScan:
    """Arrays of one scanned subject: labels and per-contrast clean/noisy scanner integers."""

    labels: np.ndarray
    clean: dict[str, np.ndarray]
    noisy: dict[str, np.ndarray]
    records: list[dict]


def render_luts(cfg: PhantomConfig) -> dict[str, np.ndarray]:
    """Every per-label table ``render_scan`` needs: ideal signal per contrast, CISS's complex
    per-cycle parts, texture amplitude."""
    return {"ciss": signal_lut("ciss", cfg.ciss, cfg.dess), "dess": signal_lut("dess", cfg.ciss, cfg.dess),
            "_amp": np.array([t.texture for t in TISSUES], dtype=np.float32), **ciss_cycle_luts(cfg.ciss)}


def render_scan(cfg: PhantomConfig, scan: Scan, luts: dict[str, np.ndarray]) -> RenderedScan:
    """Render one subject in its contrasts: PV signal -> texture -> bias -> Rician noise -> integers."""
    grid = Grid(tuple(cfg.shape), tuple(cfg.fov))
    params = subject_params(cfg, scan.subject)
    want = {c: luts[c] for c in scan.contrasts if c != "ciss"}
    if "ciss" in scan.contrasts:  # partial volume mixes CISS's complex per-cycle signals
        want.update({k: luts[k] for k in CISS_CYCLE_KEYS})
    if cfg.texture:
        want["_amp"] = luts["_amp"]
    labels, maps = render(build_shapes(params), grid, want, grid.supersampling(cfg.supersample_mm))
    if "ciss" in scan.contrasts:
        maps["ciss"] = combine_ciss_cycles(maps)
    tex = None
    if cfg.texture:
        tex = texture_field(grid, _rng(cfg, scan.subject, _TEXTURE))
        tex *= maps.pop("_amp")
        tex += 1.0
    shared_bias = bias_field(grid, _rng(cfg, scan.subject, _BIAS), cfg.bias_strength) if scan.split == "test" else None
    clean, noisy, records = {}, {}, []
    body = labels > 0
    for ci, c in enumerate(scan.contrasts):
        sig = maps[c]
        if tex is not None:
            sig *= tex
        bias = shared_bias if shared_bias is not None else bias_field(
            grid, _rng(cfg, scan.subject, _BIAS, ci + 1), cfg.bias_strength)
        sig *= bias
        ref = float(sig[body].mean()) if body.any() else 1.0
        sigma = ref / cfg.snr
        gain = float(_rng(cfg, scan.subject, _GAIN, ci).uniform(*cfg.gain_range))
        scale = cfg.scanner_max / float(luts[c].max()) * gain
        if scan.split == "test":
            clean[c] = to_scanner(sig, scale)
        noisy[c] = to_scanner(rician(sig, sigma, _rng(cfg, scan.subject, _NOISE, ci)), scale)
        records.append({"subject": scan.subject, "split": scan.split, "contrast": c,
                        "scale": scale, "gain": gain, "noise_sigma": sigma * scale,
                        "mean_body_signal": ref * scale,
                        "shared_bias": shared_bias is not None})
    return RenderedScan(labels, clean, noisy, records)


def _write(array: np.ndarray, affine: np.ndarray, path: Path, description: str) -> None:
    write_nifti(Volume(array, affine, {"description": description}), path, dtype=str(array.dtype))


def _outputs(out: Path, scan: Scan) -> Iterator[tuple[str, Path]]:
    for c in scan.contrasts:
        yield c, (out / c / scan.split if scan.split != "test" else out / "test" / c) / _name(scan.subject)


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"{out}: folder is not empty; choose a new folder or pass --overwrite")
        if not (out / "phantom.json").is_file():
            raise InputError(f"{out}: --overwrite replaces a previous phantom, but this folder has no "
                             "phantom.json (not a phantom); choose a new or empty folder")
        # Remove only what a previous phantom run wrote (never other user files).
        for sub in ("ciss", "dess", "test"):
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)
    dirs = [out / c / s for c in CONTRASTS for s in ("train", "val")]
    dirs += [out / "test" / c for c in (*CONTRASTS, "labels")] + [out / "test" / "clean" / c for c in CONTRASTS]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)


def generate_dataset(out_dir: str | Path, *, train_subjects: int = 8, val_subjects: int = 2,
                     test_subjects: int = 4, shape: tuple[int, int, int] = (32, 128, 128),
                     snr: float = 25.0, seed: int = 0, fov: tuple[float, float, float] = (130.0, 150.0, 150.0),
                     bias_strength: float = 0.3, texture: bool = True, overwrite: bool = False,
                     preview: bool = True, progress: bool = False, **extra) -> Path:
    """Generate the phantom data set in ``out_dir`` and return its path.

    Args:
        train_subjects / val_subjects: subjects *per contrast* (disjoint between contrasts).
        test_subjects: paired subjects (both contrasts, labels, noise-free truth).
        shape: (D, H, W) voxels = (sagittal slices L-R, rows S-I, cols A-P).
        fov: field of view (mm) along (L-R, S-I, A-P); spacing = fov / shape.
        snr: mean foreground signal / noise sigma (per channel, before the Rician magnitude).
        extra: further ``PhantomConfig`` fields (e.g. ``scanner_max``, ``ciss=CISSParams(...)``).
    Raises:
        InputError: bad parameters, or ``out_dir`` not empty without ``overwrite``.
    """
    cfg = PhantomConfig(train_subjects=train_subjects, val_subjects=val_subjects, test_subjects=test_subjects,
                        shape=tuple(int(s) for s in shape), fov=tuple(float(f) for f in fov), snr=float(snr),
                        seed=int(seed), bias_strength=float(bias_strength), texture=bool(texture), **extra)
    cfg.validate()
    out = Path(out_dir)
    _prepare(out, overwrite)
    grid = Grid(cfg.shape, cfg.fov)
    affine = grid.affine
    luts = render_luts(cfg)
    scans = plan(cfg)
    records: list[dict] = []
    first_test = None
    iterator = scans
    if progress:
        from tqdm import tqdm

        iterator = tqdm(scans, desc="phantom", unit="subject")
    for scan in iterator:
        r = render_scan(cfg, scan, luts)
        for (c, path), rec in zip(_outputs(out, scan), r.records):
            _write(r.noisy[c], affine, path, f"cyclescan phantom {c} s{scan.subject}")
            rec["path"] = str(path.relative_to(out))
            records.append(rec)
        if scan.split == "test":
            name = _name(scan.subject)
            _write(r.labels, affine, out / "test" / "labels" / name, "cyclescan phantom labels")
            for c in CONTRASTS:
                _write(r.clean[c], affine, out / "test" / "clean" / c / name, f"cyclescan phantom clean {c}")
            if first_test is None:
                first_test = (scan.subject, r)
    if preview:
        from cyclescan.phantom.preview import write_preview

        if first_test is None:  # no paired subject written: render one in memory for the figure
            s0 = Scan(scans[0].subject, "test", CONTRASTS)
            first_test = (s0.subject, render_scan(cfg, s0, luts))
        sid, r = first_test
        write_preview(out / "preview.png", r.noisy, r.labels, grid.spacing, f"subject {sid:04d}")
    atomic_write_text(out / "phantom.json", json.dumps(_metadata(cfg, scans, records, affine), indent=2) + "\n")
    return out


def _metadata(cfg: PhantomConfig, scans: list[Scan], records: list[dict], affine: np.ndarray) -> dict:
    grid = Grid(cfg.shape, cfg.fov)
    luts = {c: signal_lut(c, cfg.ciss, cfg.dess) for c in CONTRASTS}
    return {
        "format_version": FORMAT_VERSION,
        "generator": "cyclescan phantom",
        "seed": cfg.seed,
        "parameters": {k: v for k, v in asdict(cfg).items() if k not in ("ciss", "dess")},
        "spacing_mm": list(grid.spacing),
        "supersampling": list(grid.supersampling(cfg.supersample_mm)),
        "affine": affine.tolist(),
        "layout": {"array_axes": ["L->R (sagittal slices)", "S->I (rows)", "A->P (cols)"],
                   "dtype": "int16 scanner units (labels: uint8)"},
        "sequences": params_dict(cfg.ciss, cfg.dess),
        "fat_pool": {"t1_ms": FAT_T1_MS, "t2_ms": FAT_T2_MS, "shift_ppm": FAT_SHIFT_PPM, "source": FAT_SOURCE},
        "labels": dict(LABELS),
        "tissues": tissue_table(),
        "ideal_signal": {c: {t.name: float(luts[c][t.label]) for t in TISSUES} for c in CONTRASTS},
        "subjects": [{"id": s.subject, "split": s.split, "contrasts": list(s.contrasts),
                      "anatomy": subject_params(cfg, s.subject).to_dict()} for s in scans],
        "volumes": records,
    }
