"""Tests for cips_tf.synthesis.panorama (Sec. 4.8, Figs 11, 17)."""
import numpy as np

from cips_tf import coords_extra, latents, rendering
from cips_tf.synthesis import panorama
from synthesis_test_utils import tiny_generator


def test_panorama_wraps_the_column_after_the_last_is_the_first():
    g = tiny_generator()
    w = latents.styles_from_seeds(g, [0])
    pano = panorama.render_panorama(g, w, height=16, width=64)
    assert pano.shape == (1, 16, 64, 3)
    extended = rendering.render_coords(
        g, w, coords_extra.cylindrical_grid_np(16, 64, num_columns=65), shared=True)
    np.testing.assert_allclose(extended[:, :, :64], pano, atol=1e-5)
    np.testing.assert_allclose(extended[:, :, 64], pano[:, :, 0], atol=1e-5)


def test_panorama_seam_is_no_larger_than_other_column_steps():
    g = tiny_generator()
    pano = panorama.render_panorama(g, latents.styles_from_seeds(g, [1]), height=16)
    steps = np.abs(np.diff(panorama.wrap_columns(pano, 1), axis=2)).mean(axis=(0, 1, 3))  # [W]
    assert steps[-1] <= 2.0 * np.median(steps[:-1]) + 1e-6
    assert steps[-1] <= steps[:-1].max() + 1e-6


def test_panorama_default_width_gives_square_pixels():
    assert panorama.panorama_coords(16).shape == (16, coords_extra.panorama_width(16), 2)
