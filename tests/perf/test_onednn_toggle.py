"""nets.blocks.set_onednn_permute: the switch changes the CPU conv kernel, not the numbers."""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from cyclescan.nets.blocks import SafeConv3d, onednn_axis_order, set_onednn_permute


def _conv_ops(conv: torch.nn.Module, x: torch.Tensor) -> tuple[set[str], torch.Tensor, torch.Tensor]:
    """Forward + backward of ``conv`` on ``x`` under the profiler: (aten conv op names, y, dW)."""
    conv.zero_grad()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        y = conv(x)
        y.square().sum().backward()
    names = {e.key for e in prof.key_averages() if "conv" in e.key and e.key.startswith("aten::")}
    return names, y.detach(), conv.weight.grad.detach().clone()


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_toggle_switches_slow_conv3d_to_onednn_with_equal_results():
    if not torch.backends.mkldnn.is_available():
        pytest.skip("no oneDNN in this torch build")
    torch.manual_seed(0)
    # thin slab: N*C*D*H = 8*4*64 = 2048 <= 20480 -> PyTorch's dispatch picks slow_conv3d;
    # with D last, N*C*H*W = 8*64*64 > 20480 -> oneDNN
    x = torch.randn(1, 8, 4, 64, 64)
    conv = SafeConv3d(8, 8, 3, padding=1, bias=True)
    assert onednn_axis_order(x) == (3, 4, 2)
    assert set_onednn_permute(conv, False) == 1 and conv.onednn_permute is False
    ops_off, y_off, g_off = _conv_ops(conv, x)
    assert set_onednn_permute(torch.nn.Sequential(conv), True) == 1 and conv.onednn_permute is True
    ops_on, y_on, g_on = _conv_ops(conv, x)
    assert "aten::slow_conv3d_forward" in ops_off and "aten::mkldnn_convolution" not in ops_off
    assert "aten::mkldnn_convolution" in ops_on and "aten::slow_conv3d_forward" not in ops_on
    # same maths, different summation order: equal to float rounding
    torch.testing.assert_close(y_on, y_off, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(g_on, g_off, rtol=1e-4, atol=1e-3)
    assert y_on.shape == (1, 8, 4, 64, 64)


def test_naive_train_case_disables_the_permutation_and_tuned_keeps_it(monkeypatch):
    """The benchmark's naive reference is plain PyTorch dispatch; the tuned variant permutes."""
    from cyclescan.perf import bench_train

    seen: list[bool] = []
    import cyclescan.nets.blocks as blocks

    real = blocks.set_onednn_permute

    def spy(net, enabled):
        seen.append(enabled)
        return real(net, enabled)

    monkeypatch.setattr(blocks, "set_onednn_permute", spy)
    naive = bench_train.TrainCase([8, 32, 32], 2, 4, warmup=1, repeats=1, budget_s=1.0)
    r = bench_train.time_train_steps(naive)
    assert r["onednn_permute"] is False and r["precision"] == "fp32" and set(seen) == {False}
    seen.clear()
    abl = bench_train.TrainCase([8, 32, 32], 2, 4, precision="auto", warmup=1, repeats=1, budget_s=1.0,
                                onednn_permute=True)
    r = bench_train.time_train_steps(abl)
    assert r["onednn_permute"] is True and set(seen) == {True}
    from cyclescan.nets.precision import resolve_precision

    assert r["precision"] == resolve_precision("auto")
    argv = bench_train.case_to_argv(abl)
    assert "--onednn-permute" in argv and argv[argv.index("--precision") + 1] == "auto"


def test_dispatch_census_matches_the_rule():
    """perf.dispatch: thin narrow nets are all on slow_conv3d; the report-size default G is not."""
    from cyclescan.nets import build_generator
    from cyclescan.perf.bench_train import TrainCase, case_config
    from cyclescan.perf.dispatch import conv_dispatch_census

    tiny = TrainCase([16, 64, 64], 8, 16)
    r = conv_dispatch_census(build_generator(case_config(tiny), tiny.patch), tiny.patch)
    assert r["slow_convs"] == r["convs"] > 0 and r["slow_fraction"] == pytest.approx(1.0)
    assert 0.3 < r["moved_fraction"] < 1.0 and r["moved_convs"] < r["slow_convs"]
    big = TrainCase([20, 256, 256], 32, 64)
    r = conv_dispatch_census(build_generator(case_config(big), big.patch), big.patch)
    assert r["gflops_fwd"] == pytest.approx(899.26, rel=1e-3) and r["slow_fraction"] < 0.02
