"""Input standardization (``data.standardize``): each volume's foreground histogram is matched to
its domain's training quantiles, in training (patches, validation volumes) and in translation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cyclescan import space
from cyclescan.data.histogram import apply_map, histogram_match, standardization_map
from cyclescan.data.normalize import foreground_mask, intensity_quantiles
from cyclescan.errors import CheckpointError

sys.path.insert(0, str(Path(__file__).parents[1] / "train"))
from tiny_run import make_dataset, tiny_cfg  # noqa: E402


def _volume(seed: int, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """A normalized-looking volume: air at -1 around a block of tissue whose values follow a
    seed-dependent distribution (gamma changes the histogram's shape, not its order)."""
    rng = np.random.default_rng(seed)
    vol = np.full((16, 48, 48), space.AIR, dtype=np.float32)
    tissue = rng.uniform(0.0, 1.0, (14, 40, 40)) ** gamma
    vol[1:15, 4:44, 4:44] = (tissue * 1.8 - 0.8).astype(np.float32)  # tissue in [-0.8, 1]
    return vol, vol > -0.95


def test_landmark_map_is_histogram_matching_sampled():
    vol, mask = _volume(0, 2.0)
    # A fine reference: scikit-image treats the quantiles as a sample, so a coarse one quantizes
    # its output (256 quantiles: mean difference 5e-3, all of it scikit-image's steps).
    ref = np.quantile(np.random.default_rng(1).normal(0.2, 0.3, 50_000).clip(-1, 1), np.linspace(0, 1, 4096))
    direct = histogram_match(vol, ref, mask=mask)
    knots = standardization_map(vol, mask, ref)
    assert knots.shape[0] == 2 and np.all(np.diff(knots[0]) > 0) and np.all(np.diff(knots[1]) >= 0)
    err = np.abs(direct - apply_map(vol, knots))[mask]
    assert err.mean() < 5e-4 and np.quantile(err, 0.99) < 5e-3  # 1024 landmarks vs every voxel


def test_standardized_volume_has_the_reference_histogram_and_keeps_air():
    vol, mask = _volume(2, 3.0)
    ref = np.quantile(np.random.default_rng(3).uniform(-0.5, 0.9, 50_000), np.linspace(0, 1, 128))
    out = apply_map(vol, standardization_map(vol, mask, ref))
    probs = np.linspace(0.02, 0.98, 25)
    np.testing.assert_allclose(np.quantile(out[mask], probs), np.quantile(ref, probs), atol=0.02)
    assert np.all(out[~mask] == space.AIR)
    order = np.argsort(vol[mask])  # monotone: the tissue's ranking is unchanged
    assert np.all(np.diff(out[mask][order]) >= -1e-6)


def test_two_volumes_with_different_histograms_meet_at_the_reference():
    (v1, m1), (v2, m2) = _volume(4, 0.5), _volume(5, 3.0)
    ref = intensity_quantiles([v1, v2], 256, masks=[m1, m2])
    o1 = apply_map(v1, standardization_map(v1, m1, ref))
    o2 = apply_map(v2, standardization_map(v2, m2, ref))
    assert abs(np.median(v1[m1]) - np.median(v2[m2])) > 0.3
    assert abs(np.median(o1[m1]) - np.median(o2[m2])) < 0.02


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("std"))


def test_dataset_patches_and_arrays_are_standardized(tiny):
    from cyclescan.data.datasets import UnpairedPatchDataset

    cfg = tiny_cfg("data.flip_prob=0", "data.intensity_jitter=0")
    plain = UnpairedPatchDataset([tiny["a_train"] / f for f in sorted(p.name for p in tiny["a_train"].iterdir())],
                                 sorted(tiny["b_train"].iterdir()), cfg.data, train=True, seed=0)
    std = UnpairedPatchDataset(plain.files["a"], plain.files["b"], cfg.data, train=True, seed=0)
    ref = plain.reference_quantiles()
    ref = {"a": ref["a"] ** 3, "b": ref["b"]}  # a reference the raw volumes do not already have
    std.set_standardization(ref)
    table = standardization_map(plain.volume("a", 0).array, plain.volume("a", 0).mask, ref["a"])
    np.testing.assert_allclose(std.array("a", 0), apply_map(plain.array("a", 0), table), atol=1e-6)
    np.testing.assert_array_equal(plain.array("a", 0), plain.volume("a", 0).array)
    raw, out = plain[(0, 0)]["a"].numpy(), std[(0, 0)]["a"].numpy()  # same patch position
    assert not np.allclose(raw, out)
    np.testing.assert_allclose(out, apply_map(raw, std._tables["a"][std._order(0)["a"][0]]), atol=1e-6)
    std.set_standardization(None)
    np.testing.assert_array_equal(std[(0, 0)]["a"].numpy(), raw)


def test_source_reference_follows_the_config():
    from cyclescan.infer.translate import source_reference

    ckpt = {"reference": {"a": torch.linspace(-1, 1, 8), "b": torch.linspace(0, 1, 8)}}
    assert source_reference(ckpt, tiny_cfg(), "a2b") is None
    on = tiny_cfg("data.standardize=true")
    np.testing.assert_allclose(source_reference(ckpt, on, "b2a"), np.linspace(0, 1, 8), atol=1e-6)
    with pytest.raises(CheckpointError):
        source_reference({}, on, "a2b")


def test_translate_volume_standardizes_the_input():
    from cyclescan.data.normalize import NormStats
    from cyclescan.data.prepare import prepare_volume
    from cyclescan.infer.translate import translate_volume
    from cyclescan.io.volume import Volume

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    vol, _ = _volume(6, 2.0)
    scanner = (vol + 1.0) * 500.0  # scanner units 0..1000, air 0
    src = Volume(scanner, np.diag([2.0, 0.5, 0.5, 1.0]), {})
    cfg = tiny_cfg("data.standardize=true", "data.patch_size=[16,48,48]", "infer.window=[16,48,48]",
                   "infer.detail_sigma=0")  # the standardization alone (the transfer: tests/infer/test_detail.py)
    ref = np.quantile(np.random.default_rng(7).normal(0.4, 0.2, 20_000).clip(-1, 1), np.linspace(0, 1, 256))
    unit = NormStats(-1.0, 1.0)  # denormalize = identity, so the output is the model-space result
    plain = translate_volume(src, Identity(), cfg, unit, divisor=1, device="cpu").array
    std = translate_volume(src, Identity(), cfg, unit, divisor=1, standardize_to=ref, device="cpu").array
    prep = prepare_volume(src.name, cfg.data, source=src)  # what translate_volume does first
    expected = prep.to_source(apply_map(prep.array, standardization_map(prep.array, prep.mask, ref)), unit).array
    np.testing.assert_allclose(std, expected, atol=1e-5)
    fg = foreground_mask(plain)
    assert abs(np.median(std[fg]) - np.median(ref)) < 0.03
    assert abs(np.median(plain[fg]) - np.median(ref)) > 0.1


def test_training_with_standardization_saves_and_uses_it(tiny, tmp_path):
    from cyclescan.infer.engine import translate_files
    from cyclescan.train.checkpoint import load_checkpoint
    from cyclescan.train.trainer import train

    best = train(tiny_cfg("data.standardize=true", "train.epochs=1"), tiny["a_train"], tiny["b_train"],
                 tmp_path / "run", val_a=tiny["a_val"], val_b=tiny["b_val"], progress=False)
    ckpt = load_checkpoint(best)
    assert ckpt["config"]["data"]["standardize"] is True
    src = next(tiny["a_val"].iterdir())
    res = translate_files([str(src)], best, "a2b", tmp_path / "out", fmt="nifti",
                          echo=None, overrides=[], overwrite=False, device="cpu", progress=False)
    assert [r.status for r in res] == ["written"]
    import nibabel as nib

    out = nib.load(str(next((tmp_path / "out").iterdir())))
    assert out.shape == nib.load(str(src)).shape and np.isfinite(out.get_fdata()).all()
    # the run saved the training quantiles, and translate used them: the engine's output equals a
    # direct translate_volume standardized to them, and differs from an unstandardized pass
    from cyclescan.infer.engine import target_stats_from_checkpoint
    from cyclescan.infer.translate import translate_volume
    from cyclescan.io import read_volume
    from cyclescan.train.checkpoint import build_generator_from_checkpoint, checkpoint_config

    ref = ckpt["reference"]["a"].numpy()
    assert ref.shape == (1024,) and np.all(np.diff(ref) >= 0)
    gen, cfg = build_generator_from_checkpoint(ckpt, "a2b").eval(), checkpoint_config(ckpt)
    stats, vol = target_stats_from_checkpoint(ckpt, "a2b"), read_volume(src)
    with torch.inference_mode():
        direct = translate_volume(vol, gen, cfg, stats, standardize_to=ref, device="cpu").array
        plain = translate_volume(vol, gen, cfg, stats, standardize_to=None, device="cpu").array
    written = np.asarray(out.dataobj, dtype=np.float32)
    np.testing.assert_allclose(written, direct, rtol=1e-5, atol=1e-4 * float(np.ptp(direct)))
    assert np.abs(written - plain).max() > 1e-2 * float(np.ptp(plain))
