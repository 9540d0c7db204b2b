"""Data set layout, geometry, reproducibility, pairing and rendered intensities."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from cyclescan.errors import InputError
from cyclescan.phantom import LABELS, generate_dataset
from cyclescan.phantom.dataset import CONTRASTS, PhantomConfig, Scan, render_luts, render_scan
from cyclescan.phantom.render import Grid



def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.nii.gz")}


def _luts():
    return render_luts(PhantomConfig())


def test_layout_and_disjoint_subjects(small_phantom, small_params):
    SMALL = small_params
    out = small_phantom
    tr_c, tr_d = _names(out / "ciss/train"), _names(out / "dess/train")
    va_c, va_d = _names(out / "ciss/val"), _names(out / "dess/val")
    assert len(tr_c) == len(tr_d) == 2 and len(va_c) == len(va_d) == 1
    assert not tr_c & tr_d and not va_c & va_d
    test = _names(out / "test/ciss")
    assert len(test) == 2
    for sub in ("test/dess", "test/labels", "test/clean/ciss", "test/clean/dess"):
        assert _names(out / sub) == test
    assert not test & (tr_c | tr_d | va_c | va_d)
    assert (out / "preview.png").stat().st_size > 10_000
    meta = json.loads((out / "phantom.json").read_text())
    assert meta["seed"] == SMALL["seed"] and meta["labels"] == LABELS
    assert all(t["sources"] for t in meta["tissues"] if t["name"] != "background")
    assert len(meta["volumes"]) == 2 * 2 + 2 * 1 + 2 * 2


def test_affine_voxel_size_and_dtype(small_phantom, small_params):
    SMALL = small_params
    grid = Grid(SMALL["shape"], (130.0, 150.0, 150.0))
    img = nib.load(next((small_phantom / "test/ciss").glob("*.nii.gz")))
    assert img.shape == SMALL["shape"] and img.get_data_dtype() == np.int16
    assert np.allclose(img.affine, grid.affine)
    assert np.allclose(img.header.get_zooms(), grid.spacing)
    assert nib.aff2axcodes(img.affine) == ("R", "I", "P")  # sagittal slices; rows S->I; cols A->P
    # the volume is centred on the scanner origin
    centre = img.affine @ np.array([(n - 1) / 2 for n in img.shape] + [1.0])
    assert np.allclose(centre[:3], 0.0)
    lab = nib.load(next((small_phantom / "test/labels").glob("*.nii.gz")))
    assert lab.get_data_dtype() == np.uint8 and np.allclose(lab.affine, img.affine)
    assert set(np.unique(np.asarray(lab.dataobj))) <= set(LABELS.values())


def test_default_spacing_is_a_realistic_knee_protocol():
    assert Grid((100, 512, 512), (130.0, 150.0, 150.0)).spacing == pytest.approx((1.3, 0.293, 0.293), abs=1e-3)


def test_same_seed_is_byte_identical_and_other_seed_differs(small_phantom, small_params, tmp_path):
    SMALL = small_params
    kw = dict(SMALL, train_subjects=1, val_subjects=0, test_subjects=1, preview=False)
    a = generate_dataset(tmp_path / "a", **kw)
    b = generate_dataset(tmp_path / "b", **kw)
    c = generate_dataset(tmp_path / "c", **dict(kw, seed=kw["seed"] + 1))
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 2 + 5 + 1
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    # a subject's file depends only on seed + id: it equals the same subject of the bigger set
    assert (a / "ciss/train/subject_0000.nii.gz").read_bytes() == \
        (small_phantom / "ciss/train/subject_0000.nii.gz").read_bytes()
    assert (a / "test/ciss/subject_0002.nii.gz").read_bytes() != (c / "test/ciss/subject_0002.nii.gz").read_bytes()


def test_paired_subjects_share_anatomy_and_subjects_differ(small_phantom, small_params):
    SMALL = small_params
    cfg = PhantomConfig(shape=SMALL["shape"], seed=SMALL["seed"])
    luts = _luts()
    sid = 6  # first test subject of SMALL
    pair = render_scan(cfg, Scan(sid, "test", CONTRASTS), luts)
    alone = render_scan(cfg, Scan(sid, "train", ("dess",)), luts)
    saved = np.asarray(nib.load(small_phantom / f"test/labels/subject_{sid:04d}.nii.gz").dataobj)
    assert np.array_equal(pair.labels, alone.labels) and np.array_equal(pair.labels, saved)
    other = np.asarray(nib.load(small_phantom / "test/labels/subject_0007.nii.gz").dataobj)
    assert np.mean(other != saved) > 0.05
    # the clean truth is zero in the air around the leg (partial volume only at its edge)
    for c in CONTRASTS:
        clean = np.asarray(nib.load(small_phantom / f"test/clean/{c}/subject_{sid:04d}.nii.gz").dataobj)
        assert np.median(clean[saved == 0]) == 0


def test_tissue_means_follow_signal_equations():
    # no bias, no texture: voxels whose 3x3x3 neighbourhood is one tissue equal the LUT value
    cfg = PhantomConfig(shape=(24, 96, 96), seed=1, bias_strength=0.0, texture=False)
    luts = _luts()
    r = render_scan(cfg, Scan(0, "test", CONTRASTS), luts)
    rec = {x["contrast"]: x for x in r.records}
    checked = 0
    for name in ("fat", "muscle", "fluid", "femur_marrow", "tibia_marrow", "femoral_cartilage"):
        k = LABELS[name]
        pure = ndimage.binary_erosion(r.labels == k, np.ones((3, 3, 3)))
        if pure.sum() < 5:
            continue
        checked += 1
        for c in CONTRASTS:
            mean = r.clean[c][pure].mean() / rec[c]["scale"]
            assert mean == pytest.approx(luts[c][k], rel=0.03, abs=1.0 / rec[c]["scale"]), (name, c)
    assert checked >= 4


def test_physics_orderings_in_rendered_volumes(small_phantom):
    lab = np.asarray(nib.load(small_phantom / "test/labels/subject_0006.nii.gz").dataobj)
    img = {c: np.asarray(nib.load(small_phantom / f"test/clean/{c}/subject_0006.nii.gz").dataobj, dtype=float)
           for c in CONTRASTS}

    def mean(c, name):
        return img[c][lab == LABELS[name]].mean()

    assert mean("ciss", "fat") / mean("ciss", "muscle") > 2.5 * mean("dess", "fat") / mean("dess", "muscle")
    assert mean("dess", "fluid") > max(mean("dess", n) for n in ("fat", "muscle", "femur_marrow"))


def test_rician_noise_level(small_phantom, small_params):
    SMALL = small_params
    meta = json.loads((small_phantom / "phantom.json").read_text())
    rec = next(v for v in meta["volumes"] if v["split"] == "test" and v["contrast"] == "dess")
    lab = np.asarray(nib.load(small_phantom / "test/labels" / Path(rec["path"]).name).dataobj)
    noisy = np.asarray(nib.load(small_phantom / rec["path"]).dataobj, dtype=float)
    air = ndimage.binary_erosion(lab == 0, np.ones((1, 3, 3)))
    # background magnitude is Rayleigh: mean = sigma * sqrt(pi / 2)
    assert noisy[air].mean() == pytest.approx(rec["noise_sigma"] * np.sqrt(np.pi / 2), rel=0.15)
    assert rec["mean_body_signal"] / rec["noise_sigma"] == pytest.approx(SMALL["snr"], rel=1e-6)


def test_bad_arguments_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="shape"):
        generate_dataset(tmp_path / "x", shape=(2, 32, 32))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("user file")
    with pytest.raises(InputError, match="not empty"):
        generate_dataset(tmp_path / "full", train_subjects=1, val_subjects=0, test_subjects=0, shape=(8, 16, 16))
