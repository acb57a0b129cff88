import numpy as np
import pytest
import tensorflow as tf

from cips_tf import coords_extra
from cips_tf.coords import make_grid_np
from cips_tf.models import samplers
from cips_tf.training.defaults import default_config


def test_full_grid_sampler_is_the_native_grid_read_directly():
    sampler = samplers.FullGridSampler(8)
    coords, pixel_index = sampler.sample(3, tf.constant([0, 1], tf.int64))
    np.testing.assert_array_equal(coords.numpy(), np.broadcast_to(make_grid_np(8, 8), (3, 8, 8, 2)))
    assert pixel_index is None and sampler.direct_embedding
    images = tf.ones([3, 8, 8, 3])
    assert sampler.real(images, pixel_index) is images


def test_patch_sampler_dilated_patches_land_on_full_grid():
    sampler = samplers.PatchSampler(resolution=16, patch_size=4, max_dilation=4)
    seed = tf.constant([3, 7], tf.int64)
    coords, idx = sampler.sample(64, seed)  # [B, K, K, 2] (x, y)
    coords, idx = coords.numpy(), idx.numpy()
    np.testing.assert_array_equal(idx, sampler.pixel_indices(64, seed).numpy())
    assert idx.dtype == np.int32 and not sampler.direct_embedding
    full = make_grid_np(16, 16)
    np.testing.assert_array_equal(coords, full[idx[..., 1], idx[..., 0]])
    assert idx.min() >= 0 and idx.max() <= 15
    sigma = idx[:, 0, 1, 0] - idx[:, 0, 0, 0]
    assert set(sigma) <= {1, 2, 3, 4} and len(set(sigma)) > 1
    np.testing.assert_array_equal(np.diff(idx[..., 0], axis=2), np.broadcast_to(sigma[:, None, None], (64, 4, 3)))
    np.testing.assert_array_equal(np.diff(idx[..., 1], axis=1), np.broadcast_to(sigma[:, None, None], (64, 3, 4)))
    u = idx[:, 0, 0, 0]
    assert (u < 16 - 3 * sigma).all()  # the corner range leaves room for the dilated patch


@pytest.mark.parametrize("max_dilation", [1, 5])
def test_patch_sampler_dilation_is_capped_so_the_patch_fits(max_dilation):
    sampler = samplers.PatchSampler(resolution=16, patch_size=4, max_dilation=max_dilation)
    assert sampler.max_dilation == min(max_dilation, 5)  # (16 - 1) // (4 - 1)
    _, idx = sampler.sample(32, tf.constant([0, 0], tf.int64))
    idx = idx.numpy()
    sigma = idx[:, 0, 1, 0] - idx[:, 0, 0, 0]
    assert sigma.min() >= 1 and sigma.max() <= sampler.max_dilation and idx.max() < 16
    if max_dilation == 1:
        np.testing.assert_array_equal(np.diff(idx[..., 0], axis=2), 1)
    with pytest.raises(ValueError, match="patch_size"):
        samplers.PatchSampler(resolution=16, patch_size=17, max_dilation=1)


def test_patch_sampler_real_patches_cut_at_the_same_pixels():
    sampler = samplers.PatchSampler(resolution=8, patch_size=3, max_dilation=3)
    images = np.random.RandomState(0).rand(5, 8, 8, 3).astype(np.float32)
    _, idx = sampler.sample(5, tf.constant([1, 2], tf.int64))
    real = sampler.real(tf.constant(images), idx).numpy()
    idx = idx.numpy()
    assert real.shape == (5, 3, 3, 3)
    np.testing.assert_array_equal(real, images[np.arange(5)[:, None, None], idx[..., 1], idx[..., 0]])


def test_cylindrical_sampler_crops_are_windows_of_the_panorama_and_wrap():
    sampler = samplers.CylindricalSampler(resolution=8, panorama_width=20)
    seed = tf.constant([0, 5], tf.int64)
    crops, pixel_index = sampler.sample(50, seed)  # [B, 8, 8, 2]
    crops = crops.numpy()
    assert pixel_index is None and not sampler.direct_embedding
    np.testing.assert_array_equal(crops, sampler.sample(50, seed)[0].numpy())  # stateless: same seed, same crops
    full = coords_extra.cylindrical_grid_np(8, 20)  # [8, 20, 2]
    wrapped = 0
    for crop in crops:
        start = int(np.argmin(np.abs(full[0] - crop[0, 0]).sum(-1)))
        cols = (start + np.arange(8)) % 20
        np.testing.assert_allclose(crop, full[:, cols], atol=1e-6)
        wrapped += int(start + 8 > 20)
    assert wrapped > 0  # some crops straddle the seam


def test_make_sampler_modes_and_unknown_mode_raises():
    c = default_config()
    assert isinstance(samplers.make_sampler(c), samplers.FullGridSampler)
    c.training.mode = "spherical"
    with pytest.raises(ValueError, match="training.mode"):
        samplers.make_sampler(c)
