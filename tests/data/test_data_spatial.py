import numpy as np

from cyclescan.data.spatial import plan_padding, plan_resampling


def test_padding_exact_inverse_and_affine():
    arr = np.random.default_rng(0).normal(size=(5, 7, 9)).astype(np.float32)
    pad = plan_padding(arr.shape, [8, 7, 4], multiple=4)
    out = pad.apply(arr, -1.0)
    assert out.shape == (8, 8, 12) and pad.widths == ((1, 2), (0, 1), (1, 2))
    np.testing.assert_array_equal(pad.invert(out), arr)
    aff = np.diag([2.0, 1.0, 0.5, 1.0])
    new = pad.affine(aff)
    np.testing.assert_allclose(new @ [1, 0, 1, 1], aff @ [0, 0, 0, 1])  # voxel (0,0,0) moved to (1,0,1)


def test_resampling_geometry_and_round_trip():
    shape, spacing = (6, 20, 20), (4.0, 0.5, 0.5)
    res = plan_resampling(shape, spacing, [2.0, 1.0, 1.0])
    assert res.target_shape == (12, 10, 10)
    aff = np.diag([*spacing, 1.0])
    new = res.affine(aff)
    np.testing.assert_allclose(np.linalg.norm(new[:3, :3], axis=0), [2.0, 1.0, 1.0])
    # Field of view edges coincide: first target voxel's outer edge == first source voxel's outer edge.
    np.testing.assert_allclose(new @ [-0.5, -0.5, -0.5, 1], aff @ [-0.5, -0.5, -0.5, 1])
    smooth = np.fromfunction(lambda d, h, w: d * 2 + h * 0.1 + w * 0.05, shape, dtype=np.float32)
    back = res.invert(res.apply(smooth))
    assert back.shape == shape
    np.testing.assert_allclose(back[1:-1, 2:-2, 2:-2], smooth[1:-1, 2:-2, 2:-2], atol=0.15)
    assert plan_resampling(shape, spacing, None) is None and plan_resampling(shape, spacing, list(spacing)) is None
