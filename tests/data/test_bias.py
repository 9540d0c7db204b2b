"""N4 bias correction (``data.bias_correction: n4``, data/bias.py): the field is found, divided out
before normalization and multiplied back onto the translation, in the input's geometry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cyclescan.config import Config
from cyclescan.data.bias import estimate_bias
from cyclescan.data.cache import VolumeCache
from cyclescan.data.normalize import NormStats, foreground_mask
from cyclescan.data.prepare import prepare_volume
from cyclescan.errors import ConfigError, InputError
from cyclescan.infer.translate import translate_volume
from cyclescan.io.volume import Volume

SHAPE = (16, 32, 32)


def _bias(shape=SHAPE, strength=0.3) -> np.ndarray:
    """A smooth multiplicative field, exp(linear + quadratic), about +-30 % over the volume."""
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    return np.exp(strength * (0.6 * x - 0.5 * y + 0.3 * z + 0.4 * (x * x - 0.3))).astype(np.float32)


def _phantom(seed=0):
    """Air around an ellipsoid body: tissue A (1000) outside, tissue B (400) in an inner block,
    with a little texture; returns (clean flat volume, tissue-B mask, body mask)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
    body = (x / 0.9) ** 2 + (y / 0.9) ** 2 + (z / 1.2) ** 2 < 1
    inner = body & (np.abs(x) < 0.35) & (np.abs(y) < 0.5)
    vol = np.where(body, 1000.0, 5.0) * (1 + 0.02 * rng.standard_normal(SHAPE))
    vol[inner] = 400.0 * (1 + 0.02 * rng.standard_normal(int(inner.sum())))
    return vol.astype(np.float32), inner, body


def _cfg(**data) -> Config:
    return Config.from_dict({"data": {"patch_size": [8, 16, 16], "bias_correction": "n4", **data},
                             "generator": {"base_channels": 4, "depth": 2},
                             "infer": {"window": [8, 16, 16], "precision": "fp32", "detail_sigma": 0.0}})


def test_n4_recovers_a_known_field():
    flat, inner, body = _phantom()
    true = _bias()
    est = estimate_bias(flat * true, foreground_mask(flat * true), (3.0, 1.0, 1.0))
    assert est.shape == SHAPE and est.dtype == np.float32 and np.all(est > 0)
    fg = foreground_mask(flat * true)
    assert np.median(est[fg]) == pytest.approx(1.0, abs=1e-3)
    assert np.all(est[~fg] == 1.0)        # no correction where there is no tissue (the air's noise)
    # the field up to a constant: its log correlates with the true log field inside the body
    assert np.corrcoef(np.log(est[body]), np.log(true[body]))[0, 1] > 0.95
    outer = body & ~inner                                   # tissue A: uniform but for its texture
    cv = lambda a: a[outer].std() / a[outer].mean()         # noqa: E731
    assert cv(flat * true / est) < 0.5 * cv(flat * true)


def test_prepare_divides_and_to_source_multiplies_back():
    """Round trip of the prepared volume with its own stats returns the input (inside the window),
    and the model-space array is flatter than without the correction."""
    flat, inner, body = _phantom(1)
    x = flat * _bias()
    vol = Volume(x, np.diag([1.0, 1.0, 3.0, 1.0]), {"path": "mem.nii.gz"})
    prep = prepare_volume("mem.nii.gz", _cfg().data, source=vol)
    plain = prepare_volume("mem.nii.gz", _cfg(bias_correction="none").data, source=vol)
    assert prep.bias is not None and plain.bias is None
    back = prep.to_source(prep.array, prep.stats).array
    unclipped = (np.abs(prep.array) < 0.999).astype(np.float32)    # inside the percentile window
    inside = prep.to_source(unclipped).array > 0.5                   # ... in the input's layout
    assert inside.sum() > 0.8 * body.sum()
    np.testing.assert_allclose(back[inside], x[inside], rtol=2e-3)
    # tissue A (the body around the inner block) is flatter in model space after the correction
    outer = body & ~inner
    spread = lambda p: p.to_source(p.array).array[outer].std()  # noqa: E731  (model space, input layout)
    assert spread(prep) < 0.5 * spread(plain)


def test_translation_carries_the_input_bias_through_an_inverting_generator():
    """An inverting generator (y = -x, the tissue contrast flips as between CISS and DESS) inverts
    the bias inside a tissue without the correction; with it, the output inside the tissue follows
    the input's bias (positive correlation), as the other contrast of the same scan would."""
    flat, inner, _ = _phantom(2)
    bias = _bias()
    vol = Volume(flat * bias, np.diag([1.0, 1.0, 3.0, 1.0]))
    target = NormStats(0.0, 2000.0)

    class Invert(torch.nn.Module):
        def forward(self, t):
            return -t

    invert = Invert()
    with_n4 = translate_volume(vol, invert, _cfg(), target, divisor=1).array
    without = translate_volume(vol, invert, _cfg(bias_correction="none"), target, divisor=1).array
    corr = lambda a: np.corrcoef(a[inner], bias[inner])[0, 1]  # noqa: E731
    assert corr(without) < -0.5
    assert corr(with_n4) > 0.5


def test_disk_cache_keeps_the_field(tmp_path):
    import nibabel as nib

    flat, _, _ = _phantom(3)
    path = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(flat * _bias(), np.diag([3.0, 1.0, 1.0, 1.0])), path)
    cfg = _cfg(cache="disk", cache_dir=str(tmp_path / "cache")).data
    first = VolumeCache(cfg).get(path)
    again = VolumeCache(cfg).get(path)             # a new cache object reads the entry from disk
    assert again.bias is not None
    np.testing.assert_array_equal(np.asarray(again.bias), np.asarray(first.bias))
    other = VolumeCache(_cfg(cache="disk", cache_dir=str(tmp_path / "cache"), bias_correction="none").data)
    assert other.key(path) != VolumeCache(cfg).key(path)   # the setting is part of the cache key


def test_config_validation_and_empty_mask():
    with pytest.raises(ConfigError, match="n4_shrink"):
        _cfg(n4_shrink=[4, 4])
    with pytest.raises(ConfigError, match="bias_correction"):
        _cfg(bias_correction="yes")
    with pytest.raises(InputError, match="empty"):
        estimate_bias(np.ones(SHAPE, np.float32), np.zeros(SHAPE, bool), (1, 1, 1))


def test_default_is_off():
    assert Config().data.bias_correction == "none"
    assert dataclasses.asdict(Config().data)["n4_shrink"] == [1, 4, 4]
    torch.manual_seed(0)  # keeps the module's torch import used (translate_volume runs torch)


def test_bias_to_source_is_the_field_in_the_input_layout():
    """Through a reorientation (the affine flips and permutes axes) and padding (a volume smaller
    than the patch), the field comes back on the input's grid."""
    flat, _, body = _phantom(6)
    true = _bias()
    affine = np.array([[0, 0, -1.0, 10], [3.0, 0, 0, -5], [0, -1.0, 0, 7], [0, 0, 0, 1]])
    vol = Volume(flat * true, affine)
    prep = prepare_volume("mem", _cfg(patch_size=[20, 40, 40]).data, source=vol)
    assert prep.array.shape != vol.shape                       # padded and permuted
    field = prep.bias_to_source()
    assert field.shape == vol.shape
    assert np.corrcoef(np.log(field[body]), np.log(true[body]))[0, 1] > 0.95
    assert prepare_volume("mem", _cfg(bias_correction="none").data, source=vol).bias_to_source() is None


def test_air_noise_is_not_amplified_into_tissue():
    """Noisy air next to a body whose field is low there: without the field held at 1 outside the
    foreground, the divided air noise passed the foreground threshold (speckle in the output)."""
    flat, _, body = _phantom(7)
    rng = np.random.default_rng(7)
    x = flat * _bias(strength=0.6)
    x[~body] = np.abs(rng.normal(0.0, 60.0, int((~body).sum())))   # Rician-like air noise
    vol = Volume(x.astype(np.float32), np.diag([1.0, 1.0, 3.0, 1.0]))
    with_n4 = prepare_volume("mem", _cfg().data, source=vol)
    plain = prepare_volume("mem", _cfg(bias_correction="none").data, source=vol)
    assert with_n4.mask.sum() <= 1.01 * plain.mask.sum()
    assert np.all(with_n4.to_source(with_n4.array).array[~body & (x < 30)] == -1.0)  # faint air stays air


def test_to_source_changes_units_before_resampling_back_exactly():
    """``to_source`` changes units (and puts the bias back) on the prepared grid, before the
    resampling is undone; without a bias that must equal resampling back first and changing units
    after (the order before session 14), since linear resampling commutes with an affine map."""
    from cyclescan.data.normalize import denormalize

    flat, _, _ = _phantom()
    vol = Volume(flat * _bias(), np.diag([2.0, 1.0, 1.0, 1.0]), {})
    prep = prepare_volume("mem", _cfg(bias_correction="none", target_spacing=[3.0, 1.5, 1.5]).data, source=vol)
    assert prep.resampling is not None and prep.bias is None
    y = np.clip(np.random.default_rng(3).normal(0, 0.5, prep.array.shape), -1, 1).astype(np.float32)
    got = prep.to_source(y, prep.stats).array
    old = denormalize(prep.reorientation.invert_array(prep.resampling.invert(prep.padding.invert(y))), prep.stats)
    assert got.shape == vol.shape
    np.testing.assert_allclose(got, old, rtol=1e-5, atol=1e-4 * float(np.abs(old).max()))
