"""Networks: 3D U-Net / ResNet generators, 3D PatchGAN, registry, init, parameter/FLOP counts.

Tensors are (B, 1, D, H, W); generator outputs are tanh in [-1, 1]. Build through the registry.
"""

from cyclescan.nets.blocks import SafeConv3d, SafeConvTranspose3d, stride_schedule
from cyclescan.nets.init import count_flops, count_parameters, init_weights, to_memory_format
from cyclescan.nets.patchgan import PatchGAN3d
from cyclescan.nets.registry import (
    GENERATORS,
    build_discriminator,
    build_generator,
    discriminator_divisor,
    required_divisor,
)
from cyclescan.nets.resnet import ResNetGenerator3d
from cyclescan.nets.unet import UNet3d

__all__ = [
    "GENERATORS",
    "PatchGAN3d",
    "ResNetGenerator3d",
    "SafeConv3d",
    "SafeConvTranspose3d",
    "UNet3d",
    "build_discriminator",
    "build_generator",
    "count_flops",
    "count_parameters",
    "discriminator_divisor",
    "init_weights",
    "required_divisor",
    "stride_schedule",
    "to_memory_format",
]
