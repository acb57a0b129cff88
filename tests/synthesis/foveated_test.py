"""Tests for cips_tf.synthesis.foveated (Sec. 4.7, Fig. 8)."""
import numpy as np

from cips_tf import latents, rendering
from cips_tf.synthesis import foveated
from synthesis_test_utils import tiny_generator


def test_foveated_full_coverage_equals_full_render():
    g = tiny_generator()
    w = latents.styles_from_seeds(g, [0, 1])
    images, mask = foveated.foveated_render(g, w, 1.0)
    assert mask.all()
    np.testing.assert_allclose(images, rendering.render(g, w), atol=1e-5)


def test_foveated_partial_keeps_rendered_pixels_and_fills_the_rest():
    g = tiny_generator()
    w = latents.styles_from_seeds(g, [0])
    full = rendering.render(g, w)
    images, mask = foveated.foveated_render(g, w, 0.25, gaze=(0.5, -0.5), seed=3)
    assert mask.sum() == 64 and np.isfinite(images).all()
    np.testing.assert_allclose(images[0][mask], full[0][mask], atol=1e-5)
    again, mask2 = foveated.foveated_render(g, w, 0.25, gaze=(0.5, -0.5), seed=3)
    np.testing.assert_array_equal(mask, mask2)
    np.testing.assert_array_equal(images, again)


def test_fill_missing_reproduces_a_linear_ramp_inside_the_hull():
    h = w = 10
    ys, xs = np.mgrid[0:h, 0:w]
    ramp = (0.1 * xs + 0.2 * ys)[..., None].astype(np.float32)
    keep = (xs % 3 == 0) | (ys % 3 == 0)
    idx = np.stack([xs[keep], ys[keep]], -1)
    out = foveated.fill_missing(ramp[keep], idx, h, w, method="linear")
    np.testing.assert_allclose(out, ramp, atol=1e-5)
