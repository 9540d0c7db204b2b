"""Sliding-window inference: window planning, exactness against a whole-volume pass, no seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cyclescan.errors import ConfigError
from cyclescan.infer.sliding import plan_windows, sliding_window_translate


def test_plan_rounds_window_to_divisor_and_caps_at_volume():
    p = plan_windows((13, 40, 37), (6, 20, 64), divisor=(4, 8, 8), overlap=0.5)
    # 6 -> 8 (multiple of 4); 20 -> 24; 64 capped at 37 rounded up to 8 = 40 -> padded 3 cols.
    assert p.window == (8, 24, 40)
    assert p.pad == ((0, 0), (0, 0), (1, 2))
    assert p.padded_shape == (13, 40, 40)
    # D: starts 0,4,5(last aligned to end) -> MONAI: ceil((13-8)/4)+1 = 3; H: (40-24)/12 -> 3; W: 1
    assert p.n_windows == 3 * 3 * 1


def test_plan_rejects_bad_values():
    with pytest.raises(ConfigError):
        plan_windows((8, 8, 8), (8, 8), 1)
    with pytest.raises(ConfigError):
        plan_windows((8, 8, 8), (8, 8, 8), 1, overlap=1.0)


class Pointwise(torch.nn.Module):
    """A 1x1x1 conv: its output at a voxel depends only on that voxel, so any tiling is exact."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(0.7)
            self.conv.bias.fill_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))


@pytest.mark.parametrize("shape", [(13, 40, 37), (5, 13, 37)])
@pytest.mark.parametrize("blend", ["gaussian", "constant"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_pointwise_net_equals_whole_volume_pass(blend, batch_size, shape):
    # (13, 40, 37): odd sizes, last window aligned to the end, no padding;
    # (5, 13, 37): smaller than the window along D and H, so the pad + crop path runs.
    plan = plan_windows(shape, (8, 16, 16), divisor=(4, 8, 8), overlap=0.5)
    assert (plan.pad == ((0, 0),) * 3) == (shape == (13, 40, 37))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, shape).astype(np.float32)
    net = Pointwise().eval()
    y = sliding_window_translate(x, net, (8, 16, 16), divisor=(4, 8, 8), overlap=0.5, blend=blend,
                                 batch_size=batch_size)
    with torch.no_grad():
        whole = net(torch.from_numpy(x)[None, None])[0, 0].numpy()
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, whole, atol=1e-5)


def test_identity_net_does_not_corrupt_input():
    """MONAI scales the returned window in place; a net returning its input must not alias it."""
    x = np.linspace(-1, 1, 12 * 20 * 20, dtype=np.float32).reshape(12, 20, 20)
    before = x.copy()
    y = sliding_window_translate(x, lambda t: t, (8, 8, 8), overlap=0.5, batch_size=1)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(y, x, atol=1e-6)


class WindowMeanShift(torch.nn.Module):
    """Output = input - window mean: depends on where the window is (as instance norm and zero
    padding make a real generator's output do), so naive tiling leaves a step at every edge."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(dim=(2, 3, 4), keepdim=True)


def test_gaussian_overlap_removes_seams_at_window_edges():
    d, h, w = 8, 16, 64
    ramp = np.broadcast_to(np.linspace(-1, 1, w, dtype=np.float32), (d, h, w)).copy()
    slope = 2.0 / (w - 1)
    net = WindowMeanShift()
    # No overlap, constant weights: windows [0,16), [16,32), ... -> a jump at every window edge.
    naive = sliding_window_translate(ramp, net, (8, 16, 16), overlap=0.0, blend="constant")
    naive_steps = np.diff(naive, axis=2)
    assert np.abs(naive_steps[:, :, [15, 31, 47]] - slope).min() > 0.4
    # Overlap 0.5 + Gaussian: windows start every 8 columns; across each window edge (column 8k)
    # the output continues the ramp, on every slice and row (also the border slices).
    smooth = sliding_window_translate(ramp, net, (8, 16, 16), overlap=0.5, blend="gaussian")
    steps = np.diff(smooth, axis=2)
    edges = [8 * k - 1 for k in range(1, 8)]
    np.testing.assert_allclose(steps[:, :, edges], slope, atol=0.15 * slope)
    assert steps.std(axis=(0, 1)).max() < 1e-5  # same profile on every (slice, row)
    # What remains is a smooth transition between window centres, far below the naive jump.
    curvature = np.abs(np.diff(smooth, 2, axis=2)).max()
    assert curvature < 0.15 * np.abs(np.diff(naive, 2, axis=2)).max()


def test_blend_weights_are_separable_gaussian():
    from cyclescan.infer.sliding import blend_weights

    m = blend_weights((8, 16, 16)).numpy()
    assert m.shape == (8, 16, 16) and m.min() > 0
    # Ratio between two columns is the same on the centre row and on a corner row (separable).
    np.testing.assert_allclose(m[0, 0, 3] / m[0, 0, 8], m[4, 8, 3] / m[4, 8, 8], rtol=1e-4)
    assert m[4, 8, 0] < 0.01 * m[4, 8, 7]
    assert np.all(blend_weights((2, 3, 4), "constant").numpy() == 1)


def _tiny_unet() -> torch.nn.Module:
    from cyclescan.config import Config
    from cyclescan.nets import build_generator

    cfg = Config.from_dict({"generator": {"base_channels": 4, "depth": 2, "norm": "none"},
                            "data": {"patch_size": [8, 16, 16]}})
    torch.manual_seed(0)
    return build_generator(cfg, cfg.data.patch_size).eval(), cfg


def test_real_generator_sliding_close_to_whole_volume_pass():
    net, cfg = _tiny_unet()
    from cyclescan.nets import required_divisor

    div = required_divisor(cfg.generator, cfg.data.patch_size)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in (8, 32, 32)], indexing="ij")
    x = (0.5 * zz + 0.3 * yy - 0.4 * xx).astype(np.float32)  # smooth ramp
    y = sliding_window_translate(x, net, (8, 16, 16), divisor=div, overlap=0.5)
    with torch.no_grad():
        whole = net(torch.from_numpy(x)[None, None])[0, 0].numpy()
    err = np.abs(y - whole)
    # Windows see zero padding at their borders; Gaussian weights keep that small everywhere.
    assert err.mean() < 0.1 * whole.std()
    assert np.isfinite(y).all()


def test_bf16_close_to_fp32():
    net, cfg = _tiny_unet()
    from cyclescan.nets import required_divisor

    div = required_divisor(cfg.generator, cfg.data.patch_size)
    # (bf16 convs with 4 channels are slow on CPU: one small window pair is enough.)
    x = np.random.default_rng(1).uniform(-1, 1, (8, 16, 32)).astype(np.float32)
    y32 = sliding_window_translate(x, net, (8, 16, 16), divisor=div, precision="fp32")
    y16 = sliding_window_translate(x, net, (8, 16, 16), divisor=div, precision="bf16")
    assert y16.dtype == np.float32
    assert np.abs(y16 - y32).max() < 0.05 * (np.abs(y32).max() + 1e-6) + 0.02
    assert np.corrcoef(y16.ravel(), y32.ravel())[0, 1] > 0.99


def test_auto_precision_resolves_and_bad_precision_is_config_error():
    from cyclescan.nets.precision import resolve_precision

    x = np.random.default_rng(2).uniform(-1, 1, (4, 8, 8)).astype(np.float32)
    net = Pointwise().eval()
    y_auto = sliding_window_translate(x, net, (4, 8, 8), precision="auto")
    y_ref = sliding_window_translate(x, net, (4, 8, 8), precision=resolve_precision("auto", "cpu"))
    np.testing.assert_array_equal(y_auto, y_ref)
    with pytest.raises(ConfigError, match="infer.precision"):
        sliding_window_translate(x, net, (4, 8, 8), precision="fp16")
