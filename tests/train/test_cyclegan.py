"""The CycleGAN objective: wiring of every loss term, step, NaN guard, LR schedule, state, determinism."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from cyclescan.config import Config
from cyclescan.errors import TrainingError
from cyclescan.train.cyclegan import CycleGAN, linear_decay_factor

PATCH = [8, 16, 16]


def tiny_cfg(**train) -> Config:
    cfg = Config()
    cfg.generator.base_channels, cfg.generator.depth = 4, 2
    cfg.discriminator.base_channels, cfg.discriminator.n_layers = 4, 2
    cfg.train.pool_size = 2
    cfg.train.channels_last = False
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 1, *PATCH, generator=g) * 2 - 1, torch.rand(1, 1, *PATCH, generator=g) * 2 - 1)


def reached(model: CycleGAN) -> set[str]:
    """Names of the networks with a non-zero gradient somewhere."""
    return {
        name
        for name, net in model.networks().items()
        if any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    }


def zero_grads(model: CycleGAN) -> None:
    for net in model.networks().values():
        net.zero_grad(set_to_none=True)


@pytest.fixture(scope="module")
def model() -> CycleGAN:
    return CycleGAN(tiny_cfg(), PATCH)


G_WIRING = {
    "G_adv_ab": {"G_ab"},  # D_b judges G_ab's fakes; D_b itself is frozen in the G pass
    "G_adv_ba": {"G_ba"},
    "cycle_a": {"G_ab", "G_ba"},
    "cycle_b": {"G_ab", "G_ba"},
    "idt_a": {"G_ba"},  # the generator that outputs A, applied to an A image
    "idt_b": {"G_ab"},
}


@pytest.mark.parametrize("term,expected", sorted(G_WIRING.items()))
def test_generator_term_reaches_only_intended_nets(model, term, expected):
    real_a, real_b = batch()
    zero_grads(model)
    _, terms, _ = model.generator_losses(real_a, real_b)
    terms[term].backward()
    assert reached(model) == expected
    assert all(p.requires_grad for p in model.D_a.parameters())  # unfrozen after the pass


@pytest.mark.parametrize("term,expected", [("D_a", {"D_a"}), ("D_b", {"D_b"})])
def test_discriminator_term_reaches_only_its_net(model, term, expected):
    real_a, real_b = batch()
    _, _, fakes = model.generator_losses(real_a, real_b)
    zero_grads(model)
    _, terms = model.discriminator_losses(real_a, real_b, fakes["fake_a"], fakes["fake_b"])
    terms[term].backward()
    assert reached(model) == expected


def test_terms_use_the_documented_generators(model):
    real_a, real_b = batch()
    adv = model.adv
    with torch.no_grad():
        total, terms, fakes = model.generator_losses(real_a, real_b)
        fake_b, fake_a = model.G_ab(real_a), model.G_ba(real_b)
        assert torch.equal(fakes["fake_b"], fake_b) and torch.equal(fakes["fake_a"], fake_a)
        assert torch.equal(fakes["rec_a"], model.G_ba(fake_b))
        assert torch.equal(fakes["rec_b"], model.G_ab(fake_a))
        expect = {
            "G_adv_ab": adv.generator(model.D_b(fake_b)),
            "G_adv_ba": adv.generator(model.D_a(fake_a)),
            "cycle_a": (model.G_ba(fake_b) - real_a).abs().mean(),
            "cycle_b": (model.G_ab(fake_a) - real_b).abs().mean(),
            "idt_a": (model.G_ba(real_a) - real_a).abs().mean(),
            "idt_b": (model.G_ab(real_b) - real_b).abs().mean(),
        }
    for k, v in expect.items():
        torch.testing.assert_close(terms[k], v)
    lam, idt = model.cfg.loss.lambda_cycle, model.cfg.loss.identity_weight
    by_hand = (
        expect["G_adv_ab"] + expect["G_adv_ba"] + lam * (expect["cycle_a"] + expect["cycle_b"])
        + idt * lam * (expect["idt_a"] + expect["idt_b"])
    )
    torch.testing.assert_close(total, by_hand)


def test_discriminator_terms_score_their_own_domain():
    """D_a judges real A against fake A (= G_ba(real_b)), D_b real B against fake B; real first."""
    real_a, real_b = batch()
    m = CycleGAN(tiny_cfg(), PATCH)
    adv = m.adv
    with torch.no_grad():
        _, _, fakes = m.generator_losses(real_a, real_b)
        total, terms = m.discriminator_losses(real_a, real_b, fakes["fake_a"], fakes["fake_b"])
        expect_a = adv.discriminator(m.D_a(real_a), m.D_a(m.G_ba(real_b)))
        expect_b = adv.discriminator(m.D_b(real_b), m.D_b(m.G_ab(real_a)))
        swapped_b = adv.discriminator(m.D_b(m.G_ab(real_a)), m.D_b(real_b))
    torch.testing.assert_close(terms["D_a"], expect_a)
    torch.testing.assert_close(terms["D_b"], expect_b)
    torch.testing.assert_close(total, expect_a + expect_b)
    assert not torch.allclose(terms["D_b"], swapped_b)  # real/fake order matters for this D


def test_step_pools_each_domain_fakes_for_its_discriminator(monkeypatch):
    """The pool feeding D_a holds fake A images (G_ba's output), the pool feeding D_b fake B."""
    m = CycleGAN(tiny_cfg(), PATCH)
    real_a, real_b = batch()
    with torch.no_grad():
        fake_a, fake_b = m.G_ba(real_b), m.G_ab(real_a)
    seen: dict[str, torch.Tensor] = {}
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def spy_pool(name: str, query):
        def wrapped(x: torch.Tensor) -> torch.Tensor:
            seen[name] = x.detach().clone()
            return query(x)
        return wrapped

    def spy_d(ra, rb, pa, pb, _orig=m.discriminator_losses):
        calls.append((pa.detach().clone(), pb.detach().clone()))
        return _orig(ra, rb, pa, pb)

    for name in ("pool_a", "pool_b"):
        monkeypatch.setattr(getattr(m, name), "query", spy_pool(name, getattr(m, name).query))
    monkeypatch.setattr(m, "discriminator_losses", spy_d)
    m.step(real_a, real_b, autocast="fp32")
    torch.testing.assert_close(seen["pool_a"], fake_a)
    torch.testing.assert_close(seen["pool_b"], fake_b)
    torch.testing.assert_close(calls[0][0], fake_a)  # first query: the pool returns the new fake
    torch.testing.assert_close(calls[0][1], fake_b)


def test_identity_weight_zero_disables_identity():
    cfg = tiny_cfg()
    cfg.loss.identity_weight = 0.0
    m = CycleGAN(cfg, PATCH)
    _, terms, _ = m.generator_losses(*batch())
    assert terms["idt_a"].item() == 0.0 and terms["idt_b"].item() == 0.0


def _params(m: CycleGAN) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.detach().clone() for n, net in m.networks().items() for k, v in net.state_dict().items()}


def test_step_updates_all_four_nets_and_calls_grad_sync():
    m = CycleGAN(tiny_cfg(), PATCH)
    before = _params(m)
    calls: list[int] = []
    out = m.step(*batch(), autocast="fp32", grad_sync=lambda ps: calls.append(len(ps)))
    assert set(out) == {*G_WIRING, "prior_ab", "prior_ba", "D_a", "D_b", "G_total", "D_total"}
    assert all(isinstance(v, float) for v in out.values())
    after = _params(m)
    for name in m.networks():
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(name + "."))
    assert calls == [len(m.generator_parameters()), len(m.discriminator_parameters())]
    assert len(m.pool_a) == 1 and len(m.pool_b) == 1


def test_step_bf16_and_factory_autocast():
    m = CycleGAN(tiny_cfg(), PATCH)
    out = m.step(*batch(), precision="bf16")
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    entered: list[bool] = []

    @contextlib.contextmanager
    def factory():
        entered.append(True)
        yield

    m.step(*batch(1), autocast=factory)
    assert len(entered) == 2  # G pass and D pass


def test_non_finite_loss_raises_and_keeps_weights():
    m = CycleGAN(tiny_cfg(), PATCH)
    before = _params(m)
    real_a, real_b = batch()
    real_a[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(TrainingError, match="non-finite loss"):
        m.step(real_a, real_b)
    after = _params(m)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not m.opt_G.state and not m.opt_D.state


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_lr_schedule_constant_then_linear_to_zero():
    m = CycleGAN(tiny_cfg(epochs=4), PATCH)  # decay_epochs null -> epochs // 2 = 2
    lr = m.cfg.optim.lr
    seen = []
    for _ in range(5):
        seen.append((m.lr, m.opt_D.param_groups[0]["lr"]))
        m.scheduler_step()
    expected = [lr, lr, lr * 2 / 3, lr * 1 / 3, 0.0]
    assert [g for g, _ in seen] == pytest.approx(expected)
    assert [d for _, d in seen] == pytest.approx(expected)
    assert linear_decay_factor(0, 100, 0) == 1.0 and linear_decay_factor(99, 100, 0) == 1.0
    assert linear_decay_factor(99, 100, 50) == pytest.approx(1 / 51)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_d_lr_factor_scales_the_discriminators_schedule_and_survives_a_restore():
    cfg = tiny_cfg(epochs=4)
    cfg.optim.d_lr_factor = 4.0
    m = CycleGAN(cfg, PATCH)
    lr = cfg.optim.lr
    seen = []
    for _ in range(3):
        seen.append((m.lr, m.opt_D.param_groups[0]["lr"]))
        m.scheduler_step()
    assert [g for g, _ in seen] == pytest.approx([lr, lr, lr * 2 / 3])
    assert [d for _, d in seen] == pytest.approx([4 * lr, 4 * lr, 4 * lr * 2 / 3])
    again = CycleGAN(cfg, PATCH)
    again.load_state_dict(_round_trip(m.state_dict()))  # epoch 3 of 4: factor 1/3
    assert again.lr == pytest.approx(lr / 3)
    assert again.opt_D.param_groups[0]["lr"] == pytest.approx(4 * lr / 3)


def _round_trip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_state_round_trip_and_deterministic_resume(dropout):
    """Two models from the same state, fed the same batches, end with identical weights."""
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        cfg = tiny_cfg(epochs=4)
        cfg.discriminator.dropout = dropout
        cfg.discriminator.spectral_norm = dropout > 0
        m1 = CycleGAN(cfg, PATCH)
        torch.manual_seed(0)
        for i in range(3):  # fill the pools (size 2) so replay is exercised
            m1.step(*batch(i))
        m1.scheduler_step()
        m2 = CycleGAN(cfg, PATCH)
        m2.load_state_dict(_round_trip(m1.state_dict()))
        s1, s2 = _params(m1), _params(m2)
        assert all(torch.equal(s1[k], s2[k]) for k in s1)
        assert m2.lr == m1.lr and len(m2.pool_a) == 2
        for m in (m1, m2):
            torch.manual_seed(123)
            for i in range(3, 6):
                m.step(*batch(i))
        s1, s2 = _params(m1), _params(m2)
        assert all(torch.equal(s1[k], s2[k]) for k in s1)
    finally:
        torch.use_deterministic_algorithms(prev)


def test_same_seed_same_init_and_translate_directions():
    m1, m2 = CycleGAN(tiny_cfg(), PATCH), CycleGAN(tiny_cfg(), PATCH)
    assert all(torch.equal(a, b) for a, b in zip(m1.G_ab.parameters(), m2.G_ab.parameters()))
    assert not torch.equal(next(m1.G_ab.parameters()), next(m1.G_ba.parameters()))
    x = batch()[0]
    with torch.no_grad():
        assert torch.equal(m1.translate(x, "a2b"), m1.G_ab(x))
        assert torch.equal(m1.translate(x, "b2a"), m1.G_ba(x))
    with pytest.raises(ValueError, match="direction"):
        m1.translate(x, "ab")


def test_channels_last_model_matches_contiguous():
    cfg_cl = tiny_cfg(channels_last=True)
    m_cl, m = CycleGAN(cfg_cl, PATCH), CycleGAN(tiny_cfg(), PATCH)
    torch.manual_seed(0)
    out_cl = m_cl.step(*batch())
    torch.manual_seed(0)
    out = m.step(*batch())
    assert out_cl == pytest.approx(out, rel=1e-4, abs=1e-5)
