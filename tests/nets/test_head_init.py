"""The U-Net's 1x1x1 output head starts with a useful output scale (not a near-constant image)."""

import torch

from cyclescan.config import Config
from cyclescan.nets import build_generator
from cyclescan.nets.init import init_output_head


def test_head_std_is_fan_in_aware():
    conv = torch.nn.Conv3d(8, 1, 1)
    init_output_head(conv, generator=torch.Generator().manual_seed(0))
    assert abs(conv.weight.std().item() - 8 ** -0.5) < 0.2  # 8 samples: loose
    assert torch.count_nonzero(conv.bias) == 0
    big = torch.nn.Conv3d(64, 1, 7)  # fan-in 21952: CycleGAN's 0.02 is already larger
    init_output_head(big)
    assert abs(big.weight.std().item() - 0.02) < 0.002


def test_untrained_unet_output_is_not_flat():
    cfg = Config()
    cfg.generator.base_channels = 8
    cfg.generator.depth = 2
    net = build_generator(cfg.generator, [16, 32, 32])
    torch.manual_seed(0)
    x = torch.rand(1, 1, 16, 32, 32) * 2 - 1
    with torch.no_grad():
        y = net(x)
    # With CycleGAN's N(0, 0.02) on an 8-channel 1x1 head the output std was ~0.05.
    assert y.std().item() > 0.2
