"""scripts/paired_ceiling.py: the supervised reference trains the config's generators on aligned pairs."""

from __future__ import annotations

import numpy as np
import torch

from cyclescan.config import load_config
from cyclescan.phantom import generate_dataset
from cyclescan.train.cyclegan import CycleGAN


def _id_pairs():
    """Two subjects whose 'dess' voxels are minus the 'ciss' voxel ids: a crop pair is aligned iff b == -a."""
    out = []
    for s in range(2):
        ids = torch.arange(6 * 10 * 12, dtype=torch.float32).reshape(6, 10, 12) + 1000 * s
        out.append({"ciss": ids, "dess": -ids})
    return out


def test_random_pair_is_the_same_crop_of_both_contrasts(paired_ceiling):
    rng = np.random.default_rng(0)
    seen_starts, seen_subjects = set(), set()
    for _ in range(2000):
        a, b = paired_ceiling.random_pair(_id_pairs(), [4, 5, 6], rng, ("ciss", "dess"))
        assert a.shape == b.shape == (1, 1, 4, 5, 6)
        torch.testing.assert_close(b, -a)
        first = int(a[0, 0, 0, 0, 0])
        seen_subjects.add(first // 1000)
        seen_starts.add(first % 1000)
    assert seen_subjects == {0, 1}
    # every valid start is reachable, the first and the last (d=2, h=5, w=6 -> id 2*120 + 5*12 + 6)
    last = 2 * 120 + 5 * 12 + 6
    assert len(seen_starts) == 3 * 6 * 7 and min(seen_starts) == 0 and max(seen_starts) == last


def test_supervised_training_learns_the_paired_map(paired_ceiling, tmp_path):
    ph = generate_dataset(tmp_path / "ph", train_subjects=1, val_subjects=0, test_subjects=3,
                          shape=(16, 32, 32), snr=25.0, seed=3)
    cfg = load_config(None, ["domains.a=ciss", "domains.b=dess", "generator.base_channels=4", "generator.depth=2", "discriminator.base_channels=4",
                             "data.patch_size=[8,16,16]", "optim.lr=0.003", "optim.decay_epochs=0"])
    contrasts = (cfg.domains.a, cfg.domains.b)
    pairs = paired_ceiling.load_pairs(ph, contrasts)
    tests = paired_ceiling.load_tests(ph, contrasts, 1)
    model = CycleGAN(cfg, cfg.data.patch_size)
    curve = paired_ceiling.train_paired(model, pairs, tests, contrasts, steps=120, every=120, per_epoch=32,
                                        rng=np.random.default_rng(0), tag="test")
    assert [c["step"] for c in curve] == [0, 120]
    # CISS <-> DESS inverts fat and marrow: the untrained (near-identity) generators score far
    # below zero-correlation; supervised L1 on the aligned pairs must move both directions up
    for d in ("a2b", "b2a"):
        assert curve[-1][d]["ssim"] > curve[0][d]["ssim"] + 0.1, (d, curve)

    # --checkpoint: the paired generators as a checkpoint that evaluate/translate read
    from cyclescan.train.checkpoint import build_generator_from_checkpoint, checkpoint_reference, load_checkpoint

    paired_ceiling.save_paired_checkpoint(tmp_path / "paired.pt", model, cfg, ph, 120)
    ckpt = load_checkpoint(tmp_path / "paired.pt")
    assert ckpt["step"] == 120 and set(ckpt["norm"]) == {"a", "b"}
    for key in ("a", "b"):  # the target scale of the phantom's unpaired training folders
        ref = checkpoint_reference(ckpt, key)
        assert ref is not None and np.all(np.diff(ref) >= 0) and ref.min() >= -1 and ref.max() <= 1
    model.train(False)
    with torch.no_grad():
        for d, src, net in (("a2b", "ciss", model.G_ab), ("b2a", "dess", model.G_ba)):
            x = tests[0].inputs[src][..., :16, :32, :32]
            torch.testing.assert_close(build_generator_from_checkpoint(ckpt, d)(x), net(x))
