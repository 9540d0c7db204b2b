"""The training engine: epochs, validation, best/last checkpoints, history, samples, TensorBoard.

``train(cfg, a_dir, b_dir, out, val_a=None, val_b=None, resume=False) -> Path`` is the public entry
point (the CLI and the demo call it). The objective lives in ``train/cyclegan.py``; this module
only drives it: it owns the order of things so that a run killed at any moment resumes from
``last.pt`` to the same history and (deterministic mode) the same weights.

Crash-consistency order at the end of an epoch: samples -> best.pt / epoch_NNNN.pt -> last.pt ->
history.csv. ``last.pt`` is the commit point; everything else is re-derivable from it.
"""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from cyclescan.config import Config
from cyclescan.errors import TrainingError
from cyclescan.faults import fault_point
from cyclescan.train import checkpoint as ckpt_mod
from cyclescan.train import distributed as dist_mod
from cyclescan.train.data_setup import TrainData, build_train_data
from cyclescan.train.history import History
from cyclescan.train.rundir import RunLog, RunPaths, StopFlag, check_run_dir, create_layout
from cyclescan.train.samples import write_samples
from cyclescan.train.validation import resolve_selection, sample_triplets, selection_score, validate


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed python/numpy/torch; in deterministic mode also force deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False


def train(cfg: Config, a_dir: str | Path, b_dir: str | Path, out: str | Path, val_a: str | Path | None = None,
          val_b: str | Path | None = None, resume: bool = False, log: Callable[[str], None] | None = None,
          progress: bool | None = None) -> Path:
    """Train a CycleGAN on the volumes in ``a_dir`` / ``b_dir``; write the run to ``out``.

    Validation uses ``val_a`` / ``val_b`` (both or neither; without them no val metrics and best.pt
    follows the train losses' G_total). Returns the path of the best checkpoint so far (last.pt when
    none was written), also when a stop signal ended the run early. Raises CycleScanError subclasses
    for user errors and TrainingError (exit 1) for a non-finite loss; SIGINT/SIGTERM save the
    resumable ``last.pt`` and return normally.
    """
    ctx = dist_mod.init_distributed(cfg.train.device)
    try:
        return Trainer(cfg, ctx, Path(out), resume, log, progress).run(a_dir, b_dir, val_a, val_b)
    finally:
        dist_mod.shutdown(ctx)


class Trainer:
    """One training run. Create, then ``run(...)``; state lives here between epochs."""

    def __init__(self, cfg: Config, ctx: dist_mod.DistContext, out: Path, resume: bool,
                 log: Callable[[str], None] | None, progress: bool | None) -> None:
        self.cfg, self.ctx, self.resume = cfg, ctx, resume
        self.paths = RunPaths(out)
        if ctx.is_main:
            check_run_dir(self.paths, cfg, resume)
        dist_mod.barrier(ctx)
        self._resume_ckpt = ckpt_mod.load_checkpoint(self.paths.last) if resume else None
        if self._resume_ckpt is not None:
            ckpt_mod.check_compatible(self._resume_ckpt, cfg)
        # Nothing is written to RUN until the inputs and the resume state are validated (run()):
        # a run refused for bad input leaves no new or modified file behind. Log lines wait in memory.
        self.log = log or RunLog(self.paths.log, enabled=ctx.is_main, deferred=True)
        self.progress = progress
        self.history = History()
        self.best: dict[str, Any] = {"metric": "", "value": math.inf, "epoch": 0}
        self.epoch, self.step, self.bad_validations = 0, 0, 0
        self.stop = StopFlag(self.log if isinstance(self.log, RunLog) else None)
        self.tb = None

    # ----------------------------------------------------------------------------------------
    def run(self, a_dir, b_dir, val_a, val_b) -> Path:
        cfg, ctx = self.cfg, self.ctx
        if cfg.train.num_threads:
            torch.set_num_threads(cfg.train.num_threads)
        seed_everything(cfg.train.seed + ctx.rank, cfg.train.deterministic)
        self.data: TrainData = build_train_data(cfg, a_dir, b_dir, val_a, val_b, ctx, self.log)
        self._build_model()
        partial = self._restore() if self._resume_ckpt is not None else None
        if ctx.is_main:
            create_layout(self.paths)
            cfg.save(self.paths.config)
        if isinstance(self.log, RunLog):
            self.log.start()
        self.selection = resolve_selection(cfg.train.selection_metric, self.data.paired)
        if ctx.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.paths.tensorboard), purge_step=self.epoch + 1 if self.resume else None)
        self.stop.install()
        try:
            for epoch in range(self.epoch + 1, cfg.train.epochs + 1):
                finished = self._train_epoch(epoch, partial)
                partial = None
                if not finished:  # stopped by a signal: last.pt is resumable; report the best so far
                    break
                if self._end_epoch(epoch):
                    break
                fault_point("epoch_end")  # crash-safety tests: epoch committed, next not started
        finally:
            self.stop.restore()
            if self.tb is not None:
                self.tb.close()
            if isinstance(self.log, RunLog):
                self.log.close()
        best = self.paths.best if self.paths.best.is_file() else self.paths.last
        return best

    # ----------------------------------------------------------------------------------------
    def _build_model(self) -> None:
        from cyclescan.nets import count_flops, count_parameters
        from cyclescan.train.cyclegan import CycleGAN

        cfg = self.cfg
        self.model = CycleGAN(cfg, list(cfg.data.patch_size), device=self.ctx.device, reference=self.data.reference)
        dist_mod.broadcast_module(self.ctx, self.model.networks().values())
        self.grad_sync = dist_mod.make_grad_sync(self.ctx)
        nets = self.model.networks()
        n_g = count_parameters(nets["G_ab"])
        n_d = count_parameters(nets["D_a"])
        shape = (1, 1, *cfg.data.patch_size)
        try:
            d_shape = (1, nets["D_a"].in_channels, *cfg.data.patch_size)  # image [+ position channels]
            fl_g, fl_d = count_flops(nets["G_ab"], shape), count_flops(nets["D_a"], d_shape)
            flops = f"; FLOPs per patch forward: G {fl_g / 1e9:.2f} G, D {fl_d / 1e9:.2f} G"
        except Exception as exc:  # noqa: BLE001 - a count is informative, never fatal
            flops = f"; FLOPs not counted ({exc.__class__.__name__})"
        self.log(f"generator {cfg.generator.arch}: {n_g:,} parameters each, discriminator: {n_d:,} each{flops}")
        self.log(f"device {self.ctx.device}, world size {self.ctx.world_size}, precision {cfg.train.precision}, "
                 f"patch {cfg.data.patch_size}, {self.data.steps_per_epoch} steps/epoch")

    def _restore(self) -> dict | None:
        ck = self._resume_ckpt
        try:
            self.model.load_state_dict(ck)
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()
            detail = first[0] + (f" {first[1].strip()}" if len(first) > 1 else "")
            raise ckpt_mod.CheckpointError(f"{self.paths.last}: cannot restore training state: {detail}") from exc
        self.epoch, self.step = int(ck["epoch"]), int(ck["step"])
        self.history = History.from_state(ck.get("history"))
        self.history.truncate(self.epoch)
        self.best = dict(ck.get("best") or self.best)
        self.bad_validations = int(ck.get("bad_validations", 0))
        self._rng = ck["rng"]
        partial = ck.get("partial")
        self.log(f"resumed from {self.paths.last}: {self.epoch} epochs done, step {self.step}"
                 + (f", {partial['steps_done']} steps into epoch {self.epoch + 1}" if partial else ""))
        self._resume_ckpt = None
        return partial

    # ----------------------------------------------------------------------------------------
    def _train_epoch(self, epoch: int, partial: dict | None) -> bool:
        """Train one epoch; False when a stop signal cut it short (after saving last.pt)."""
        from tqdm import tqdm

        cfg, ctx = self.cfg, self.ctx
        n_steps = self.data.steps_per_epoch
        skip = int(partial["steps_done"]) if partial else 0
        sums: dict[str, float] = dict(partial["sums"]) if partial else {}
        seconds = float(partial["seconds"]) if partial else 0.0
        wait = float(partial["data_wait"]) if partial else 0.0
        from cyclescan.data.loader import DataWaitMeter

        meter = DataWaitMeter()
        batches = self.data.epoch_batches(epoch, skip, meter)
        if hasattr(self, "_rng"):
            ckpt_mod.set_rng_state(self._rng)  # restore the exact saved state before the first step
            del self._rng
        show = ctx.is_main and (self.progress if self.progress is not None else _isatty())
        bar = tqdm(total=n_steps, initial=skip, desc=f"epoch {epoch}/{cfg.train.epochs}", disable=not show,
                   leave=False, dynamic_ncols=True)
        done = skip
        t0 = time.perf_counter()
        for batch in batches:
            real_a = batch["a"].to(ctx.device, non_blocking=True)
            real_b = batch["b"].to(ctx.device, non_blocking=True)
            try:
                losses = self.model.step(real_a, real_b, precision=cfg.train.precision, grad_sync=self.grad_sync,
                                         pos_a=batch.get("pos_a"), pos_b=batch.get("pos_b"))
            except TrainingError as exc:
                raise TrainingError(f"step {self.step + 1} (epoch {epoch}): {exc}; training stopped, "
                                    f"last good checkpoint kept at {self.paths.last}") from exc
            self.step += 1
            done += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            bar.update(1)
            bar.set_postfix({k: f"{losses[k]:.3f}" for k in ("G_total", "D_total", "cycle_a") if k in losses})
            if dist_mod.any_rank(ctx, self.stop.requested) and done < n_steps:
                bar.close()
                rest = {"steps_done": done, "sums": sums, "seconds": seconds + time.perf_counter() - t0,
                        "data_wait": wait + meter.wait_s + meter.first_wait_s}
                self._save_last(epoch - 1, partial=rest)
                self.log(f"stopped by {self.stop.signal_name or 'signal'} at step {self.step} "
                         f"(epoch {epoch}, {done}/{n_steps}); resume with --resume")
                return False
        bar.close()
        seconds += time.perf_counter() - t0
        wait += meter.wait_s
        self._epoch_train = {k: v / max(done, 1) for k, v in sums.items()}
        self._epoch_train = dist_mod.all_reduce_mean(ctx, self._epoch_train)
        self._epoch_time = (seconds, min(1.0, wait / max(meter.total_s, 1e-9)))
        return True

    def _end_epoch(self, epoch: int) -> bool:
        """Validate, write samples/checkpoints/history; True when training should stop now."""
        cfg, ctx = self.cfg, self.ctx
        lr = self.model.opt_G.param_groups[0]["lr"]
        self.model.scheduler_step()
        total_s, wait_frac = self._epoch_time
        row: dict[str, Any] = {"epoch": epoch, "step": self.step, "lr": lr, "seconds": round(total_s, 3),
                               "data_wait_frac": round(wait_frac, 4)}
        row.update({f"train_{k}": v for k, v in sorted(self._epoch_train.items())})
        validated = self.data.has_val and (epoch % cfg.train.val_every == 0 or epoch == cfg.train.epochs)
        improved = False
        if ctx.is_main:
            if validated:
                val = validate(self.model, self.data.val_a, self.data.val_b, window=cfg.data.patch_size,
                               divisor=self.data.divisor, device=ctx.device, precision=cfg.train.precision,
                               names=(cfg.domains.a, cfg.domains.b), patch_losses=self.data.val_patch_losses(self.model))
                row.update(val.scalars)
                score = selection_score(val.scalars, self.selection)
                if (epoch % cfg.train.sample_every == 0 or epoch == cfg.train.epochs) and val.triplets:
                    self._write_samples(epoch, val.triplets)
            elif not self.data.has_val:
                score = float(self._epoch_train.get("G_total", math.nan))
            else:
                score = math.nan
                if epoch % cfg.train.sample_every == 0:  # samples need no full validation
                    self._write_samples(epoch, sample_triplets(
                        self.model, self.data.val_a, self.data.val_b, window=cfg.data.patch_size,
                        divisor=self.data.divisor, device=ctx.device, precision=cfg.train.precision,
                        names=(cfg.domains.a, cfg.domains.b)))
            row["selection_score"] = score
            if not math.isnan(score):
                if score < self.best["value"]:
                    self.best = {"metric": self.selection if self.data.has_val else "train_G_total",
                                 "value": score, "epoch": epoch}
                    self.bad_validations, improved = 0, True
                else:
                    self.bad_validations += 1
            row["best"] = int(improved)
            self.history.append(row)
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch" and not (isinstance(v, float) and math.isnan(v)):
                    self.tb.add_scalar(k.replace("train_", "train/").replace("val_", "val/"), v, epoch)
            self.tb.flush()
            state = self._state(epoch)
            if improved:
                ckpt_mod.save_checkpoint(self.paths.best, state)
            if epoch % cfg.train.checkpoint_every == 0:
                ckpt_mod.save_checkpoint(self.paths.epoch_ckpt(epoch), state)
            ckpt_mod.save_checkpoint(self.paths.last, state)
            self.history.write_csv(self.paths.history)
            self.log(_summary(row, cfg.train.epochs))
        dist_mod.barrier(ctx)
        self.epoch = epoch
        patience = cfg.train.early_stop_patience
        stop = patience is not None and self.bad_validations >= patience
        if stop and ctx.is_main:
            self.log(f"early stop: no improvement of {self.best['metric']} for {patience} validations "
                     f"(best epoch {self.best['epoch']})")
        if dist_mod.any_rank(ctx, self.stop.requested):
            self.log(f"stopped by {self.stop.signal_name or 'signal'} after epoch {epoch}; resume with --resume")
            return True
        return dist_mod.any_rank(ctx, stop)

    # ----------------------------------------------------------------------------------------
    def _write_samples(self, epoch: int, triplets: list) -> None:
        """RUN/samples/epoch_NNNN.png (+ TensorBoard), planes named by ``data.orientation``."""
        if not triplets:
            return
        rgb = write_samples(self.paths.sample_png(epoch), triplets, title=f"epoch {epoch}",
                            spacing=self.data.val_a[0].spacing if self.data.val_a else None,
                            orientation=self.cfg.data.orientation)
        self.tb.add_image("samples", rgb, epoch, dataformats="HWC")

    def _state(self, epoch: int, partial: dict | None = None) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(), "epoch": epoch, "step": self.step,
            **self.model.state_dict(),  # nets, optim, sched, pools
            "rng": ckpt_mod.rng_state(),
            "norm": self.data.norm, "reference": self.data.reference,
            "history": self.history.state_dict(), "best": dict(self.best),
            "bad_validations": self.bad_validations, "partial": partial,
        }

    def _save_last(self, epoch: int, partial: dict | None) -> None:
        if self.ctx.is_main:
            ckpt_mod.save_checkpoint(self.paths.last, self._state(epoch, partial))
        dist_mod.barrier(self.ctx)


def _summary(row: dict[str, Any], epochs: int) -> str:
    keys = ("train_G_total", "train_D_total", "train_cycle_a", "train_cycle_b", "val_kl_a2b", "val_kl_b2a",
            "val_ssim_a2b", "val_ssim_b2a", "selection_score")
    parts = [f"epoch {row['epoch']}/{epochs}"]
    parts += [f"{k}={row[k]:.4g}" for k in keys if k in row and isinstance(row[k], float)]
    parts.append(f"lr={row['lr']:.2e} {row['seconds']:.1f}s wait={100 * row['data_wait_frac']:.1f}%")
    if row.get("best"):
        parts.append("*best*")
    return " ".join(parts)


def _isatty() -> bool:
    import sys

    return sys.stderr.isatty()
