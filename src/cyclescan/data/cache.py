"""Cache of prepared volumes so epoch 2+ neither re-reads nor re-normalizes files.

Modes (``data.cache``): ``memory`` keeps PreparedVolumes in RAM (falls back to disk for a volume
when less than twice its size would remain available); ``disk`` writes the arrays as ``.npy``
under ``data.cache_dir`` (a temporary folder when null) and memory-maps them, with a JSON sidecar
for stats and geometry records, so a later run with the same inputs and settings reuses them;
``none`` prepares on every access.

A small dict-of-files cache rather than MONAI ``PersistentDataset``/``CacheDataset``: those cache
transform outputs keyed by the item dict and would pickle the whole record (including the source
Volume) per item, while here arrays must be memory-mappable and shared across worker processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from cyclescan.config import DataConfig
from cyclescan.data.normalize import NormStats
from cyclescan.data.prepare import PreparedVolume, prepare_volume
from cyclescan.data.spatial import Padding, Resampling
from cyclescan.io.atomic import atomic_path, atomic_write_text
from cyclescan.io.orientation import Reorientation
from cyclescan.io.volume import Volume

log = logging.getLogger(__name__)
# Bumped whenever preparation changes its output for the same file and settings (2: triangle
# foreground mask), so a persistent cache never serves volumes prepared by older code.
PREP_VERSION = 2
_KEY_FIELDS = ("echo", "orientation", "target_spacing", "norm_lower_percentile", "norm_upper_percentile",
               "norm_foreground_mask", "patch_size", "pad_multiple", "bias_correction", "n4_shrink", "n4_iterations")


class VolumeCache:
    """``get(path) -> PreparedVolume``, preparing each file at most once per cache."""

    def __init__(self, data_cfg: DataConfig, mode: str | None = None, cache_dir: str | Path | None = None):
        self.cfg = data_cfg
        self.mode = mode or data_cfg.cache
        self._mem: dict[str, PreparedVolume] = {}
        self._dir: Path | None = None
        self._dir_arg = cache_dir if cache_dir is not None else data_cfg.cache_dir

    # -- disk location ---------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        if self._dir is None:
            if self._dir_arg is not None:
                self._dir = Path(self._dir_arg)
                self._dir.mkdir(parents=True, exist_ok=True)
            else:
                self._dir = Path(tempfile.mkdtemp(prefix="cyclescan-cache-"))
                weakref.finalize(self, shutil.rmtree, str(self._dir), True)
        return self._dir

    def key(self, path: str | Path) -> str:
        """Hash of the file's identity (path, size, mtime) and the settings that shape the result."""
        p = Path(path).resolve()
        st = p.stat()
        stamps = [st.st_mtime_ns] + ([f.stat().st_mtime_ns for f in p.iterdir()] if p.is_dir() else [])
        newest = max(stamps)
        ident = {"path": str(p), "size": st.st_size, "mtime": newest, "prep": PREP_VERSION,
                 "cfg": {k: getattr(self.cfg, k) for k in _KEY_FIELDS}}
        return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]

    # -- access ------------------------------------------------------------------------------------
    def get(self, path: str | Path) -> PreparedVolume:
        k = str(path)
        if k in self._mem:
            return self._mem[k]
        if self.mode == "none":
            return prepare_volume(path, self.cfg)
        if self.mode == "disk":
            pv = self._load_or_store(path)
        else:
            pv = prepare_volume(path, self.cfg)
            if not _fits_in_memory(pv):
                log.warning("%s: not enough free memory to cache it; using the disk cache", path)
                pv = self._store(path, pv)
        self._mem[k] = pv
        return pv

    def __len__(self) -> int:
        return len(self._mem)

    # -- disk --------------------------------------------------------------------------------------
    def _load_or_store(self, path: str | Path) -> PreparedVolume:
        d = self.directory / self.key(path)
        if (d / "meta.json").is_file():
            try:
                return _load(d)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("%s: unreadable cache entry (%s); rebuilding", d, exc)
        return self._store(path, prepare_volume(path, self.cfg))

    def _store(self, path: str | Path, pv: PreparedVolume) -> PreparedVolume:
        d = self.directory / self.key(path)
        d.mkdir(parents=True, exist_ok=True)
        extra = [("bias", pv.bias)] if pv.bias is not None else []
        for name, arr in [("array", pv.array), ("mask", pv.mask), ("source", pv.source.array), *extra]:
            with atomic_path(d / f"{name}.npy") as tmp:
                np.save(tmp, arr)
        meta = {"stats": pv.stats.to_dict(), "affine": pv.affine.tolist(), "source_affine": pv.source.affine.tolist(),
                "source_meta": pv.source.meta, "reorientation": pv.reorientation.to_dict(),
                "resampling": pv.resampling.to_dict() if pv.resampling else None,
                "padding": pv.padding.to_dict(), "info": pv.info}
        atomic_write_text(d / "meta.json", json.dumps(meta, default=str))  # written last: marks the entry complete
        return _load(d)


def _load(d: Path) -> PreparedVolume:
    meta = json.loads((d / "meta.json").read_text())
    arrays = {n: np.load(d / f"{n}.npy", mmap_mode="r") for n in ("array", "mask", "source")}
    source = Volume(arrays["source"], np.asarray(meta["source_affine"]), meta["source_meta"])
    return PreparedVolume(arrays["array"], NormStats.from_dict(meta["stats"]), source, arrays["mask"],
                          np.asarray(meta["affine"]), Reorientation.from_dict(meta["reorientation"]),
                          Resampling.from_dict(meta["resampling"]), Padding.from_dict(meta["padding"]), meta["info"],
                          np.load(d / "bias.npy", mmap_mode="r") if (d / "bias.npy").is_file() else None)


def _fits_in_memory(pv: PreparedVolume) -> bool:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a pinned dependency
        return True
    need = pv.array.nbytes + pv.mask.nbytes + pv.source.array.nbytes + (pv.bias.nbytes if pv.bias is not None else 0)
    return psutil.virtual_memory().available > 2 * need
