"""Tests for cips_tf.synthesis.blend: pixel-wise style interpolation (Fig. 11c)."""
import numpy as np

from cips_tf import latents, rendering
from cips_tf.synthesis import blend, panorama
from synthesis_test_utils import tiny_generator


def test_blend_all_a_mask_equals_a_and_all_zero_equals_b():
    g = tiny_generator()
    w_a, w_b = latents.styles_from_seeds(g, [1]), latents.styles_from_seeds(g, [2])
    ones = np.ones((16, 16), np.float32)
    np.testing.assert_allclose(blend.render_blend(g, w_a, w_b, ones), rendering.render(g, w_a), atol=1e-5)
    np.testing.assert_allclose(blend.render_blend(g, w_a, w_b, 0 * ones), rendering.render(g, w_b), atol=1e-5)


def test_blend_radial_mask_takes_centre_from_a_and_corners_from_b():
    g = tiny_generator()
    w_a, w_b = latents.styles_from_seeds(g, [1]), latents.styles_from_seeds(g, [2])
    mask = blend.radial_mask(16, radius=0.3, softness=0.2)
    assert mask[8, 8] == 1.0 and mask[0, 0] == 0.0
    out = blend.render_blend(g, w_a, w_b, mask)
    a, b = rendering.render(g, w_a), rendering.render(g, w_b)
    np.testing.assert_allclose(out[0, 7:9, 7:9], a[0, 7:9, 7:9], atol=1e-5)
    np.testing.assert_allclose(out[0, 0, 0], b[0, 0, 0], atol=1e-5)


def test_blend_on_panorama_coords_matches_panorama_render():
    g = tiny_generator()
    w_a, w_b = latents.styles_from_seeds(g, [1]), latents.styles_from_seeds(g, [2])
    coords = panorama.panorama_coords(8, 32)
    mask = blend.horizontal_mask(8, 32)
    assert mask.shape == (8, 32) and mask[:, 16].min() == 1.0 and mask[:, 0].max() == 0.0
    out = blend.render_blend(g, w_a, w_b, np.ones_like(mask), coords=coords)
    np.testing.assert_allclose(out, panorama.render_panorama(g, w_a, 8, 32), atol=1e-5)
