"""Atomic save and safe load of the full training state (one ``.pt`` file per checkpoint).

The checkpoint is a dict of tensors and plain Python types only, so it loads with
``torch.load(weights_only=True)``; anything that needs pickle code execution is refused. Keys (see
docs/architecture.md): ``format_version``, ``config`` (Config.to_dict()), ``epoch`` (completed
epochs), ``step`` (optimizer steps), ``nets`` {G_ab, G_ba, D_a, D_b}, ``optim``, ``sched``,
``pools``, ``rng`` {python, numpy, torch}, ``norm`` {a, b: NormStats dict}, ``reference``
{a, b: 1-D float32 quantiles in [-1, 1]}, ``history`` (list of row dicts), ``best``
{metric, value, epoch} and ``partial`` (mid-epoch resume point or None).

Inference imports only this module from ``train/`` (never the trainer).
"""

from __future__ import annotations

import io
import pickle
import pickletools
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cyclescan.config import Config
from cyclescan.errors import CheckpointError, CycleScanError, TrainingError
from cyclescan.io.atomic import atomic_path

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "config", "epoch", "step", "nets", "norm")
NET_NAMES = ("G_ab", "G_ba", "D_a", "D_b")
# Config entries that decide the networks: a checkpoint is only compatible with a config whose
# entries here are equal. The patch size is one: the generators' stride schedule (which axes
# are pooled at which level) is derived from it.
ARCH_SECTIONS = ("generator", "discriminator")
ARCH_KEYS = (("data", "patch_size"),)
_SNIFF_BYTES = 1 << 16  # bytes read to tell a checkpoint from another kind of file


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (a checkpoint dict) atomically to ``path``; the old file survives a crash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format_version": FORMAT_VERSION, **state}
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except (OSError, RuntimeError) as exc:  # disk full, quota, permissions: the previous file is untouched
        if isinstance(exc, RuntimeError) and "writ" not in str(exc):  # torch's C++ writer reports ENOSPC so
            raise
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise TrainingError(f"{path}: cannot write checkpoint ({why}); "
                            "the previous checkpoint at this path is kept") from exc
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint without executing pickle code.

    Raises CheckpointError (naming ``path``) when the file is missing, empty, truncated, needs
    pickle code execution, is not a CycleScan checkpoint, or has an unsupported format version.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except PermissionError as exc:
        raise CheckpointError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc.strerror or exc.__class__.__name__})") from exc
    if not head:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    is_zip = head.startswith(b"PK\x03\x04") or zipfile.is_zipfile(path)  # torch.save writes a zip archive
    if not is_zip and not _looks_like_pickle(head):  # nor a legacy (pre-1.6) torch.save pickle
        raise CheckpointError(f"{path}: not a PyTorch checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses globals it does not know: the file wants code execution.
        raise CheckpointError(
            f"{path}: refused, the checkpoint requires pickle code execution (unsafe or not made by CycleScan)"
        ) from exc
    except PermissionError as exc:
        raise CheckpointError(f"{path}: permission denied") from exc
    except Exception as exc:  # noqa: BLE001 - any other failure of the loader means a damaged file
        if is_zip and _zip_without_data_pkl(path):
            raise CheckpointError(f"{path}: not a PyTorch checkpoint file (a zip archive without data.pkl)") from exc
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({exc.__class__.__name__})") from exc
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise CheckpointError(f"{path}: not a CycleScan checkpoint (no format_version)")
    if ckpt["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {ckpt['format_version']} is not supported (expected {FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint is missing {', '.join(missing)}")
    nets = ckpt["nets"]
    if not isinstance(nets, dict) or not any(n in nets for n in ("G_ab", "G_ba")):
        raise CheckpointError(f"{path}: checkpoint has no generator weights")
    # A checkpoint may hold one generator only; build_generator_from_checkpoint names a missing one.
    ckpt["_path"] = str(path)
    return ckpt


def _looks_like_pickle(head: bytes) -> bool:
    """True when ``head`` (the file's first bytes) parses as a pickle opcode stream (nothing is executed)."""
    if head[:1] == b"\x80":  # PROTO opcode: pickle protocol >= 2 (legacy torch.save writes protocol 2)
        return True
    try:
        for _ in pickletools.genops(io.BytesIO(head)):
            pass
    except Exception as exc:  # noqa: BLE001 - unknown opcode, bad argument: not a pickle
        # Running out of bytes is only fine when ``head`` is a sample of a longer file.
        return len(head) == _SNIFF_BYTES and ("exhausted" in str(exc) or "not enough data" in str(exc))
    return True


def _zip_without_data_pkl(path: Path) -> bool:
    """A readable zip archive that holds no ``data.pkl`` (so not something torch.save wrote)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return not any(n.endswith("data.pkl") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def checkpoint_config(ckpt: dict[str, Any]) -> Config:
    """The Config stored in a checkpoint (CheckpointError if it no longer validates)."""
    try:
        return Config.from_dict(ckpt["config"])
    except CycleScanError as exc:
        raise CheckpointError(f"{ckpt.get('_path', 'checkpoint')}: stored config is invalid: {exc}") from exc


def check_compatible(ckpt: dict[str, Any], cfg: Config) -> None:
    """Raise CheckpointError if ``cfg`` asks for another architecture than the checkpoint holds."""
    stored = ckpt["config"]
    wanted = cfg.to_dict()
    for section in ARCH_SECTIONS:
        old, new = stored.get(section, {}), wanted[section]
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if diff:
            k = diff[0]
            raise CheckpointError(
                f"{ckpt.get('_path', 'checkpoint')}: incompatible architecture: {section}.{k} is "
                f"{old.get(k)!r} in the checkpoint but {new.get(k)!r} in the requested config"
            )
    for section, key in ARCH_KEYS:
        old_v, new_v = stored.get(section, {}).get(key), wanted[section][key]
        if old_v != new_v:
            raise CheckpointError(
                f"{ckpt.get('_path', 'checkpoint')}: incompatible architecture: {section}.{key} is "
                f"{old_v!r} in the checkpoint but {new_v!r} in the requested config"
            )


def checkpoint_reference(ckpt: dict[str, Any], domain_key: str) -> np.ndarray | None:
    """A domain's training quantiles (``ckpt['reference'][domain_key]``, 'a' or 'b') as float32
    (n,), or None when the checkpoint has none (callers say what they needed them for)."""
    ref = (ckpt.get("reference") or {}).get(domain_key)
    if ref is None:
        return None
    arr = ref.detach().cpu().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    return np.asarray(arr, dtype=np.float32).ravel()


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``module.load_state_dict(state)`` with a CheckpointError instead of a shape RuntimeError."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"incompatible weights for {what}: {_state_dict_error(exc)}") from exc


def _state_dict_error(exc: Exception) -> str:
    """torch's multi-line load_state_dict error as one line: its first concrete problem (shortened)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return exc.__class__.__name__
    details = lines[1:] if lines[0].endswith(":") and len(lines) > 1 else lines
    detail = re.sub(r"copying a param with shape torch\.Size\((\[.*?\])\) from checkpoint, "
                    r"the shape in current model is torch\.Size\((\[.*?\])\)\.?",
                    r"shape \1 in the checkpoint vs \2 in the model", details[0])
    if len(detail) > 200:
        detail = detail[:197].rsplit(" ", 1)[0] + " ..."
    more = len(details) - 1
    return detail + (f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else "")


def build_generator_from_checkpoint(ckpt: dict[str, Any], direction: str) -> torch.nn.Module:
    """The generator for ``direction`` ('a2b' uses G_ab, 'b2a' uses G_ba), weights loaded, eval mode.

    The module maps (B, 1, D, H, W) float32 in [-1, 1] to the same shape in [-1, 1] (tanh output),
    on the CPU; move it with ``.to(device)``.
    """
    from cyclescan.nets import build_generator

    if direction not in ("a2b", "b2a"):
        raise CheckpointError(f"unknown direction {direction!r} (expected a2b or b2a)")
    cfg = checkpoint_config(ckpt)
    name = "G_ab" if direction == "a2b" else "G_ba"
    if name not in ckpt["nets"]:
        raise CheckpointError(f"{ckpt.get('_path', 'checkpoint')}: checkpoint has no weights for {name} "
                              f"(direction {direction})")
    net = build_generator(cfg, cfg.data.patch_size)
    load_weights(net, ckpt["nets"][name], f"{name} from {ckpt.get('_path', 'checkpoint')}")
    return net.eval()


# ---------------------------------------------------------------------------------------------
# RNG state: plain types / tensors only, so it survives weights_only loading.


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU, and CUDA if initialised) RNG states as checkpointable values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_plain(random.getstate()),
        "numpy": {
            "kind": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    random.setstate(_to_tuple(state["python"]))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_plain(x: Any) -> Any:
    return [_to_plain(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, list) else x
