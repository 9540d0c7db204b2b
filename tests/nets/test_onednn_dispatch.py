"""SafeConv3d's axis permutation: same numbers as a plain conv, and it really reaches oneDNN."""

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from cyclescan.nets.blocks import SafeConv3d, onednn_axis_order


@pytest.mark.parametrize("stride, padding_mode", [((1, 1, 1), "zeros"), ((1, 2, 2), "zeros"), ((2, 2, 2), "replicate")])
def test_permuted_conv_equals_plain_conv(stride, padding_mode):
    torch.manual_seed(0)
    conv = SafeConv3d(8, 6, 3, stride=stride, padding=1, padding_mode=padding_mode)
    x = torch.randn(1, 8, 8, 48, 64, requires_grad=True)
    assert onednn_axis_order(x) == (4, 3, 2)  # thinnest (slice) axis moved last
    y = conv(x)
    xr = F.pad(x, conv._reversed_padding_repeated_twice, mode=padding_mode) if padding_mode != "zeros" else x
    ref = F.conv3d(xr, conv.weight, conv.bias, stride, 0 if padding_mode != "zeros" else 1)
    assert y.shape == ref.shape
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, conv.weight), g)
    rx, rw = torch.autograd.grad(ref, (x, conv.weight), g)
    torch.testing.assert_close(gx, rx, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gw, rw, rtol=1e-4, atol=1e-3)


def _ops(fn):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key for e in prof.key_averages()}


def test_thin_slab_conv_dispatches_to_onednn_not_reference_conv():
    conv = SafeConv3d(16, 16, 3, padding=1)
    x = torch.randn(1, 16, 16, 64, 64, requires_grad=True)  # N*C*D*H = 16384: reference path if unpermuted
    plain = _ops(lambda: F.conv3d(x, conv.weight, conv.bias, 1, 1).sum().backward())
    assert "aten::slow_conv3d_forward" in plain  # the PyTorch heuristic this works around
    ours = _ops(lambda: conv(x).sum().backward())
    assert "aten::mkldnn_convolution" in ours
    assert "aten::slow_conv3d_forward" not in ours


def test_no_permutation_when_not_needed():
    assert onednn_axis_order(torch.zeros(2, 16, 16, 64, 64)) is None  # batch > 1 is oneDNN already
    assert onednn_axis_order(torch.zeros(1, 64, 32, 32, 32)) is None  # large enough
    assert onednn_axis_order(torch.zeros(1, 1, 4, 8, 8)) is None  # nothing helps
    assert onednn_axis_order(torch.zeros(1, 16, 16, 64, 64, dtype=torch.bfloat16)) is None
