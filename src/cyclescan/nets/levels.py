"""The level plan every network here shares: anisotropic strides, their divisor, channels per level.

Kept apart from ``blocks.py`` (the conv building blocks) so the generators, the discriminator and
the registry compute a plan in one place.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from cyclescan.nets.blocks import Triple, schedule_divisor, stride_schedule


def level_channels(base: int, level: int) -> int:
    """Channels at a U-Net level / ResNet stage / PatchGAN layer: base * 2**level, capped at base * 8."""
    return base * min(2**level, 8)


class LevelPlan(NamedTuple):
    """``strides[i]``: (s_d, s_h, s_w) of down-sampling i; ``divisor``: their product per axis (what
    each input dim D, H, W must divide by); ``channels[l]``: channels at level l (levels + 1 entries)."""

    strides: list[Triple]
    divisor: Triple
    channels: list[int]


def level_plan(patch_size: Sequence[int], levels: int, min_depth: int, base_channels: int = 1) -> LevelPlan:
    """The plan of a network with ``levels`` down-samplings built for a (D, H, W) ``patch_size``
    (``blocks.stride_schedule``: the slice axis is only halved while >= ``min_depth`` slices remain)."""
    strides = stride_schedule(patch_size, levels, min_depth)
    channels = [level_channels(base_channels, lvl) for lvl in range(levels + 1)]
    return LevelPlan(strides, schedule_divisor(strides), channels)
