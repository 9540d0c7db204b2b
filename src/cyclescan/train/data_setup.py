"""Wire the data package into the trainer: loaders, val volumes, domain statistics.

Resume determinism: each epoch's loader is rebuilt with a ``torch.Generator`` seeded from
(seed, rank, epoch) and the dataset's ``set_epoch(epoch)``, so the batches of epoch ``e`` do not
depend on the global RNG or on how the process got there; a mid-epoch resume fast-forwards the
same sequence by the steps already done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader

from cyclescan.config import Config
from cyclescan.errors import InputError
from cyclescan.io.nifti import volume_stem
from cyclescan.train.distributed import DistContext
from cyclescan.train.validation import ValVolume


@dataclass
class TrainData:
    """Everything the trainer needs from the data side."""

    cfg: Config
    ctx: DistContext
    dataset: Any
    loader: Any
    steps_per_epoch: int
    divisor: tuple[int, int, int]
    norm: dict[str, dict]
    reference: dict[str, torch.Tensor]
    val_a: list[ValVolume] = field(default_factory=list)
    val_b: list[ValVolume] = field(default_factory=list)
    val_patches: Any = None

    @property
    def has_val(self) -> bool:
        return bool(self.val_a) and bool(self.val_b)

    @property
    def paired(self) -> bool:
        from cyclescan.train.validation import paired_names

        return paired_names(self.val_a, self.val_b)

    def epoch_batches(self, epoch: int, skip: int = 0, meter: Any = None) -> Iterator[dict[str, torch.Tensor]]:
        """Batches {"a": (B,1,D,H,W), "b": ...} of ``epoch``, starting after ``skip`` batches.

        The dataset's items are pure functions of (seed, epoch, index), so skipping is exact and
        loads nothing. ``meter`` (a data.DataWaitMeter) measures the time blocked on data.
        """
        self.dataset.set_epoch(epoch)
        if skip == 0:
            loader = self.loader
        else:
            idx = list(range(skip * self.cfg.train.batch_size, self.steps_per_epoch * self.cfg.train.batch_size))
            loader = DataLoader(self.dataset, batch_size=self.cfg.train.batch_size,
                                sampler=[(epoch, i) for i in idx], num_workers=0)
        it = meter.wrap(loader) if meter is not None else iter(loader)
        for i, batch in enumerate(it, start=skip):
            if i >= self.steps_per_epoch:
                break
            yield batch

    def val_patch_losses(self, model) -> Callable[[], dict[str, float]] | None:
        """Mean of every loss term over the deterministic val patches (None without val)."""
        if self.val_patches is None:
            return None

        def run() -> dict[str, float]:
            from cyclescan.train.cyclegan import autocast_context

            sums: dict[str, float] = {}
            n = 0
            dev = torch.device(self.ctx.device)
            for i in range(len(self.val_patches)):
                item = self.val_patches[i]
                a, b = item["a"][None].to(dev), item["b"][None].to(dev)
                pa, pb = (item[k][None].to(dev) if k in item else None for k in ("pos_a", "pos_b"))
                with autocast_context(self.cfg.train.precision, dev):
                    g_total, terms, fakes = model.generator_losses(a, b, pa, pb)
                    d_total, d_terms = model.discriminator_losses(
                        model.d_input(a, pa), model.d_input(b, pb),
                        *model.fake_d_inputs(fakes["fake_a"], fakes["fake_b"], pa, pb))
                losses = {**terms, **d_terms, "G_total": g_total, "D_total": d_total}
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                n += 1
            return {k: v / max(n, 1) for k, v in sums.items()}

        return run


def build_train_data(cfg: Config, a_dir, b_dir, val_a, val_b, ctx: DistContext,
                     log: Callable[[str], None]) -> TrainData:
    """Discover volumes, build the patch datasets, compute domain statistics and val volumes."""
    from cyclescan.data.datasets import UnpairedPatchDataset, build_loader
    from cyclescan.io import list_volumes
    from cyclescan.nets import required_divisor

    files_a, files_b = list_volumes(a_dir), list_volumes(b_dir)
    files_va = list_volumes(val_a) if val_a is not None else []
    files_vb = list_volumes(val_b) if val_b is not None else []
    seed = cfg.train.seed + 7919 * ctx.rank  # each rank draws its own patches (rank-strided sampling)
    positions = cfg.discriminator.positions
    ds = UnpairedPatchDataset(files_a, files_b, cfg.data, train=True, seed=seed, positions=positions)
    n_batches = len(ds) // cfg.train.batch_size
    if n_batches < 1:
        raise InputError(f"{a_dir}: {len(ds)} patches per epoch is fewer than train.batch_size={cfg.train.batch_size}")
    if ctx.enabled:  # the epoch's work is shared: each rank does 1/world of the steps
        n_batches = max(1, n_batches // ctx.world_size)
    steps = min(n_batches, cfg.train.steps_per_epoch or n_batches)
    norm = {k: v.to_dict() for k, v in ds.domain_norm().items()}
    ref_np = ds.reference_quantiles()  # of the normalized (not yet standardized) training volumes
    std_ref = ref_np if cfg.data.standardize else None
    ds.set_standardization(std_ref)  # before the loader's workers start
    loader = build_loader(ds, cfg.data, seed=seed, batch_size=cfg.train.batch_size, drop_last=True)
    reference = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in ref_np.items()}
    divisor = tuple(int(d) for d in required_divisor(cfg, cfg.data.patch_size))
    data = TrainData(cfg, ctx, ds, loader, steps, divisor, norm, reference)  # type: ignore[arg-type]
    if files_va and files_vb and ctx.is_main:
        val = UnpairedPatchDataset(files_va, files_vb, cfg.data, train=False, seed=cfg.train.seed, positions=positions)
        val.set_standardization(std_ref)  # the *training* reference, as translation will use
        data.val_a = [ValVolume(volume_stem(f), val.array("a", i), val.volume("a", i).spacing)
                      for i, f in enumerate(files_va)]
        data.val_b = [ValVolume(volume_stem(f), val.array("b", i), val.volume("b", i).spacing)
                      for i, f in enumerate(files_vb)]
        data.val_patches = val
    log(f"data: {len(files_a)} {cfg.domains.a} + {len(files_b)} {cfg.domains.b} training volumes, "
        f"{len(files_va)} + {len(files_vb)} validation volumes" + (" (paired)" if data.paired else ""))
    return data
