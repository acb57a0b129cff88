"""Tests for cips_tf.synthesis.super_resolution (Sec. 4.7, Fig. 9)."""
import numpy as np

from cips_tf import latents, rendering
from cips_tf.synthesis import super_resolution
from synthesis_test_utils import tiny_generator


def test_super_resolve_factor_one_equals_native_render():
    g = tiny_generator()
    w = latents.styles_from_seeds(g, [0])
    native, dense, lanczos = super_resolution.super_resolve(g, w, 1)
    np.testing.assert_allclose(dense, native, atol=1e-5)
    np.testing.assert_allclose(lanczos, native, atol=1e-6)
    np.testing.assert_allclose(native, rendering.render(g, w), atol=1e-5)


def test_super_resolve_dense_grid_shares_corners_and_chunking_is_exact():
    g = tiny_generator()
    w = latents.styles_from_seeds(g, [0, 1])
    native, dense, lanczos = super_resolution.super_resolve(g, w, 3, chunk_pixels=100)
    assert dense.shape == lanczos.shape == (2, 48, 48, 3)
    np.testing.assert_allclose(dense, rendering.render(g, w, 48), atol=1e-5)
    for y, x in [(0, 0), (-1, -1), (0, -1)]:  # the grid corners are the same points
        np.testing.assert_allclose(dense[:, y, x], native[:, y, x], atol=1e-5)


def test_lanczos_upsample_keeps_constant_images_constant():
    img = np.full((1, 4, 5, 3), 0.25, np.float32)
    out = super_resolution.lanczos_upsample(img, 4)
    assert out.shape == (1, 16, 20, 3)
    np.testing.assert_allclose(out, 0.25, atol=1e-5)
