"""The training engine on a tiny synthetic dataset: artifacts, guards, selection, early stop."""

from __future__ import annotations

import math

import pytest
import torch

from cyclescan.errors import CheckpointError, ConfigError, TrainingError
from cyclescan.train import checkpoint as ck
from cyclescan.train.history import History
from cyclescan.train.trainer import train

from tiny_run import tiny_cfg


@pytest.fixture
def dataset(tiny_dataset):
    return tiny_dataset


@pytest.fixture
def finished_run(tiny_straight_run):
    return tiny_straight_run


def test_run_writes_every_artifact(finished_run):
    out, best = finished_run
    assert (out / "config.yaml").is_file() and (out / "train.log").is_file()
    for name in ("last.pt", "best.pt", "epoch_0002.pt"):
        assert (out / "checkpoints" / name).is_file(), name
    assert best == out / "checkpoints" / "best.pt"
    assert sorted(p.name for p in (out / "samples").iterdir()) == [f"epoch_{e:04d}.png" for e in (1, 2, 3)]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    rows = History.read_csv(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    need = ["lr", "seconds", "data_wait_frac", "selection_score", "val_kl_a2b", "val_kl_b2a",
            "val_ssim_a2b", "val_ssim_b2a", "val_cycle_l1_a", "val_cycle_l1_b"]
    need += [f"{p}_{k}" for p in ("train", "val") for k in
             ("G_adv_ab", "G_adv_ba", "cycle_a", "cycle_b", "idt_a", "idt_b", "G_total", "D_a", "D_b", "D_total")]
    for col in need:
        assert col in rows[0], col
        assert all(math.isfinite(float(r[col])) for r in rows), col
    assert 0.0 <= float(rows[0]["data_wait_frac"]) <= 1.0
    # paired val set -> auto selection is SSIM: the score is -mean SSIM
    for r in rows:
        ssim = (float(r["val_ssim_a2b"]) + float(r["val_ssim_b2a"])) / 2
        assert float(r["selection_score"]) == pytest.approx(-ssim)
    log = (out / "train.log").read_text()
    assert "parameters" in log and "epoch 3/3" in log


def test_checkpoint_contents(finished_run):
    out, _ = finished_run
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    for key in ("config", "epoch", "step", "nets", "optim", "sched", "pools", "rng", "norm", "reference",
                "history", "best"):
        assert key in last, key
    assert last["epoch"] == 3 and len(last["history"]) == 3
    assert set(last["norm"]) == {"a", "b"} and last["norm"]["a"]["hi"] > last["norm"]["a"]["lo"]
    assert last["reference"]["a"].dtype == torch.float32 and last["reference"]["a"].ndim == 1
    best = ck.load_checkpoint(out / "checkpoints" / "best.pt")
    scores = [r["selection_score"] for r in last["history"]]
    assert best["epoch"] == last["best"]["epoch"] == 1 + scores.index(min(scores))
    g = ck.build_generator_from_checkpoint(best, "a2b")
    assert not g.training
    with torch.no_grad():
        y = g(torch.zeros(1, 1, 8, 16, 16))
    assert y.shape == (1, 1, 8, 16, 16) and float(y.abs().max()) <= 1.0
    torch.testing.assert_close(g.state_dict(), best["nets"]["G_ab"])


def test_refuses_existing_run_without_resume(finished_run, dataset):
    out, _ = finished_run
    with pytest.raises(ConfigError, match="different config"):
        train(tiny_cfg("optim.lr=0.001"), dataset["a_train"], dataset["b_train"], out)
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_cfg(), dataset["a_train"], dataset["b_train"], out)


def test_resume_refuses_other_architecture(finished_run, dataset):
    out, _ = finished_run
    before = (out / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(CheckpointError, match="generator.base_channels"):
        train(tiny_cfg("generator.base_channels=8"), dataset["a_train"], dataset["b_train"], out, resume=True)
    assert (out / "checkpoints" / "last.pt").read_bytes() == before


def test_resume_needs_last(tmp_path, dataset):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_cfg(), dataset["a_train"], dataset["b_train"], tmp_path / "new", resume=True)


def test_nan_guard_keeps_last_good_checkpoint(tmp_path, dataset, monkeypatch):
    from cyclescan.train.cyclegan import CycleGAN

    real = CycleGAN.generator_losses
    calls = {"n": 0}

    def poisoned(self, real_a, real_b, *pos):
        total, terms, fakes = real(self, real_a, real_b, *pos)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 6:  # a training step of epoch 2 (4 steps per epoch)
                terms["cycle_a"] = terms["cycle_a"] * float("nan")
                total = total * float("nan")
        return total, terms, fakes

    monkeypatch.setattr(CycleGAN, "generator_losses", poisoned)
    out = tmp_path / "RUN"
    with pytest.raises(TrainingError) as exc:
        train(tiny_cfg(), dataset["a_train"], dataset["b_train"], out, progress=False)
    msg = str(exc.value)
    assert "step 6" in msg and ("G_total" in msg or "cycle_a" in msg)
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 1
    for sd in last["nets"].values():
        assert all(torch.isfinite(v).all() for v in sd.values() if v.is_floating_point())


def test_early_stopping(tmp_path, dataset, monkeypatch):
    import cyclescan.train.trainer as T

    from cyclescan.train.validation import ValResult

    scores = iter([1.0, 0.5, 0.7, 0.8, 0.9])
    monkeypatch.setattr(T, "validate", lambda *a, **k: ValResult())  # only the selection logic matters here
    monkeypatch.setattr(T, "selection_score", lambda scalars, metric: next(scores))
    out = tmp_path / "RUN"
    train(tiny_cfg("train.epochs=5", "train.early_stop_patience=2"), dataset["a_train"], dataset["b_train"],
          out, val_a=dataset["a_val"], val_b=dataset["b_val"], progress=False)
    rows = History.read_csv(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [int(r["best"]) for r in rows] == [1, 1, 0, 0]
    assert ck.load_checkpoint(out / "checkpoints" / "best.pt")["epoch"] == 2
    assert "early stop" in (out / "train.log").read_text()


def test_samples_without_validation_do_not_change_training(dataset, finished_run, tmp_path):
    # validation only at the last epoch, samples every epoch: epochs 1 and 2 take the samples-only pass
    out = tmp_path / "RUN"
    train(tiny_cfg("train.val_every=3", "train.sample_every=1"), dataset["a_train"], dataset["b_train"], out,
          val_a=dataset["a_val"], val_b=dataset["b_val"], progress=False)
    assert sorted(p.name for p in (out / "samples").iterdir()) == [f"epoch_{e:04d}.png" for e in (1, 2, 3)]
    # the same weights as the run that validated every epoch (validation and samples are RNG-free)
    a = ck.load_checkpoint(out / "checkpoints" / "last.pt")["nets"]
    b = ck.load_checkpoint(finished_run[0] / "checkpoints" / "last.pt")["nets"]
    for net in ("G_ab", "G_ba", "D_a", "D_b"):
        for k in a[net]:
            torch.testing.assert_close(a[net][k], b[net][k], rtol=0, atol=0, msg=f"{net}.{k}")


def test_sample_rows_are_named_by_the_orientation():
    from cyclescan.train.samples import plane_names

    assert plane_names("RIP") == ("sagittal", "axial", "coronal")  # the default: D slices are sagittal
    assert plane_names("LPS") == ("sagittal", "coronal", "axial")
    assert plane_names("SAR") == ("axial", "coronal", "sagittal")
    with pytest.raises(ValueError):
        plane_names("RRX")


def test_sample_panels_follow_the_anatomy_not_the_array_order():
    import numpy as np

    from cyclescan.train.samples import display_slice

    rng = np.random.default_rng(0)
    rip = rng.random((5, 7, 9))  # odd sizes: the mid-slice is the same voxel plane after a flip
    # the same anatomy stored as LPS: axes (R->L, A->P, I->S)
    lps = np.transpose(rip[::-1], (0, 2, 1))[:, :, ::-1]
    for across_rip, across_lps in ((0, 0), (1, 2), (2, 1)):  # sagittal, axial, coronal
        np.testing.assert_array_equal(display_slice(rip, across_rip, "RIP"), display_slice(lps, across_lps, "LPS"))
    # RIP sagittal as stored: superior (H index 0) on top, anterior (W index 0) on the left
    np.testing.assert_array_equal(display_slice(rip, 0, "RIP"), rip[2])
    # axial: anterior on top, the patient's right (high D index in RIP) on the left
    np.testing.assert_array_equal(display_slice(rip, 1, "RIP"), rip[:, 3, :].T[:, ::-1])
    # thick slices (4 mm D vs 1 mm in-plane) are stretched to scale in the through-plane views
    assert display_slice(rip, 2, "RIP", (4.0, 1.0, 1.0)).shape == (7, 20)
