import time

import numpy as np
import pytest
import torch

from cyclescan.config import Config
from cyclescan.data import cache as cache_mod
from cyclescan.data.datasets import DataWaitMeter, UnpairedPatchDataset, VolumeCache, build_loader
from cyclescan.io import Volume, write_nifti


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from badinput.corpus import phantom_array

    root = tmp_path_factory.mktemp("vols")
    out = {"a": [], "b": []}
    for dom, n, scale in (("a", 3, 1.0), ("b", 2, 40.0)):
        for i in range(n):
            p = root / f"{dom}{i}.nii.gz"
            write_nifti(Volume(phantom_array((12, 24, 24), seed=10 * i + len(dom)) * scale, np.eye(4), {}), p)
            out[dom].append(p)
    return out


def _cfg(**kw):
    cfg = Config().data
    cfg.patch_size = [8, 16, 16]
    cfg.patches_per_volume = 2
    cfg.val_patches_per_volume = 2
    cfg.num_workers = 0
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def _items(ds, epoch=None):
    if epoch is not None:
        ds.set_epoch(epoch)
    return [ds[i] for i in range(len(ds))]


def test_shapes_and_ranges(files):
    ds = UnpairedPatchDataset(files["a"], files["b"], _cfg(), train=True, seed=0)
    assert len(ds) == 3 * 2
    item = ds[0]
    assert set(item) == {"a", "b"}
    for t in item.values():
        assert t.shape == (1, 8, 16, 16) and t.dtype == torch.float32
        assert -1 <= float(t.min()) and float(t.max()) <= 1


def test_seed_determinism_and_epochs(files):
    cfg = _cfg()
    one = _items(UnpairedPatchDataset(files["a"], files["b"], cfg, train=True, seed=3), epoch=1)
    two = _items(UnpairedPatchDataset(files["a"], files["b"], cfg, train=True, seed=3), epoch=1)
    other = _items(UnpairedPatchDataset(files["a"], files["b"], cfg, train=True, seed=4), epoch=1)
    assert all(torch.equal(x["a"], y["a"]) and torch.equal(x["b"], y["b"]) for x, y in zip(one, two))
    assert not all(torch.equal(x["a"], y["a"]) for x, y in zip(one, other))
    ds = UnpairedPatchDataset(files["a"], files["b"], cfg, train=True, seed=3)
    assert not all(torch.equal(x["a"], y["a"]) for x, y in zip(one, _items(ds, epoch=2)))


def test_independent_shuffles_cover_every_volume(files):
    ds = UnpairedPatchDataset(files["a"], files["b"], _cfg(), train=True, seed=0)
    pairs = set()
    for epoch in range(6):
        order = ds._order(epoch)
        assert sorted(order["a"]) == [0, 0, 1, 1, 2, 2]  # every A volume ppv times per epoch
        assert np.bincount(order["b"], minlength=2).min() >= 2
        pairs |= set(zip(order["a"].tolist(), order["b"].tolist()))
    assert len(pairs) == 6  # A and B are not locked together


def test_validation_is_deterministic_and_unaugmented(files):
    cfg = _cfg(flip_prob=1.0, intensity_jitter=0.5)
    ds = UnpairedPatchDataset(files["a"], files["b"], cfg, train=False, seed=0)
    first, later = _items(ds, epoch=0), _items(ds, epoch=5)
    assert all(torch.equal(x["a"], y["a"]) and torch.equal(x["b"], y["b"]) for x, y in zip(first, later))
    vol = ds.volume("a", 0).array
    patch = first[0]["a"][0].numpy()
    hits = [(d, h, w) for d in range(vol.shape[0] - 7) for h in range(vol.shape[1] - 15) for w in range(vol.shape[2] - 15)
            if np.array_equal(vol[d:d + 8, h:h + 16, w:w + 16], patch)]
    assert hits  # an unmodified crop of the prepared volume


def test_foreground_weighting(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.normal(10, 2, (12, 64, 64)).astype(np.float32)
    arr[4:8, 40:50, 40:50] += 500  # a small bright object in a lot of air
    write_nifti(Volume(arr, np.eye(4), {}), tmp_path / "blob.nii.gz")
    f = [tmp_path / "blob.nii.gz"]

    def fg_fraction(p):
        cfg = _cfg(foreground_sampling=p, patches_per_volume=40, intensity_jitter=0.0)
        ds = UnpairedPatchDataset(f, f, cfg, train=True, seed=0)
        return np.mean([float((ds[i]["a"] > 0).float().mean()) for i in range(len(ds))])

    hi, lo = fg_fraction(1.0), fg_fraction(0.0)
    assert hi > 0.07 and hi > 3 * lo, (hi, lo)  # the object is 400 of 2048 patch voxels at best


def test_loader_workers_match_and_follow_epoch(files):
    cfg = _cfg()
    ds = UnpairedPatchDataset(files["a"], files["b"], cfg, train=True, seed=1)
    ref = {e: _items(UnpairedPatchDataset(files["a"], files["b"], cfg, train=True, seed=1), epoch=e) for e in (0, 1)}
    cfg.num_workers = 1
    loader = build_loader(ds, cfg, seed=1, batch_size=2)
    meter = DataWaitMeter()
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        batches = list(meter.wrap(loader))
        assert batches[0]["a"].shape == (2, 1, 8, 16, 16)
        got = torch.cat([b["a"] for b in batches])
        assert torch.equal(got, torch.stack([x["a"] for x in ref[epoch]]))
    assert meter.batches == 6 and 0.0 <= meter.fraction <= 1.0


def test_disk_cache_reuses_files(files, tmp_path, monkeypatch):
    cfg = _cfg(cache="disk", cache_dir=str(tmp_path / "cache"))
    mem = VolumeCache(_cfg()).get(files["a"][0])
    disk = VolumeCache(cfg).get(files["a"][0])
    assert isinstance(disk.array, np.memmap)
    np.testing.assert_array_equal(disk.array, mem.array)
    assert disk.stats == mem.stats
    monkeypatch.setattr(cache_mod, "prepare_volume", lambda *a, **k: pytest.fail("re-prepared despite cache"))
    again = VolumeCache(cfg).get(files["a"][0])
    np.testing.assert_array_equal(again.to_source(again.array).array, mem.to_source(mem.array).array)


def test_domain_statistics(files):
    ds = UnpairedPatchDataset(files["a"], files["b"], _cfg(), train=True, seed=0)
    norm = ds.domain_norm()
    assert norm["b"].hi > 20 * norm["a"].hi  # B was scaled x40
    ref = ds.reference_quantiles(n=32)
    assert ref["a"].shape == (32,) and np.all(np.diff(ref["b"]) >= 0)


def test_wait_meter_measures_waiting():
    def slow():
        for i in range(4):
            time.sleep(0.02)
            yield i

    meter = DataWaitMeter()
    for _ in meter.wrap(slow()):
        pass
    assert meter.fraction > 0.8
    meter.reset()
    for _ in meter.wrap(range(4)):
        time.sleep(0.02)
    assert meter.fraction < 0.2


def test_intensity_jitter_keeps_air_at_the_floor_and_moves_tissue():
    from cyclescan.data.patches import augment

    patch = np.full((4, 8, 8), -1.0, np.float32)
    patch[1:3, 2:6, 2:6] = np.linspace(-0.5, 0.8, 32, dtype=np.float32).reshape(2, 4, 4)
    for seed in range(20):
        out, _ = augment(patch, np.random.default_rng(seed), flip_prob=0.0, jitter=0.05)
        s, t = np.random.default_rng(seed).uniform(-0.05, 0.05, size=2)
        air = patch == -1.0
        assert np.all(out[air] == -1.0)  # air exactly where the generators' air gate writes it
        np.testing.assert_allclose(out[~air], np.clip((patch[~air] + 1) * (1 + s) - 1 + t, -1, 1), atol=1e-6)


def test_position_maps_come_with_the_patches_only_when_asked(files):
    """positions=True adds pos_a / pos_b (3, D, H, W) and leaves the image patches as they were."""
    from cyclescan.data.patches import foreground_box

    cfg = _cfg()
    plain = UnpairedPatchDataset(files["a"], files["b"], cfg, train=True, seed=5)
    pos = UnpairedPatchDataset(files["a"], files["b"], cfg, train=True, seed=5, positions=True)
    for i in range(len(plain)):
        x, y = plain[i], pos[i]
        assert set(x) == {"a", "b"} and set(y) == {"a", "b", "pos_a", "pos_b"}
        assert torch.equal(x["a"], y["a"]) and torch.equal(x["b"], y["b"])
        for dom in ("a", "b"):
            assert y[f"pos_{dom}"].shape == (3, 8, 16, 16) and y[f"pos_{dom}"].dtype == torch.float32
    # validation item 0 is volume 0 of each domain, unflipped: its column ramp rises by 2 / box width
    val = UnpairedPatchDataset(files["a"], files["b"], cfg, train=False, seed=5, positions=True)
    for dom in ("a", "b"):
        box = foreground_box(val.volume(dom, 0).mask)
        ramp = val[0][f"pos_{dom}"][2, 0, 0].numpy()
        np.testing.assert_allclose(np.diff(ramp), 2.0 / (box[1, 2] - box[0, 2]), rtol=1e-5)
