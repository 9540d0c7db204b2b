"""The unpaired 3D patch dataset (and re-exports of the data pipeline's public names).

Domains A and B are two independent lists of files. Each epoch every A volume contributes
``patches_per_volume`` patches in an order shuffled independently from B's (so an item's A and B
patches are unrelated scans). Validation uses ``val_patches_per_volume`` deterministic patches per
volume, identical every epoch, and no augmentation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from cyclescan.config import DataConfig
from cyclescan.data.cache import VolumeCache
from cyclescan.data.histogram import apply_map, standardization_map
from cyclescan.data.loader import DataWaitMeter, build_loader
from cyclescan.data.normalize import NormStats, domain_stats, intensity_quantiles
from cyclescan.data.patches import augment, crop, foreground_box, foreground_index, position_map, sample_start
from cyclescan.data.prepare import PreparedVolume, prepare_volume
from cyclescan.errors import InputError

__all__ = ["PreparedVolume", "prepare_volume", "VolumeCache", "UnpairedPatchDataset", "build_loader",
           "DataWaitMeter"]
_DOMAINS = ("a", "b")


class UnpairedPatchDataset(Dataset):
    """Items ``{"a": FloatTensor(1, D, H, W), "b": FloatTensor(1, D, H, W)}`` in [-1, 1], plus
    ``{"pos_a", "pos_b"}: FloatTensor(3, D, H, W)`` (each voxel's position, ``position_map``, flipped
    with the patch) when ``positions`` is True (``discriminator.positions``).

    ``len = max(n_a, n_b) * ppv`` (ppv = patches_per_volume, or val_patches_per_volume when
    ``train`` is False). Indices may be ints (using the epoch from ``set_epoch``) or
    ``(epoch, index)`` tuples, which ``build_loader``'s sampler yields so persistent workers see
    the epoch too. All randomness comes from generators seeded with (seed, epoch, index, domain).

    Args:
        files_a, files_b: volume paths (see ``cyclescan.io.list_volumes``), both non-empty.
        data_cfg: patch size, sampling, augmentation and cache settings.
        train: random patches + augmentation (True) or deterministic validation patches (False).
        seed: base seed.
        cache: share a VolumeCache (e.g. between train and val datasets); one is made if None.
        positions: also return each patch's position map.
    """

    def __init__(self, files_a: Sequence[str | Path], files_b: Sequence[str | Path], data_cfg: DataConfig,
                 train: bool, seed: int = 0, cache: VolumeCache | None = None, positions: bool = False):
        self.files = {"a": [Path(f) for f in files_a], "b": [Path(f) for f in files_b]}
        for dom in _DOMAINS:
            if not self.files[dom]:
                raise InputError(f"domain {dom.upper()}: no volumes given")
        self.cfg = data_cfg
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self.cache = cache if cache is not None else VolumeCache(data_cfg)
        self.ppv = data_cfg.patches_per_volume if self.train else data_cfg.val_patches_per_volume
        self.patch = [int(p) for p in data_cfg.patch_size]
        self.positions = bool(positions)
        self._fg: dict[str, list[np.ndarray | None]] = {d: [None] * len(self.files[d]) for d in _DOMAINS}
        self._box: dict[str, list[np.ndarray | None]] = {d: [None] * len(self.files[d]) for d in _DOMAINS}
        self._orders: tuple[int, dict[str, np.ndarray]] | None = None
        self._tables: dict[str, list[np.ndarray]] | None = None  # per-volume standardization maps
        if self.cache.mode != "none":
            # Prepare everything now, in the main process: forked workers then share the arrays.
            for dom in _DOMAINS:
                for i in range(len(self.files[dom])):
                    mask = self.volume(dom, i).mask
                    self._fg[dom][i] = foreground_index(mask)
                    if self.positions:
                        self._box[dom][i] = foreground_box(mask)

    # -- volumes and domain statistics -------------------------------------------------------------
    def volume(self, domain: str, i: int) -> PreparedVolume:
        return self.cache.get(self.files[domain][i])

    def stats(self, domain: str) -> list[NormStats]:
        """Per-volume NormStats of one domain ('a' or 'b')."""
        return [self.volume(domain, i).stats for i in range(len(self.files[domain]))]

    def domain_norm(self) -> dict[str, NormStats]:
        """{'a': NormStats, 'b': NormStats}: median stats per domain (for the checkpoint's ``norm``)."""
        return {d: domain_stats(self.stats(d)) for d in _DOMAINS}

    def reference_quantiles(self, n: int = 1024) -> dict[str, np.ndarray]:
        """{'a': (n,), 'b': (n,)} float32 foreground intensity quantiles in [-1, 1] (checkpoint ``reference``)."""
        out = {}
        for d in _DOMAINS:
            vols = [self.volume(d, i) for i in range(len(self.files[d]))]
            out[d] = intensity_quantiles([v.array for v in vols], n, masks=[v.mask for v in vols])
        return out

    def set_standardization(self, reference: dict[str, np.ndarray] | None) -> None:
        """Map every volume (patches and ``array``) onto ``reference[domain]`` quantiles
        (``data.standardize``; None turns it off). Call before the loader's workers start: the
        per-volume tables are computed here, in this process."""
        if reference is None:
            self._tables = None
            return
        tables = {}
        for d in _DOMAINS:
            vols = (self.volume(d, i) for i in range(len(self.files[d])))
            tables[d] = [standardization_map(v.array, v.mask, reference[d]) for v in vols]
        self._tables = tables

    def array(self, domain: str, i: int) -> np.ndarray:
        """Volume ``i`` of ``domain`` as the network sees it: (D, H, W) in [-1, 1], standardized
        when ``set_standardization`` was given a reference."""
        arr = self.volume(domain, i).array
        return arr if self._tables is None else apply_map(arr, self._tables[domain][i])

    # -- epochs and ordering -----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's independent A/B shuffles (training); no effect on validation."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return max(len(self.files["a"]), len(self.files["b"])) * self.ppv

    def _order(self, epoch: int) -> dict[str, np.ndarray]:
        """Per domain, the volume index of each item for ``epoch`` (length ``len(self)``)."""
        if self._orders is not None and self._orders[0] == epoch:
            return self._orders[1]
        orders = {}
        for k, dom in enumerate(_DOMAINS):
            n = len(self.files[dom])
            if self.train:
                rng = np.random.default_rng([self.seed, epoch, k, 7])
                pool = np.repeat(np.arange(n), self.ppv)
                reps = -(-len(self) // len(pool))
                orders[dom] = np.concatenate([rng.permutation(pool) for _ in range(reps)])[: len(self)]
            else:
                orders[dom] = (np.arange(len(self)) // self.ppv) % n
        self._orders = (epoch, orders)
        return orders

    # -- items -------------------------------------------------------------------------------------
    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, idx = (int(index[0]), int(index[1])) if isinstance(index, (tuple, list)) else (self.epoch, int(index))
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        if not self.train:
            epoch = 0
        order = self._order(epoch)
        item = {}
        for k, dom in enumerate(_DOMAINS):
            patch, pos = self._patch(dom, k, int(order[dom][idx]), epoch, idx)
            item[dom] = torch.from_numpy(patch[None])
            if pos is not None:
                item[f"pos_{dom}"] = torch.from_numpy(pos)
        return item

    def _patch(self, dom: str, k: int, vol_idx: int, epoch: int, idx: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(patch (D, H, W), its position map (3, D, H, W) or None)."""
        pv = self.volume(dom, vol_idx)
        fg = self._fg[dom][vol_idx]
        if fg is None:
            fg = foreground_index(pv.mask)
        if self.train:
            rng = np.random.default_rng([self.seed, epoch, idx, k, 1])
            fg_prob = self.cfg.foreground_sampling
        else:
            # Same (volume, patch number) -> same generator -> same patch in every epoch.
            rng = np.random.default_rng([self.seed, vol_idx, idx % self.ppv, k, 2])
            fg_prob = 1.0
        start = sample_start(pv.array.shape, self.patch, rng, fg, fg_prob)
        patch = crop(pv.array, start, self.patch)
        pos = None
        if self.positions:
            box = self._box[dom][vol_idx]
            pos = position_map(start, self.patch, box if box is not None else foreground_box(pv.mask))
        if self._tables is not None:
            patch = apply_map(patch, self._tables[dom][vol_idx])
        if self.train:
            patch, pos = augment(patch, rng, self.cfg.flip_prob, self.cfg.intensity_jitter, pos)
        return patch, pos
