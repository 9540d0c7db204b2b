"""Ratio detail transfer (infer/detail.py): the math, and its wiring into translate_volume / the CLIs."""

from __future__ import annotations

import dataclasses

import nibabel as nib
import numpy as np
import pytest
import torch

from cyclescan.cli.main import main
from cyclescan.infer.detail import ratio_detail_transfer, sigma_voxels
from cyclescan.infer.translate import translate_volume
from cyclescan.io.volume import Volume

from .conftest import STATS_B, knee_like, oblique_affine


def _tissue_phantom(seed: int = 0, margin: int = 6):
    """Two tissues (14 voxels wide each) in air, each with a level per contrast, sharing one
    multiplicative texture and bias field (as two MR contrasts of one subject do). Returns source,
    truth target, labels, the truth without texture (tissue level x bias field)."""
    rng = np.random.default_rng(seed)
    n = 2 * margin + 28
    shape = (12, n, n)
    labels = np.zeros(shape, np.int64)
    labels[:, margin:n - margin, margin:margin + 14] = 1
    labels[:, margin:n - margin, margin + 14:n - margin] = 2
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    bias = 1.0 + 0.3 * xx + 0.2 * yy
    texture = np.exp(rng.normal(0.0, 0.15, shape))
    src_level = np.array([0.0, 800.0, 200.0])[labels]   # tissue 1 bright, tissue 2 dark in the source
    tgt_level = np.array([0.0, 100.0, 600.0])[labels]   # ... and inverted in the target
    source = (src_level * bias * texture).astype(np.float32)
    truth = (tgt_level * bias * texture).astype(np.float32)
    return source, truth, labels, (tgt_level * bias).astype(np.float32)


def test_sigma_is_isotropic_in_mm_and_scales_with_the_finest_voxel():
    assert sigma_voxels(1.25, (4.0, 1.0, 1.0)) == pytest.approx((0.3125, 1.25, 1.25))
    assert sigma_voxels(2.0, (0.5, 0.5, 2.0)) == pytest.approx((2.0, 2.0, 0.5))
    assert sigma_voxels(0.0, (3.0, 1.0, 1.0)) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        sigma_voxels(-1.0, (1.0, 1.0, 1.0))


def test_sigma_zero_returns_the_translation_unchanged():
    s, t = np.random.default_rng(0).random((2, 4, 6, 6)).astype(np.float32)
    out = ratio_detail_transfer(s, t * 7.0, (1.0, 1.0, 1.0), 0.0)
    np.testing.assert_array_equal(out, (t * 7.0).astype(np.float32))


def test_a_positive_affine_map_of_the_source_is_reproduced():
    """If the translation is a*s + b (a > 0), the ratio field is the constant a: the output is the
    translation itself (up to the tiny eps guard)."""
    s = knee_like((10, 24, 20), seed=1) + 50.0
    s -= s.min()
    t = 3.5 * s - 40.0
    out = ratio_detail_transfer(s, t, (3.0, 0.6, 0.7), 1.25)
    np.testing.assert_allclose(out, t, rtol=0, atol=2e-3 * float(np.ptp(t)))


def test_smooth_tissue_levels_get_the_sources_texture_and_keep_their_level():
    """The model predicts each tissue's level (and the smooth bias) without texture, what a small
    CycleGAN does; the transfer restores the shared texture: inside each tissue the output
    correlates with the truth (the textureless input cannot), the error halves, and the tissue's
    mean level stays the model's. Structure coarser than sigma (e.g. the bias field) is the model's:
    the transfer does not restore it (the ratio field is the model's over the source's). Within ~2 sigma
    of a border between tissues whose contrast inverts, the ratio mixes both sides (a halo): the
    known cost of the plain Gaussian, pinned here so a change of it is seen."""
    source, truth, labels, flat = _tissue_phantom()
    out = ratio_detail_transfer(source, flat, (2.0, 1.0, 1.0), 1.25)
    border = np.zeros(labels.shape, bool)
    border[:, :, [6, 7, 8, 17, 18, 19, 20, 21, 22, 31, 32, 33]] = True  # 3 voxels each side of an edge
    border[:, [6, 7, 8, 31, 32, 33], :] = True
    for lab in (1, 2):
        core = (labels == lab) & ~border
        assert np.corrcoef(out[core], truth[core])[0, 1] > 0.8
        assert np.corrcoef(flat[core], truth[core])[0, 1] < 0.5  # the model output has no texture
        assert abs(out[core].mean() / flat[core].mean() - 1.0) < 0.05
        rel = np.abs(out - truth)[core].mean() / truth[core].mean()
        rel_flat = np.abs(flat - truth)[core].mean() / truth[core].mean()
        assert rel < 0.5 * rel_flat
    inner_edge = (labels == 2) & np.isin(np.arange(labels.shape[2]), [20])[None, None, :]
    assert np.abs(out - truth)[inner_edge].mean() > 0.3 * truth[inner_edge].mean()  # the halo


def test_air_written_by_the_model_stays_exactly_air():
    source, _, labels, smooth = _tissue_phantom(seed=2, margin=10)
    source = source + np.random.default_rng(3).random(source.shape).astype(np.float32) * 5.0  # noisy air
    floor = -100.0
    model = np.where(labels > 0, smooth, 0.0).astype(np.float32) + floor
    out = ratio_detail_transfer(source, model, (1.0, 1.0, 1.0), 1.25)
    far_air = np.ones(source.shape, bool)
    far_air[:, 4:44, 4:44] = False  # 6 voxels from any tissue: beyond the kernel (4 sigma = 5 voxels)
    np.testing.assert_allclose(out[far_air], floor, atol=1e-3)
    assert out.min() >= floor - 1e-3


def test_floors_are_zero_signal_not_the_darkest_voxel():
    """A volume without air: the floors stay the zero-signal levels (source 0, translation the given
    target ``lo``), so a uniform ratio of signals above them is reproduced, not one of the
    differences from the darkest voxel."""
    s = 100.0 + knee_like((8, 20, 20), seed=6) ** 2 / 300.0  # all tissue, darkest voxel ~100
    t = 10.0 + 3.0 * s  # target lo 10, signal 3x the source's
    out = ratio_detail_transfer(s, t, (1.0, 1.0, 1.0), 1.25, floor=10.0)
    np.testing.assert_allclose(out, t, rtol=1e-2)  # eps = 1e-3 x p99.5 biases the ratio by < 1 %
    wrong = ratio_detail_transfer(s, t, (1.0, 1.0, 1.0), 1.25, floor=None)  # floor = darkest voxel
    assert np.max(np.abs(wrong - t) / t) > 0.1


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        ratio_detail_transfer(np.ones((2, 3, 4)), np.ones((2, 3, 5)), (1, 1, 1), 1.0)


def test_translate_volume_applies_it_after_the_target_scale_in_the_inputs_geometry(tiny_cfg, tiny_ckpt):
    from cyclescan.train.checkpoint import build_generator_from_checkpoint, load_checkpoint

    gen = build_generator_from_checkpoint(load_checkpoint(tiny_ckpt), "a2b")
    vol = Volume(knee_like((10, 24, 20), seed=4), oblique_affine(), {"path": "k.nii.gz"})
    raw = translate_volume(vol, gen, tiny_cfg, STATS_B)
    on_cfg = dataclasses.replace(tiny_cfg, infer=dataclasses.replace(tiny_cfg.infer, detail_sigma=1.25))
    out = translate_volume(vol, gen, on_cfg, STATS_B)
    np.testing.assert_array_equal(out.affine, vol.affine)
    expected = ratio_detail_transfer(vol.array, raw.array, vol.spacing, 1.25, floor=STATS_B.lo)
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-3)
    assert not np.allclose(out.array, raw.array)
    assert out.meta["translated"]


def test_default_config_turns_it_on():
    from cyclescan.config import Config

    assert Config().infer.detail_sigma > 0


def test_translate_cli_detail_sigma_flag(tmp_path, nifti_dir, tiny_ckpt):
    src = nifti_dir / "knee0.nii.gz"
    outs = {}
    for sig in ("0", "1.25"):
        out = tmp_path / f"out{sig}"
        assert main(["translate", str(src), "--checkpoint", str(tiny_ckpt), "--direction", "a2b",
                     "--out", str(out), "--quiet", "--detail-sigma", sig]) == 0
        img = nib.load(str(out / "knee0.nii.gz"))
        np.testing.assert_allclose(img.affine, nib.load(str(src)).affine, atol=1e-5)
        outs[sig] = np.asarray(img.dataobj)
    vol_spacing = tuple(float(s) for s in np.linalg.norm(oblique_affine()[:3, :3], axis=0))
    src_arr = np.asarray(nib.load(str(src)).dataobj, np.float32)
    expected = ratio_detail_transfer(src_arr, outs["0"], vol_spacing, 1.25, floor=STATS_B.lo)
    np.testing.assert_allclose(outs["1.25"], expected, rtol=1e-4, atol=1e-2)


def test_translate_cli_rejects_a_negative_sigma_without_writing(tmp_path, nifti_dir, tiny_ckpt, capsys):
    out = tmp_path / "out"
    rc = main(["translate", str(nifti_dir), "--checkpoint", str(tiny_ckpt), "--direction", "a2b",
               "--out", str(out), "--quiet", "--detail-sigma", "-1"])
    assert rc != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "detail_sigma" in err[0]
    assert not out.exists() or not any(out.iterdir())


def test_identity_generator_is_unchanged_by_the_transfer_inside_the_tissue(tiny_cfg):
    """With G = identity the raw output is a positive affine map of the source except where the
    normalization clips (below lo / above hi): the transfer leaves the unclipped voxels as they were."""
    on_cfg = dataclasses.replace(tiny_cfg, infer=dataclasses.replace(tiny_cfg.infer, detail_sigma=1.25))
    x = knee_like((10, 24, 20), seed=5)
    vol = Volume(x, np.eye(4), {"path": "m.nii.gz"})
    raw = translate_volume(vol, torch.nn.Identity(), tiny_cfg, STATS_B, divisor=1)
    out = translate_volume(vol, torch.nn.Identity(), on_cfg, STATS_B, divisor=1)
    lo, hi = np.percentile(x, [5, 90])
    inner = (x > lo) & (x < hi)
    rel = np.abs(out.array - raw.array)[inner] / (STATS_B.hi - STATS_B.lo)
    assert np.median(rel) < 0.02


def test_not_applied_twice_when_the_generator_does_it_in_training(tiny_cfg):
    """generator.detail_sigma_vox puts the transfer inside the net; translate must not add it again."""
    x = knee_like((10, 24, 20), seed=7)
    vol = Volume(x, np.eye(4), {"path": "m.nii.gz"})
    in_net = dataclasses.replace(tiny_cfg, generator=dataclasses.replace(tiny_cfg.generator,
                                                                          detail_sigma_vox=[0.4, 1.25, 1.25]))
    on = dataclasses.replace(in_net, infer=dataclasses.replace(in_net.infer, detail_sigma=1.25))
    a = translate_volume(vol, torch.nn.Identity(), on, STATS_B, divisor=1).array
    b = translate_volume(vol, torch.nn.Identity(), in_net, STATS_B, divisor=1).array  # tiny_cfg: sigma 0
    np.testing.assert_array_equal(a, b)
