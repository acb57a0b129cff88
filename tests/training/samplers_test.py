import numpy as np
import pytest
import tensorflow as tf

from cips_tf import coords_extra
from cips_tf.coords import make_grid_np
from cips_tf.training import samplers, train_lib
from cips_tf.training.defaults import default_config


def test_patch_sampler_dilated_patches_land_on_full_grid():
    sampler = samplers.PatchSampler(resolution=16, patch_size=4, max_dilation=4)
    seed = tf.constant([3, 7], tf.int64)
    idx = sampler.pixel_indices(64, seed).numpy()  # [B, K, K, 2] (x, y)
    coords = sampler.coords(64, seed).numpy()
    full = make_grid_np(16, 16)
    np.testing.assert_array_equal(coords, full[idx[..., 1], idx[..., 0]])
    assert idx.min() >= 0 and idx.max() <= 15
    sigma = idx[:, 0, 1, 0] - idx[:, 0, 0, 0]
    assert set(sigma) <= {1, 2, 3, 4} and len(set(sigma)) > 1
    np.testing.assert_array_equal(np.diff(idx[..., 0], axis=2), np.broadcast_to(sigma[:, None, None], (64, 4, 3)))
    np.testing.assert_array_equal(np.diff(idx[..., 1], axis=1), np.broadcast_to(sigma[:, None, None], (64, 3, 4)))


def test_patch_sampler_real_patches_cut_at_the_same_pixels():
    sampler = samplers.PatchSampler(resolution=8, patch_size=3, max_dilation=3)
    images = np.random.RandomState(0).rand(5, 8, 8, 3).astype(np.float32)
    seed = tf.constant([1, 2], tf.int64)
    idx = sampler.pixel_indices(5, seed).numpy()
    real = sampler.real(tf.constant(images), sampler.coords(5, seed)).numpy()
    np.testing.assert_array_equal(real, coords_extra.gather_patches(images, idx))


def test_cylindrical_sampler_crops_are_windows_of_the_panorama_and_wrap():
    sampler = samplers.CylindricalSampler(resolution=8, panorama_width=20)
    crops = sampler.coords(50, tf.constant([0, 5], tf.int64)).numpy()  # [B, 8, 8, 2]
    full = coords_extra.cylindrical_grid_np(8, 20)  # [8, 20, 2]
    wrapped = 0
    for crop in crops:
        start = int(np.argmin(np.abs(full[0] - crop[0, 0]).sum(-1)))
        cols = (start + np.arange(8)) % 20
        np.testing.assert_allclose(crop, full[:, cols], atol=1e-6)
        wrapped += int(start + 8 > 20)
    assert wrapped > 0  # some crops straddle the seam


@pytest.mark.parametrize("mode", ["patch", "cylindrical"])
def test_train_and_evaluate_alternative_modes_run(tmp_path, mode):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "configs"))
    import smoke

    c = smoke.get_config()
    c.num_train_steps = 3
    c.training.mode = mode
    c.training.patch_size = 8
    c.training.patch_max_dilation = 2
    c.training.strategy = "mirrored"
    result = train_lib.train_and_evaluate(c, tmp_path)
    assert result["step"] == 3 and np.isfinite(list(result["metrics"].values())).all()
    expected_d = 8 if mode == "patch" else 16
    assert result["gan"].discriminator.size == expected_d


def test_make_sampler_unknown_mode_raises():
    c = default_config()
    c.training.mode = "spherical"
    with pytest.raises(ValueError, match="training.mode"):
        samplers.make_sampler(c)
