"""DDP on CPU: 2 gloo processes, gradients averaged by GradSync, replicas stay identical."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cyclescan.train import distributed as D


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str, use_cyclegan: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = D.init_distributed("cpu")
    assert ctx.enabled and ctx.rank == rank
    torch.manual_seed(100 + rank)  # different init per rank: broadcast must fix it
    if use_cyclegan:
        from cyclescan.config import Config
        from cyclescan.train.cyclegan import CycleGAN

        cfg = Config().with_overrides([
            "data.patch_size=[8,16,16]", "generator.base_channels=4", "generator.depth=2",
            "discriminator.base_channels=4", "discriminator.n_layers=2", "train.precision=fp32", "train.pool_size=0"])
        model = CycleGAN(cfg, [8, 16, 16])
        nets = model.networks()
        D.broadcast_module(ctx, nets.values())
        sync = D.make_grad_sync(ctx)
        for step in range(2):
            g = torch.Generator().manual_seed(1000 * rank + step)  # each rank: its own data
            a = torch.rand(1, 1, 8, 16, 16, generator=g) * 2 - 1
            b = torch.rand(1, 1, 8, 16, 16, generator=g) * 2 - 1
            model.step(a, b, precision="fp32", grad_sync=sync)
        state = {k: v.state_dict() for k, v in nets.items()}
    else:
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        D.broadcast_module(ctx, [net])
        opt = torch.optim.Adam(net.parameters(), lr=0.1)
        sync = D.GradSync(ctx)
        grads = []
        for step in range(3):
            x = torch.full((5, 4), float(rank + 1) * (step + 1))
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            local = [p.grad.clone() for p in net.parameters()]
            sync(net)
            grads.append((local, [p.grad.clone() for p in net.parameters()]))
            opt.step()
        state = {"net": net.state_dict(), "grads": grads}
    mean = D.all_reduce_mean(ctx, {"x": float(rank)})
    state["mean"] = mean["x"]
    torch.save(state, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.barrier()
    D.shutdown(ctx)


def _run(tmp_path, use_cyclegan: bool) -> list[dict]:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), use_cyclegan), nprocs=2, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]


def test_single_process_is_noop(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = D.init_distributed("cpu")
    assert not ctx.enabled and ctx.is_main and D.make_grad_sync(ctx) is None
    assert D.all_reduce_mean(ctx, {"a": 2.0}) == {"a": 2.0}
    assert D.shard(list(range(5)), ctx) == [0, 1, 2, 3, 4]
    assert D.shard(list(range(5)), D.DistContext(rank=1, world_size=2)) == [1, 3]


def test_two_process_grad_average_and_identical_weights(tmp_path):
    r0, r1 = _run(tmp_path, use_cyclegan=False)
    for k in r0["net"]:
        assert torch.equal(r0["net"][k], r1["net"][k]), k
    # the synced gradient is the mean of the two ranks' local gradients
    for (l0, s0), (l1, s1) in zip(r0["grads"], r1["grads"]):
        for a, b, sa, sb in zip(l0, l1, s0, s1):
            assert not torch.allclose(a, b)  # ranks saw different data
            torch.testing.assert_close(sa, (a + b) / 2)
            assert torch.equal(sa, sb)
    assert r0["mean"] == r1["mean"] == 0.5


@pytest.mark.slow
def test_two_process_cyclegan_steps_identical(tmp_path):
    pytest.importorskip("cyclescan.train.cyclegan")
    r0, r1 = _run(tmp_path, use_cyclegan=True)
    for name in ("G_ab", "G_ba", "D_a", "D_b"):
        for k in r0[name]:
            assert torch.equal(r0[name][k], r1[name][k]), f"{name}.{k}"
