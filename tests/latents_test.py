"""Tests for cips_tf.latents, the bottom module every experiment, export and metric takes its
z, w, truncation, uint8 pixels and mosaics from: NumPy oracles and invariants."""
import types

import numpy as np
import pytest
import tensorflow as tf

from cips_tf import latents

STYLE_DIM = 6


def affine_generator():
    """A duck-typed generator whose mapping is `M(z) = 2 z + 1` (so means and truncation have exact oracles)."""
    return types.SimpleNamespace(style_dim=STYLE_DIM, mapping=lambda z: 2.0 * tf.convert_to_tensor(z) + 1.0)


def test_z_from_seed_is_stateless_normal_of_seed_zero_pair_scalar_and_batched():
    want = np.stack([tf.random.stateless_normal([STYLE_DIM], seed=[s, 0]).numpy() for s in (0, 7, 123456789)])
    np.testing.assert_array_equal(latents.z_from_seed(7, STYLE_DIM).numpy(), want[1])
    np.testing.assert_array_equal(latents.z_from_seed(np.array([0, 7, 123456789]), STYLE_DIM).numpy(), want)
    in_graph = tf.function(lambda s: latents.z_from_seed(s, STYLE_DIM))(tf.constant([0, 7, 123456789], tf.int64))
    np.testing.assert_array_equal(in_graph.numpy(), want)  # the exported from_seed signature's z


@pytest.mark.parametrize("psi", [0.5, np.array([0.0, 1.0, -0.5], np.float32)])
def test_truncate_matches_numpy_scalar_and_per_row_psi(psi):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, STYLE_DIM)).astype(np.float32)
    w_avg = rng.normal(size=(STYLE_DIM,)).astype(np.float32)
    want = w_avg + np.reshape(psi, (-1, 1)) * (w - w_avg)
    np.testing.assert_allclose(latents.truncate(tf.constant(w), tf.constant(w_avg), psi).numpy(), want, rtol=1e-6)


def test_styles_maps_truncates_and_requires_w_avg_for_truncation():
    g = affine_generator()
    z = np.random.default_rng(1).normal(size=(2, STYLE_DIM)).astype(np.float32)
    w_avg = np.full([STYLE_DIM], 0.5, np.float32)
    mapped = latents.styles(g, z)
    assert mapped.dtype == tf.float32
    np.testing.assert_allclose(mapped.numpy(), 2 * z + 1, rtol=1e-6)
    np.testing.assert_allclose(latents.styles(g, z, psi=0.7, w_avg=w_avg).numpy(), w_avg + 0.7 * (2 * z + 1 - w_avg),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="w_avg"):
        latents.styles(g, z, psi=0.7)
    np.testing.assert_allclose(latents.styles_from_seeds(g, [3, 4]).numpy(),
                               2 * latents.z_from_seed(np.array([3, 4]), STYLE_DIM).numpy() + 1, rtol=1e-6)


def test_estimate_w_avg_is_the_mean_of_mapped_gaussians_over_uneven_batches():
    g = affine_generator()
    z = np.random.RandomState(3).randn(10, STYLE_DIM).astype(np.float32)  # the documented draw
    got = latents.estimate_w_avg(g, num_samples=10, batch_size=4, seed=3)
    np.testing.assert_allclose(got, (2 * z.astype(np.float64) + 1).mean(axis=0), rtol=1e-6)
    assert got.dtype == np.float32 and got.shape == (STYLE_DIM,)


def test_quantize_images_is_stylegans_uint8_conversion_with_clipping():
    """StyleGAN's `convert_images_to_uint8`: float32 `x * 127.5 + 128`, clipped, truncated."""
    x = np.concatenate([np.linspace(-1.2, 1.2, 10001), [-2.0, -1.0, 0.0, 1.0, 3.0]]).astype(np.float32)
    want = np.clip(x * np.float32(127.5) + np.float32(128.0), 0, 255).astype(np.uint8)
    got = latents.quantize_images(x)
    assert got.dtype == tf.uint8
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(got.numpy()[-5:], [0, 0, 128, 255, 255])
    pixels = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(latents.quantize_images(pixels).numpy(), pixels)  # uint8 passes through
    levels = (pixels.astype(np.float32) - 127.5) / 127.5  # the pixel centres map back to their levels
    np.testing.assert_array_equal(latents.quantize_images(levels).numpy(), pixels)


def test_tile_images_places_row_major_with_padding():
    imgs = np.arange(5)[:, None, None, None] * np.ones((5, 2, 3, 1), np.uint8)
    mosaic = latents.tile_images(imgs, ncols=3, pad=1, pad_value=9)
    assert mosaic.shape == (2 * 2 + 1, 3 * 3 + 2, 1)
    assert mosaic[0, 0, 0] == 0 and mosaic[0, 4, 0] == 1 and mosaic[3, 4, 0] == 4
    assert mosaic[2, 0, 0] == 9 and mosaic[3, 8, 0] == 9  # padding row, empty cell
    assert latents.tile_images(imgs).shape == (2 * 2, 3 * 3, 1)  # default: ceil(sqrt(5)) = 3 columns
