"""Builders of bad (and edge-case) inputs, reusable by any test: ``make_corpus(dir) -> {name: path}``.

Every entry is tiny (<= 16x32x32). Names:
  missing, empty_folder, not_an_image (text named .nii.gz), not_an_image_txt, truncated_nifti,
  image_2d, image_2d_singleton, image_4d, nan, inf, constant, small (4x8x8, smaller than patches),
  dicom_missing_slice, dicom_mixed_uids, dicom_multi_echo (valid, 2 echoes), dicom_single_file,
  mixed_orientations (folder: the same volume stored RAS and as a permuted/flipped copy),
  good_nifti (valid 12x24x24).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from cyclescan.io.dicom_write import write_dicom_series
from cyclescan.io.volume import Volume


def phantom_array(shape: tuple[int, int, int] = (12, 24, 24), seed: int = 0) -> np.ndarray:
    """A float32 blob (ellipsoid 'tissue' ~ 300-700 on 'air' ~ 0-20) with noise."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    body = (zz / 0.8) ** 2 + (yy / 0.7) ** 2 + (xx / 0.6) ** 2 < 1
    arr = np.where(body, 500 + 200 * np.sin(3 * yy) * np.cos(2 * xx), 10).astype(np.float32)
    return arr + rng.normal(0, 5, shape).astype(np.float32)


def _nifti(path: Path, arr: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(arr, np.eye(4) if affine is None else affine), str(path))
    return path


def _series(dir_: Path, n: int = 6, seed: int = 0) -> Path:
    aff = np.diag([-2.0, -1.0, 1.0, 1.0])
    aff[:3, 3] = [10, 20, -5]
    arr = np.round(phantom_array((n, 16, 16), seed))
    return write_dicom_series(Volume(arr, aff, {}), dir_, None, "corpus")


def make_corpus(root: str | Path) -> dict[str, Path]:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    c: dict[str, Path] = {"missing": root / "does_not_exist.nii.gz"}
    (root / "empty_folder").mkdir(exist_ok=True)
    c["empty_folder"] = root / "empty_folder"
    c["not_an_image"] = root / "notes.nii.gz"
    c["not_an_image"].write_text("this is not an image\n")
    c["not_an_image_txt"] = root / "notes.txt"
    c["not_an_image_txt"].write_text("this is not an image\n")
    good = _nifti(root / "good.nii.gz", phantom_array())
    c["good_nifti"] = good
    raw = gzip.decompress(good.read_bytes())
    c["truncated_nifti"] = root / "truncated.nii.gz"
    c["truncated_nifti"].write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    c["image_2d"] = _nifti(root / "image_2d.nii.gz", phantom_array((1, 24, 24))[0])
    c["image_2d_singleton"] = _nifti(root / "image_2d_singleton.nii.gz", phantom_array((1, 24, 24)))
    c["image_4d"] = _nifti(root / "image_4d.nii.gz", np.stack([phantom_array(seed=s) for s in range(3)], axis=-1))
    nan = phantom_array()
    nan[3, 4, 5] = np.nan
    c["nan"] = _nifti(root / "nan.nii.gz", nan)
    inf = phantom_array()
    inf[1, 2, 3] = np.inf
    c["inf"] = _nifti(root / "inf.nii.gz", inf)
    c["constant"] = _nifti(root / "constant.nii.gz", np.full((12, 24, 24), 7.0, dtype=np.float32))
    c["small"] = _nifti(root / "small.nii.gz", phantom_array((4, 8, 8)))

    missing = _series(root / "dicom_missing_slice", n=6)
    (missing / "IM0003.dcm").unlink()
    c["dicom_missing_slice"] = missing

    mixed = _series(root / "dicom_mixed_uids", n=4, seed=1)
    other = _series(root / "_other_series", n=4, seed=2)
    for f in other.iterdir():
        shutil.move(str(f), mixed / f"B{f.name}")
    other.rmdir()
    c["dicom_mixed_uids"] = mixed

    echo = _series(root / "dicom_multi_echo", n=5, seed=3)
    second = _series(root / "_echo2", n=5, seed=4)
    uid = pydicom.dcmread(next(echo.iterdir())).SeriesInstanceUID
    for d, (number, te) in ((echo, (1, 10.0)), (second, (2, 20.0))):
        for f in sorted(d.iterdir()):
            ds = pydicom.dcmread(f)
            ds.SeriesInstanceUID, ds.EchoNumbers, ds.EchoTime = uid, number, te
            ds.InstanceNumber = int(ds.InstanceNumber) * 2 - (2 - number)
            ds.save_as(echo / f"E{number}_{f.name}")
            f.unlink()
    second.rmdir()
    c["dicom_multi_echo"] = echo
    c["dicom_single_file"] = next(iter(sorted(echo.iterdir())))

    mo = root / "mixed_orientations"
    mo.mkdir(exist_ok=True)
    base = phantom_array((12, 20, 24), seed=5)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])  # RAS, 1 x 1 x 2 mm
    _nifti(mo / "ras.nii.gz", base, aff)
    # Same voxels stored as (S, P, R)-> transposed and flipped, with the matching affine.
    flipped = np.flip(np.transpose(base, (2, 1, 0)), axis=1)
    aff2 = np.zeros((4, 4))
    aff2[:3, 0] = aff[:3, 2]
    aff2[:3, 1] = -aff[:3, 1]
    aff2[:3, 2] = aff[:3, 0]
    aff2[:3, 3] = aff[:3, 1] * (base.shape[1] - 1)
    aff2[3, 3] = 1
    _nifti(mo / "spr.nii.gz", np.ascontiguousarray(flipped), aff2)
    c["mixed_orientations"] = mo
    return c


# ---------------------------------------------------------------------------------------------
# Issue 8 additions (reliability): headers, DICOM without pixels, permissions, checkpoints, configs,
# run folders. ``make_full_corpus(dir)`` returns every entry of ``make_corpus`` plus these.

#: The tiny architecture every corpus checkpoint uses (8x16x16 patches, 4 channels, 2 levels).
TINY_CONFIG = {
    "domains": {"a": "ciss", "b": "dess"},
    "data": {"patch_size": [8, 16, 16], "num_workers": 0, "patches_per_volume": 1},
    "generator": {"base_channels": 4, "depth": 2},
    "discriminator": {"base_channels": 4, "n_layers": 2},
    "train": {"precision": "fp32", "epochs": 1, "steps_per_epoch": 1, "device": "cpu", "num_threads": 1,
              "pool_size": 0},
    "infer": {"window": [8, 16, 16], "overlap": 0.25, "precision": "fp32"},
}


class _ExecOnLoad:
    """Pickles to a call of ``os.mkdir(marker)``: loading it with full pickle runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def tiny_config_dict(**sections: dict) -> dict:
    """TINY_CONFIG with some sections updated (a deep copy)."""
    import copy

    cfg = copy.deepcopy(TINY_CONFIG)
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return cfg


def make_checkpoint(path: Path, config: dict | None = None, seed: int = 0, weights_config: dict | None = None) -> Path:
    """A contract-following checkpoint with random tiny nets (no training).

    ``weights_config`` builds the nets from another config than the stored one (a checkpoint whose
    weights do not fit its own config).
    """
    import torch

    from cyclescan.config import Config
    from cyclescan.nets import build_discriminator, build_generator
    from cyclescan.train.checkpoint import save_checkpoint

    cfg = Config.from_dict(config or TINY_CONFIG)
    wcfg = Config.from_dict(weights_config) if weights_config else cfg
    g = torch.Generator().manual_seed(seed)
    patch = wcfg.data.patch_size
    nets = {n: (build_generator if n.startswith("G") else build_discriminator)(wcfg, patch, generator=g).state_dict()
            for n in ("G_ab", "G_ba", "D_a", "D_b")}
    state = {
        "config": cfg.to_dict(), "epoch": 1, "step": 1, "nets": nets,
        "norm": {"a": {"lo": 10.0, "hi": 700.0}, "b": {"lo": 10.0, "hi": 700.0}},
        "reference": {"a": torch.linspace(-1, 1, 64), "b": torch.linspace(-1, 1, 64)},
        "history": [], "best": None,
    }
    return save_checkpoint(path, state)


def _raw_sform(path: Path, affine: np.ndarray) -> Path:
    """A NIfTI whose sform is ``affine`` as given (nibabel refuses to derive a qform from a singular one)."""
    img = nib.Nifti1Image(phantom_array(), None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(affine, code=2)
    nib.save(img, str(path))
    return path


def _yaml(path: Path, data: dict | str) -> Path:
    import yaml

    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def make_full_corpus(root: str | Path) -> dict[str, Path]:
    """``make_corpus`` plus the issue-8 entries (names below); every path under ``root``.

    zero_byte, zero_spacing, singular_affine, negative_pixdim, dicom_no_pixels, unreadable
    (mode 000: only unreadable to a process without CAP_DAC_OVERRIDE), good_dir_a, good_dir_b
    (valid training folders), good_checkpoint, ckpt_other_arch (stored config differs from its
    weights), ckpt_truncated, ckpt_pickle (needs code execution; ``pickle_marker`` must never
    appear), ckpt_not_cyclescan (a plain tensor dict), ckpt_empty, config_unknown_key,
    config_wrong_type, config_out_of_range, config_not_yaml, run_empty, run_bad_history,
    run_bad_metrics, run_good (a valid history.csv only), config_tiny (valid tiny config),
    readonly_dir (mode 555, for output paths; only read-only to a process without CAP_DAC_OVERRIDE).
    """
    import os

    import torch

    root = Path(root)
    c = make_corpus(root)
    c["zero_byte"] = root / "zero_byte.nii.gz"
    c["zero_byte"].write_bytes(b"")
    c["zero_spacing"] = _raw_sform(root / "zero_spacing.nii.gz", np.diag([0.0, 1.0, 1.0, 1.0]))
    sing = np.eye(4)
    sing[:3, 1] = sing[:3, 0]  # two voxel axes point the same way: singular
    c["singular_affine"] = _raw_sform(root / "singular_affine.nii.gz", sing)
    img = nib.Nifti1Image(phantom_array(), None)
    img.header["pixdim"][1:4] = [-1.0, 0.0, 1.0]
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    c["negative_pixdim"] = root / "negative_pixdim.nii.gz"
    nib.save(img, str(c["negative_pixdim"]))

    nopix = _series(root / "dicom_no_pixels", n=4, seed=6)
    for f in sorted(nopix.iterdir()):
        ds = pydicom.dcmread(f)
        del ds.PixelData
        ds.save_as(f)
    c["dicom_no_pixels"] = nopix

    c["unreadable"] = _nifti(root / "unreadable.nii.gz", phantom_array())
    os.chmod(c["unreadable"], 0)

    for dom, seed in (("a", 10), ("b", 20)):
        d = root / f"good_dir_{dom}"
        d.mkdir(exist_ok=True)
        for i in range(2):
            _nifti(d / f"s{i}.nii.gz", phantom_array((12, 24, 24), seed + i), np.diag([2.0, 0.5, 0.5, 1.0]))
        c[f"good_dir_{dom}"] = d

    c["good_checkpoint"] = make_checkpoint(root / "good.pt")
    c["ckpt_other_arch"] = make_checkpoint(root / "other_arch.pt",
                                           weights_config=tiny_config_dict(generator={"base_channels": 8}))
    raw = c["good_checkpoint"].read_bytes()
    c["ckpt_truncated"] = root / "truncated.pt"
    c["ckpt_truncated"].write_bytes(raw[: len(raw) // 2])
    c["pickle_marker"] = root / "PICKLE_CODE_RAN"
    c["ckpt_pickle"] = root / "pickle.pt"
    torch.save({"format_version": 1, "payload": _ExecOnLoad(c["pickle_marker"])}, c["ckpt_pickle"])
    c["ckpt_not_cyclescan"] = root / "plain.pt"
    torch.save({"weight": torch.zeros(3)}, c["ckpt_not_cyclescan"])
    c["ckpt_empty"] = root / "empty.pt"
    c["ckpt_empty"].write_bytes(b"")

    c["config_unknown_key"] = _yaml(root / "unknown_key.yaml", tiny_config_dict(train={"epochz": 3}))
    c["config_wrong_type"] = _yaml(root / "wrong_type.yaml", tiny_config_dict(train={"epochs": "three"}))
    c["config_out_of_range"] = _yaml(root / "out_of_range.yaml", tiny_config_dict(optim={"lr": 5.0}))
    c["config_not_yaml"] = _yaml(root / "not_yaml.yaml", "train: [epochs: 3\n  :: }\n")

    run_empty = root / "run_empty"
    run_empty.mkdir(exist_ok=True)
    c["run_empty"] = run_empty
    bad_hist = root / "run_bad_history"
    bad_hist.mkdir(exist_ok=True)
    (bad_hist / "history.csv").write_bytes(b"\x00\xff\xfe garbage \x00\n\x01,\x02\n")
    c["run_bad_history"] = bad_hist
    bad_metrics = root / "run_bad_metrics"
    bad_metrics.mkdir(exist_ok=True)
    (bad_metrics / "metrics.json").write_text('{"format": "cyclescan-metrics", "subjects": [')
    c["run_bad_metrics"] = bad_metrics

    c["config_tiny"] = _yaml(root / "tiny.yaml", TINY_CONFIG)
    run_good = root / "run_good"
    run_good.mkdir(exist_ok=True)
    (run_good / "history.csv").write_text("epoch,step,lr,seconds,data_wait_frac,train_G_total,train_D_total,"
                                          "selection_score,best\n1,1,0.0002,1.0,0.0,1.5,0.5,1.5,1\n"
                                          "2,2,0.0001,1.0,0.0,1.2,0.4,1.2,1\n")
    c["run_good"] = run_good

    ro = root / "readonly_dir"
    ro.mkdir(exist_ok=True)
    os.chmod(ro, 0o555)
    c["readonly_dir"] = ro
    return c
