"""Which precision to run: 'auto' resolves to bf16 only where bf16 convolutions are fast.

Measured on this project's CPU machines: on AVX512-BF16/AMX CPUs oneDNN runs bf16 3D convs natively
(1.5-2x faster than fp32), but on AVX2-only CPUs (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``
is False) PyTorch falls back to a slow reference conv that is 20-90x *slower* than fp32. So the
config default is 'auto'; an explicit 'bf16' is honoured (it is still numerically correct).
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def bf16_fast(device_type: str = "cpu") -> bool:
    """True when bf16 autocast speeds up convolutions on this device type."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - older torch
        return False


def resolve_precision(requested: str, device_type: str = "cpu") -> str:
    """'auto' -> 'bf16' where fast else 'fp32'; 'fp32'/'bf16' are returned unchanged."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r} (expected one of {', '.join(PRECISIONS)})")
    if requested == "auto":
        return "bf16" if bf16_fast(device_type) else "fp32"
    return requested


def precision_autocast(precision: str, device_type: str = "cpu") -> ContextManager[Any]:
    """The forward-pass context for ``precision``: none for fp32 (and for 'auto' where bf16 is
    slow), bf16 ``torch.autocast`` on ``device_type`` otherwise. ValueError for an unknown name."""
    if resolve_precision(precision, device_type) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
