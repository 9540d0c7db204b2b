"""scripts/learning_curve.py scores through the sliding window of `cyclescan translate`."""

from __future__ import annotations

import numpy as np
import torch

from cyclescan.config import load_config
from cyclescan.data.normalize import NormStats, normalize
from cyclescan.infer.translate import translate_volume
from cyclescan.io import read_volume
from cyclescan.phantom import generate_dataset
from cyclescan.train.cyclegan import CycleGAN


def test_predict_is_the_translate_path_and_differs_from_a_whole_volume_pass(learning_curve, tmp_path):
    ph = generate_dataset(tmp_path / "ph", train_subjects=1, val_subjects=0, test_subjects=1,
                          shape=(16, 32, 32), snr=25.0, seed=4)
    cfg = load_config(None, ["domains.a=ciss", "domains.b=dess", "generator.base_channels=4", "generator.depth=2",
                             "discriminator.base_channels=4", "data.patch_size=[8,16,16]", "infer.detail_sigma=0",
                             "infer.precision=fp32"])
    torch.manual_seed(0)
    model = CycleGAN(cfg, cfg.data.patch_size)
    model.train(False)
    test = learning_curve.load_tests(ph, ("ciss", "dess"), 1)[0]
    x = test.inputs["ciss"]
    with torch.no_grad():
        slid = learning_curve.predict(model, x, "a2b")
        whole = learning_curve.predict(model, x, "a2b", whole_volume=True)
    assert slid.shape == whole.shape == tuple(x.shape[2:])

    # the product's path: translate_volume (own normalization, same windows), back to model space
    stats = NormStats(lo=0.0, hi=2.0)
    name = sorted((ph / "test" / "ciss").glob("*.nii.gz"))[0]
    out = translate_volume(read_volume(name), model.G_ab, cfg, stats)
    np.testing.assert_allclose(normalize(out.array, stats), slid, atol=2e-3)

    # instance normalization sees other statistics in a whole-volume pass: not the same output
    assert np.abs(slid - whole).max() > 0.05
