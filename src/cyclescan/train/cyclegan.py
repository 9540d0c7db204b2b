"""The CycleGAN objective in one place (after junyanz ``cycle_gan_model.py``).

Domains A and B; ``G_ab``: A -> B, ``G_ba``: B -> A; ``D_a`` judges A images, ``D_b`` B images.

    fake_b = G_ab(real_a)    rec_a = G_ba(fake_b)      fake_a = G_ba(real_b)    rec_b = G_ab(fake_a)

    G_adv_ab = adv_G(D_b(fake_b))          G_adv_ba = adv_G(D_a(fake_a))
    cycle_a  = |rec_a - real_a|            cycle_b  = |rec_b - real_b|
    idt_a    = |G_ba(real_a) - real_a|     idt_b    = |G_ab(real_b) - real_b|
               (the generator that *outputs* domain X, applied to an X image, should be identity)

    prior_ab = |fake_b - P_ab(real_a)|     prior_ba = |fake_a - P_ba(real_b)|
               (P: the fixed monotone histogram mapping of train/prior.py, from the training quantiles)

    G_total  = G_adv_ab + G_adv_ba + lambda_cycle * (cycle_a + cycle_b)
               + identity_weight * lambda_cycle * (idt_a + idt_b)
               + histogram_prior_weight * lambda_cycle * (prior_ab + prior_ba)
    D_a      = 0.5 * (adv_D(D_a(real_a)) real + adv_D(D_a(pool_a(fake_a))) fake),   D_b likewise
               [+ band_negative_weight * 0.5 * adv_D(D_a(N(real_a))) fake: N moves one intensity
                band of a real patch (train/negatives.py), experimental]

The generator terms are computed with D_a/D_b frozen (no gradient reaches them); the
discriminator terms on detached (pooled) fakes. All tensors are (B, 1, D, H, W) in [-1, 1].

Position-aware discriminators (``discriminator.positions``): each D input is the image with its
patch's position map (pos_a, pos_b: (B, 3, D, H, W), data/patches.py) as 3 more channels. A fake
sits where its *source* patch was: D_b(fake_b | pos_a), D_a(fake_a | pos_b); the pools store the
fakes with their positions. Why: unpaired, a generator can give a small tissue a level that is
plausible somewhere in the target domain but wrong *there* (phantom fluid and ACL, docs/results.md);
the position lets D learn what each region of the anatomy looks like. Measured on the phantom: no
gain, and the trained discriminators stay blind to those levels (docs/results.md section 5).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, ContextManager, Iterable, Iterator, Sequence

import torch
from torch import nn

from cyclescan.config import Config
from cyclescan.nets.precision import PRECISIONS, precision_autocast
from cyclescan.errors import TrainingError
from cyclescan.faults import fault_point
from cyclescan.nets import build_discriminator, build_generator, to_memory_format
from cyclescan.train.losses import AdversarialLoss, l1_loss
from cyclescan.train.negatives import BandNegatives
from cyclescan.train.pool import ImagePool
from cyclescan.train.prior import HistogramPrior

GradSync = Callable[[list[nn.Parameter]], None]
Autocast = str | Callable[[], ContextManager[Any]] | None


def linear_decay_factor(epoch: int, total_epochs: int, decay_epochs: int) -> float:
    """LR multiplier for 0-based ``epoch``: 1 for the first total-decay epochs, then linear to 0.

    Same rule as the original CycleGAN: 1 - max(0, epoch - (total - decay) + 1) / (decay + 1);
    the last epoch trains at lr / (decay + 1) and the LR reaches 0 after it.
    """
    start = total_epochs - decay_epochs
    return max(0.0, 1.0 - max(0, epoch - start + 1) / float(decay_epochs + 1))


@contextlib.contextmanager
def frozen(*nets: nn.Module) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on the parameters of ``nets`` (restored after)."""
    params = [p for n in nets for p in n.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


def autocast_context(spec: Autocast, device: torch.device) -> ContextManager[Any]:
    """A context manager from a precision string ('auto' / 'fp32' / 'bf16'), a factory, or None (= fp32)."""
    if spec is None:
        return contextlib.nullcontext()
    if isinstance(spec, str) and spec in PRECISIONS:
        return precision_autocast(spec, device.type)
    if callable(spec):
        return spec()
    raise ValueError(f"unknown precision {spec!r} (expected 'fp32', 'bf16' or a context manager factory)")


class CycleGAN:
    """Two generators, two PatchGAN discriminators, their optimizers, LR schedules and image pools.

    Built from ``cfg`` for training patches of ``patch_size`` (D, H, W); weights are initialised
    from ``cfg.train.seed`` (independent of the global RNG), pools are seeded from it too.
    ``reference``: the domains' training quantiles {'a', 'b'} (``TrainData.reference``), needed
    only when ``loss.histogram_prior_weight`` > 0 or ``generator.histogram_base`` (both use the
    histogram map of train/prior.py; the base's tables are set here, before any weight loading).
    """

    def __init__(self, cfg: Config, patch_size: Sequence[int], device: str | torch.device | None = None,
                 reference: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.patch_size = [int(p) for p in patch_size]
        self.channels_last = bool(cfg.train.channels_last)
        self.positions = bool(cfg.discriminator.positions)
        g = torch.Generator().manual_seed(cfg.train.seed)
        self.G_ab = build_generator(cfg, self.patch_size, generator=g)
        self.G_ba = build_generator(cfg, self.patch_size, generator=g)
        self.D_a = build_discriminator(cfg, self.patch_size, generator=g)
        self.D_b = build_discriminator(cfg, self.patch_size, generator=g)
        for net in self.networks().values():
            to_memory_format(net, self.channels_last)
        self.adv = AdversarialLoss(cfg.loss.gan_mode)
        self.lambda_cycle = float(cfg.loss.lambda_cycle)
        self.lambda_idt = float(cfg.loss.identity_weight) * self.lambda_cycle
        self.lambda_prior = float(cfg.loss.histogram_prior_weight) * self.lambda_cycle
        self.prior: HistogramPrior | None = None
        if self.lambda_prior > 0 or cfg.generator.histogram_base:
            if reference is None:
                raise ValueError("loss.histogram_prior_weight > 0 and generator.histogram_base need the "
                                 "training reference quantiles")
            self.prior = HistogramPrior(reference)
            if cfg.generator.histogram_base:
                self.G_ab.base.set_table(self.prior.tables["a2b"])
                self.G_ba.base.set_table(self.prior.tables["b2a"])
        o = cfg.optim
        betas = (o.beta1, o.beta2)
        self.opt_G = torch.optim.Adam(self.generator_parameters(), lr=o.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.discriminator_parameters(), lr=o.lr * o.d_lr_factor, betas=betas)
        total, decay = cfg.train.epochs, cfg.decay_epochs()

        def rule(epoch: int) -> float:
            return linear_decay_factor(epoch, total, decay)

        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, rule)
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, rule)
        self.pool_a = ImagePool(cfg.train.pool_size, seed=cfg.train.seed + 1)
        self.pool_b = ImagePool(cfg.train.pool_size, seed=cfg.train.seed + 2)
        self.lambda_neg = float(cfg.loss.band_negative_weight)
        self.negatives = BandNegatives(seed=cfg.train.seed + 3) if self.lambda_neg > 0 else None
        if device is not None:
            self.to(device)

    # ---------------------------------------------------------------------------------- plumbing
    def networks(self) -> dict[str, nn.Module]:
        """{'G_ab', 'G_ba', 'D_a', 'D_b'} -> module."""
        return {"G_ab": self.G_ab, "G_ba": self.G_ba, "D_a": self.D_a, "D_b": self.D_b}

    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters of G_ab then G_ba (one optimizer for both, as the original)."""
        return [*self.G_ab.parameters(), *self.G_ba.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """Parameters of D_a then D_b."""
        return [*self.D_a.parameters(), *self.D_b.parameters()]

    @property
    def device(self) -> torch.device:
        """Device of the networks."""
        return next(self.G_ab.parameters()).device

    def to(self, device: str | torch.device) -> "CycleGAN":
        """Move the networks (in place: optimizers keep their parameter references) and return self."""
        for net in self.networks().values():
            net.to(device)
        for opt in (self.opt_G, self.opt_D):  # moment buffers after a load_state_dict on another device
            for state in opt.state.values():
                for k, v in state.items():
                    if torch.is_tensor(v) and k != "step":
                        state[k] = v.to(device)
        return self

    def train(self, mode: bool = True) -> "CycleGAN":
        """Set all four networks to training (or eval) mode."""
        for net in self.networks().values():
            net.train(mode)
        return self

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x

    def d_input(self, image: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        """What a discriminator judges: ``image`` (B, 1, D, H, W), with ``pos`` (B, 3, D, H, W)
        appended as channels when ``discriminator.positions`` (then ``pos`` is required)."""
        if not self.positions:
            return image
        if pos is None:
            raise ValueError("discriminator.positions is set: the batch must carry pos_a / pos_b "
                             "(UnpairedPatchDataset(positions=True))")
        return torch.cat([image, self._prep(pos).to(image.dtype)], dim=1)

    def fake_d_inputs(self, fake_a: torch.Tensor, fake_b: torch.Tensor, pos_a: torch.Tensor | None,
                      pos_b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The D inputs of the fakes (detached), each at its *source* patch's position:
        fake_a = G_ba(real_b) with pos_b, fake_b = G_ab(real_a) with pos_a."""
        return self.d_input(fake_a.detach(), pos_b), self.d_input(fake_b.detach(), pos_a)

    # --------------------------------------------------------------------------------- objective
    def generator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor,
        pos_a: torch.Tensor | None = None, pos_b: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(G_total, terms, fakes): see the module docstring. D_a/D_b are frozen during the pass.
        ``pos_a`` / ``pos_b``: the patches' position maps (only with ``discriminator.positions``).

        terms: G_adv_ab, G_adv_ba, cycle_a, cycle_b, idt_a, idt_b, prior_ab, prior_ba (0-dim,
        unweighted; idt_* / prior_* are zeros when their weight is 0). fakes: fake_a, fake_b,
        rec_a, rec_b (B,1,D,H,W).
        """
        real_a, real_b = self._prep(real_a), self._prep(real_b)
        with frozen(self.D_a, self.D_b):
            fake_b = self.G_ab(real_a)
            rec_a = self.G_ba(fake_b)
            fake_a = self.G_ba(real_b)
            rec_b = self.G_ab(fake_a)
            terms = {
                "G_adv_ab": self.adv.generator(self.D_b(self.d_input(fake_b, pos_a))),
                "G_adv_ba": self.adv.generator(self.D_a(self.d_input(fake_a, pos_b))),
                "cycle_a": l1_loss(rec_a, real_a),
                "cycle_b": l1_loss(rec_b, real_b),
            }
            zero = torch.zeros((), device=real_a.device)  # a disabled term (weight 0) is logged as 0
            if self.lambda_idt > 0:
                terms["idt_a"] = l1_loss(self.G_ba(real_a), real_a)
                terms["idt_b"] = l1_loss(self.G_ab(real_b), real_b)
            else:
                terms["idt_a"], terms["idt_b"] = zero.clone(), zero.clone()
            if self.prior is not None and self.lambda_prior > 0:  # no extra generator pass: the fakes are here
                terms["prior_ab"] = l1_loss(fake_b, self.prior(real_a, "a2b"))
                terms["prior_ba"] = l1_loss(fake_a, self.prior(real_b, "b2a"))
            else:
                terms["prior_ab"], terms["prior_ba"] = zero.clone(), zero.clone()
        total = (
            terms["G_adv_ab"]
            + terms["G_adv_ba"]
            + self.lambda_cycle * (terms["cycle_a"] + terms["cycle_b"])
            + self.lambda_idt * (terms["idt_a"] + terms["idt_b"])
            + self.lambda_prior * (terms["prior_ab"] + terms["prior_ba"])
        )
        fakes = {"fake_a": fake_a, "fake_b": fake_b, "rec_a": rec_a, "rec_b": rec_b}
        return total, terms, fakes

    def discriminator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor,
        neg_a: torch.Tensor | None = None, neg_b: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(D_total, {'D_a', 'D_b'}): 0.5 * (real + fake) per discriminator; fakes are detached.

        With ``discriminator.positions`` every argument is a D input (``d_input``: image + position
        channels), the fakes' with their source patch's position. ``neg_a`` / ``neg_b``: band
        negatives of the real batches (D inputs too); with them D_a / D_b also get
        ``band_negative_weight * 0.5 * fake_term(D(neg))``, logged as D_neg_a / D_neg_b."""
        real_a, real_b = self._prep(real_a), self._prep(real_b)
        fake_a, fake_b = self._prep(fake_a.detach()), self._prep(fake_b.detach())
        terms = {
            "D_a": self.adv.discriminator(self.D_a(real_a), self.D_a(fake_a)),
            "D_b": self.adv.discriminator(self.D_b(real_b), self.D_b(fake_b)),
        }
        total = terms["D_a"] + terms["D_b"]
        if neg_a is not None and neg_b is not None:
            terms["D_neg_a"] = 0.5 * self.adv.fake_term(self.D_a(self._prep(neg_a)))
            terms["D_neg_b"] = 0.5 * self.adv.fake_term(self.D_b(self._prep(neg_b)))
            total = total + self.lambda_neg * (terms["D_neg_a"] + terms["D_neg_b"])
        return total, terms

    # ------------------------------------------------------------------------------------- step
    def step(
        self,
        real_a: torch.Tensor,
        real_b: torch.Tensor,
        autocast: Autocast = None,
        grad_sync: GradSync | None = None,
        *,
        precision: str | None = None,
        pos_a: torch.Tensor | None = None,
        pos_b: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """One CycleGAN step: G update (D frozen), then D update on pooled fakes.

        ``autocast`` (or its alias ``precision``): 'fp32', 'bf16' or a context-manager factory for
        the forward passes. ``grad_sync(params)`` runs after each backward, before each optimizer
        step (DDP gradient all-reduce). Both losses are computed and checked before either
        optimizer steps (D's loss depends only on D and the detached pre-update fakes, so this is
        the original order's math): a non-finite loss raises TrainingError and no weight changes.
        ``pos_a`` / ``pos_b``: the patches' position maps, required with ``discriminator.positions``.
        Returns every term, G_total and D_total as floats.
        """
        ac = autocast if autocast is not None else precision
        real_a, real_b = self._prep(real_a), self._prep(real_b)
        self.opt_G.zero_grad(set_to_none=True)
        self.opt_D.zero_grad(set_to_none=True)
        with autocast_context(ac, real_a.device):
            g_total, g_terms, fakes = self.generator_losses(real_a, real_b, pos_a, pos_b)
        g_vals = _finite_floats({"G_total": g_total, **g_terms})
        # With positions the pools keep each fake with its position (a pooled fake is judged where it was made).
        fake_in_a, fake_in_b = self.fake_d_inputs(fakes["fake_a"], fakes["fake_b"], pos_a, pos_b)
        pooled_a, pooled_b = self.pool_a.query(fake_in_a), self.pool_b.query(fake_in_b)
        negs = {}
        if self.negatives is not None:
            negs = {"neg_a": self.d_input(self.negatives.make(real_a), pos_a),
                    "neg_b": self.d_input(self.negatives.make(real_b), pos_b)}
        with autocast_context(ac, real_a.device):
            d_total, d_terms = self.discriminator_losses(self.d_input(real_a, pos_a), self.d_input(real_b, pos_b),
                                                         pooled_a, pooled_b, **negs)
        d_vals = _finite_floats({"D_total": d_total, **d_terms})

        g_total.backward()
        _sync_and_step(self.opt_G, self.generator_parameters(), grad_sync)
        fault_point("step")  # crash-safety tests: G updated, D not yet
        d_total.backward()
        _sync_and_step(self.opt_D, self.discriminator_parameters(), grad_sync)

        out = {k: g_vals[k] for k in g_terms} | {k: d_vals[k] for k in d_terms}
        out["G_total"] = g_vals["G_total"]
        out["D_total"] = d_vals["D_total"]
        return out

    def scheduler_step(self) -> None:
        """Advance both LR schedules by one epoch (call once at the end of every epoch)."""
        self.sched_G.step()
        self.sched_D.step()

    @property
    def lr(self) -> float:
        """Current generator learning rate (G and D follow the same schedule)."""
        return float(self.opt_G.param_groups[0]["lr"])

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        """'a2b' -> G_ab(x), 'b2a' -> G_ba(x); x (B,1,D,H,W) in [-1,1] -> same shape in [-1,1]."""
        nets = {"a2b": self.G_ab, "b2a": self.G_ba}
        if direction not in nets:
            raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
        return nets[direction](self._prep(x)).contiguous()

    # ------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """{'nets', 'optim', 'sched', 'pools'}: tensors/plain types, ``torch.load(weights_only=True)`` safe."""
        return {
            "nets": {k: v.state_dict() for k, v in self.networks().items()},
            "optim": {"G": self.opt_G.state_dict(), "D": self.opt_D.state_dict()},
            "sched": {"G": self.sched_G.state_dict(), "D": self.sched_D.state_dict()},
            "pools": {"a": self.pool_a.state_dict(), "b": self.pool_b.state_dict()},
            **({"negatives": self.negatives.state_dict()} if self.negatives is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved (networks strictly; optimizer state moved to our device)."""
        for k, net in self.networks().items():
            net.load_state_dict(state["nets"][k])
        self.opt_G.load_state_dict(state["optim"]["G"])
        self.opt_D.load_state_dict(state["optim"]["D"])
        self.sched_G.load_state_dict(state["sched"]["G"])
        self.sched_D.load_state_dict(state["sched"]["D"])
        self._apply_schedule()
        self.pool_a.load_state_dict(state["pools"]["a"])
        self.pool_b.load_state_dict(state["pools"]["b"])
        if self.negatives is not None and "negatives" in state:
            self.negatives.load_state_dict(state["negatives"])

    def _apply_schedule(self) -> None:
        """After a restore: every group's LR and betas from *this* config's schedule at the restored
        epoch (``optim.lr`` [x ``optim.d_lr_factor`` for D] x rule(completed epochs)), not the saved
        last LR of the old schedule.
        With an unchanged config this is exactly what was saved (exact resume); with a changed
        ``train.epochs`` / ``optim.lr`` / betas the resumed run follows the new schedule (the
        saved LR of a finished run is 0, which would otherwise train the first new epoch at 0)."""
        o = self.cfg.optim
        for opt, sched, base in ((self.opt_G, self.sched_G, float(o.lr)),
                                 (self.opt_D, self.sched_D, float(o.lr) * float(o.d_lr_factor))):
            sched.base_lrs = [base] * len(opt.param_groups)
            factor = sched.lr_lambdas[0](sched.last_epoch)
            for group in opt.param_groups:
                group["initial_lr"], group["lr"], group["betas"] = base, base * factor, (o.beta1, o.beta2)
            sched._last_lr = [g["lr"] for g in opt.param_groups]


def _finite_floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """{name: float(term)} (one host sync per term, reused for the step's return value);
    TrainingError naming the first non-finite term, in ``terms`` order."""
    out: dict[str, float] = {}
    for name, value in terms.items():
        v = float(value.detach())
        if not math.isfinite(v):
            raise TrainingError(f"non-finite loss {name} = {v}")
        out[name] = v
    return out


def _sync_and_step(opt: torch.optim.Optimizer, params: Iterable[nn.Parameter], grad_sync: GradSync | None) -> None:
    if grad_sync is not None:
        grad_sync(list(params))
    opt.step()
