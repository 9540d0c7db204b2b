"""Build networks by name from the config (as the original CycleGAN's ``define_G``/``define_D``).

Adding an architecture = one builder function + one entry in ``GENERATORS``; the trainer and the
inference engine only call ``build_generator`` / ``build_discriminator``.

The architecture depends on the *training* patch size (it fixes the anisotropic stride schedule),
so always build with ``cfg.data.patch_size`` - also at inference, whatever the window size; the
window must then be divisible by ``required_divisor(cfg.generator, cfg.data.patch_size)``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from cyclescan.config import Config, DiscriminatorConfig, GeneratorConfig
from cyclescan.errors import ConfigError
from cyclescan.nets.blocks import Triple
from cyclescan.nets.gate import AirGate
from cyclescan.nets.init import add_spectral_norm, init_output_head, init_pointwise_mlp, init_weights
from cyclescan.nets.levels import level_plan
from cyclescan.nets.patchgan import PatchGAN3d
from cyclescan.nets.resnet import ResNetGenerator3d
from cyclescan.nets.unet import UNet3d


def _air_gate(g: GeneratorConfig) -> AirGate | None:
    return AirGate(margin=g.air_gate_margin) if g.air_gate else None


def _detail(g: GeneratorConfig) -> nn.Module | None:
    """The experimental in-network detail transfer, or None (parameter-free: no state-dict keys)."""
    if not g.detail_sigma_vox:
        return None
    from cyclescan.nets.detail_stage import DetailStage

    return DetailStage(g.detail_sigma_vox)


def _unet(g: GeneratorConfig, patch: Sequence[int]) -> nn.Module:
    return UNet3d(
        patch, base_channels=g.base_channels, depth=g.depth, min_depth=g.min_depth, upsample=g.upsample, norm=g.norm,
        air_gate=_air_gate(g), detail=_detail(g), intensity_hidden=g.intensity_branch,
        histogram_base=g.histogram_base, output=g.output,
    )


def _resnet(g: GeneratorConfig, patch: Sequence[int]) -> nn.Module:
    return ResNetGenerator3d(
        patch,
        base_channels=g.base_channels,
        n_down=g.depth,
        n_res_blocks=g.n_res_blocks,
        min_depth=g.min_depth,
        upsample=g.upsample,
        norm=g.norm,
        air_gate=_air_gate(g), detail=_detail(g), intensity_hidden=g.intensity_branch,
        histogram_base=g.histogram_base, output=g.output,
    )


#: generator.arch -> builder(GeneratorConfig, patch_size)
GENERATORS: dict[str, Callable[[GeneratorConfig, Sequence[int]], nn.Module]] = {"unet": _unet, "resnet": _resnet}


def _section(cfg: Config | GeneratorConfig | DiscriminatorConfig, name: str):
    return getattr(cfg, name) if isinstance(cfg, Config) else cfg


def _check_patch(patch_size: Sequence[int], divisor: Triple, what: str) -> tuple[int, int, int]:
    patch = tuple(int(p) for p in patch_size)
    if len(patch) != 3:
        raise ConfigError(f"data.patch_size: expected 3 integers (slices, rows, cols), got {list(patch_size)}")
    if any(p % d for p, d in zip(patch, divisor)):
        raise ConfigError(
            f"data.patch_size {list(patch)} must be divisible by {list(divisor)} (slices, rows, cols) for {what}; "
            f"lower the depth/n_layers or change the patch size"
        )
    return patch  # type: ignore[return-value]


def required_divisor(gen: GeneratorConfig | Config, patch_size: Sequence[int]) -> Triple:
    """What each input dim (D, H, W) of the generator built for ``patch_size`` must divide by."""
    g = _section(gen, "generator")
    return level_plan(patch_size, g.depth, g.min_depth).divisor


def build_generator(
    cfg: Config | GeneratorConfig, patch_size: Sequence[int], generator: torch.Generator | None = None
) -> nn.Module:
    """Generator (B,1,D,H,W) -> (B,1,D,H,W) in [-1,1] named by ``generator.arch``, initialised N(0, 0.02)
    except a ``head`` output conv, which gets the fan-in-aware init of ``init_output_head``, and an
    intensity branch, which gets ``init_pointwise_mlp``.

    Raises ConfigError if ``patch_size`` is not divisible by ``required_divisor``.
    """
    g = _section(cfg, "generator")
    patch = _check_patch(patch_size, required_divisor(g, patch_size), f"generator.arch={g.arch} depth={g.depth}")
    net = init_weights(GENERATORS[g.arch](g, patch), generator=generator)
    head = getattr(net, "head", None)
    if isinstance(head, nn.Conv3d):
        init_output_head(head, generator=generator)
    branch = getattr(net, "intensity", None)
    if branch is not None:
        init_pointwise_mlp(branch, generator=generator)
    if getattr(net, "base", None) is not None:
        # Start exactly at the histogram base: the body's last conv outputs zeros (its weights
        # still get gradients, so the correction grows from there). Not for output=log_ratio,
        # which keeps the random head: a zero head is exactly the identity, where two generators
        # are cycle-consistent with zero cycle gradient (measured on the phantom, unpaired
        # log-ratio generators end at the identity from either start; docs/results.md section 1).
        last = head if isinstance(head, nn.Conv3d) else net.model[-1]  # U-Net head / ResNet's last conv
        with torch.no_grad():
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()
    return net


def discriminator_divisor(cfg: Config | DiscriminatorConfig, patch_size: Sequence[int]) -> Triple:
    """Input size / PatchGAN score-map size per axis."""
    d = _section(cfg, "discriminator")
    return level_plan(patch_size, d.n_layers, d.min_depth).divisor


def build_discriminator(
    cfg: Config | DiscriminatorConfig, patch_size: Sequence[int], generator: torch.Generator | None = None
) -> nn.Module:
    """PatchGAN (B,C,D,H,W) -> scores (B,1,D/dd,H/dh,W/dw), initialised N(0, 0.02), optional spectral norm.

    C = 1, or 4 with ``discriminator.positions`` (the image + its position channels)."""
    d = _section(cfg, "discriminator")
    patch = _check_patch(
        patch_size, discriminator_divisor(d, patch_size), f"discriminator.n_layers={d.n_layers}"
    )
    net = init_weights(
        PatchGAN3d(patch, base_channels=d.base_channels, n_layers=d.n_layers, min_depth=d.min_depth, dropout=d.dropout,
                   in_channels=1 + 3 * int(d.positions)),
        generator=generator,
    )
    return add_spectral_norm(net) if d.spectral_norm else net
