"""Tests for cips_tf.synthesis.style_mixing (App. D, Fig. 19)."""
import numpy as np
import pytest

from cips_tf import latents
from cips_tf.synthesis import style_mixing
from synthesis_test_utils import tiny_generator


def test_layer_indices_follow_style_groups_one_based():
    g = tiny_generator()  # groups: [0], [1,2,3], [4,5,6], [7,8,9]
    assert style_mixing.layer_indices(g, [1]) == [0]
    assert style_mixing.layer_indices(g, [2, 4]) == [1, 2, 3, 7, 8, 9]
    with pytest.raises(ValueError, match="out of range"):
        style_mixing.layer_indices(g, [5])


def test_style_mix_empty_range_equals_a_and_full_range_equals_b():
    g = tiny_generator()
    w_a, w_b = latents.styles_from_seeds(g, [1]), latents.styles_from_seeds(g, [2])
    out = style_mixing.style_mix(g, w_a, w_b, [[], [1, 2, 3, 4], [2]])
    assert out.shape == (1, 5, 16, 16, 3)
    np.testing.assert_allclose(out[:, 2], out[:, 0], atol=1e-5)  # no group replaced: A
    np.testing.assert_allclose(out[:, 3], out[:, 1], atol=1e-5)  # every group replaced: B
    assert not np.allclose(out[:, 4], out[:, 0], atol=1e-4)


def test_style_mix_works_for_residual_architecture():
    g = tiny_generator(variant="res")
    w_a, w_b = latents.styles_from_seeds(g, [1]), latents.styles_from_seeds(g, [2])
    ws = style_mixing.mix_styles(g, w_a, w_b, [len(g.style_groups())])
    assert ws.shape == (1, g.num_ws, 16)
    np.testing.assert_array_equal(ws[0, -1], w_b[0])
    np.testing.assert_array_equal(ws[0, 0], w_a[0])
