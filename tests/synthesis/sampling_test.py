"""Tests for cips_tf.synthesis.sampling: seeded samples and latent morphing (Fig. 10)."""
import numpy as np
import pytest

from cips_tf import latents, rendering
from cips_tf.synthesis import sampling
from synthesis_test_utils import tiny_generator


def test_sample_is_deterministic_given_seeds():
    g = tiny_generator()
    a = sampling.sample(g, [3, 4])
    b = sampling.sample(g, [4])
    assert a.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(a[1], b[0], atol=1e-5)


def test_sample_psi_zero_renders_w_avg_for_every_seed():
    g = tiny_generator()
    w_avg = latents.styles_from_seeds(g, [99])[0]
    out = sampling.sample(g, [0, 1, 2], psi=0.0, w_avg=w_avg)
    np.testing.assert_allclose(out[0], out[2], atol=1e-5)
    np.testing.assert_allclose(out[0], rendering.render(g, w_avg[None])[0], atol=1e-5)


@pytest.mark.parametrize("space", ["w", "z"])
def test_interpolate_endpoints_equal_endpoint_renders(space):
    g = tiny_generator()
    frames = sampling.interpolate(g, [5, 6, 7], steps=4, space=space)
    assert frames.shape == (7, 16, 16, 3)  # (3 - 1) * (4 - 1) + 1
    ends = sampling.sample(g, [5, 6, 7])
    np.testing.assert_allclose(frames[[0, 3, 6]], ends, atol=1e-5)
    assert not np.allclose(frames[1], frames[0], atol=1e-3)


def test_interpolation_styles_are_linear_in_w():
    g = tiny_generator()
    w = sampling.interpolation_styles(g, [1, 2], steps=5)
    np.testing.assert_allclose(w[2], 0.5 * (w[0] + w[4]), atol=1e-5)
    with pytest.raises(ValueError):
        sampling.interpolation_styles(g, [1], steps=5)
