"""Tests for cips_tf.rendering (with the seeded styles of cips_tf.latents it renders), image layout and
the seed lists of cips_tf.synthesis.tasks."""
import numpy as np
import pytest

from cips_tf import latents, rendering
from cips_tf.coords import make_grid
from cips_tf.synthesis import tasks
from synthesis_test_utils import tiny_generator


def test_parse_int_list_ranges_and_singles_expand_in_order():
    assert tasks.parse_int_list("0,3,5-7") == [0, 3, 5, 6, 7]
    assert tasks.parse_int_list(" 2 ,") == [2]


def test_styles_from_seeds_same_seed_same_style_and_psi_zero_gives_w_avg():
    g = tiny_generator()
    a = latents.styles_from_seeds(g, [1, 2])
    b = latents.styles_from_seeds(g, [1])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6, atol=1e-6)
    assert not np.allclose(a[0], a[1])
    w_avg = np.linspace(-1, 1, 16).astype(np.float32)
    np.testing.assert_allclose(latents.styles_from_seeds(g, [1, 2], psi=0.0, w_avg=w_avg), [w_avg, w_avg], atol=1e-6)
    with pytest.raises(ValueError, match="w_avg"):
        latents.styles_from_seeds(g, [1], psi=0.5)


def test_render_equals_generator_call_in_eval_mode_without_noise():
    g = tiny_generator()
    w = latents.styles_from_seeds(g, [0, 1])
    want = g({"w": w, "coords": make_grid(2, 16)}, training=False, randomize_noise=False).numpy()
    np.testing.assert_allclose(rendering.render(g, w), want, atol=1e-5)


def test_render_coords_shared_and_batched_coords_agree_with_grid_render():
    g = tiny_generator()
    w = latents.styles_from_seeds(g, [0, 1])
    full = rendering.render(g, w, 8)
    grid = make_grid(2, 8).numpy()
    np.testing.assert_allclose(rendering.render_coords(g, w, grid[0], shared=True), full, atol=1e-5)
    np.testing.assert_allclose(rendering.render_coords(g, w, grid, chunk_pixels=7), full, atol=1e-5)


def test_to_uint8_maps_range_and_clips():
    out = rendering.to_uint8(np.array([-2.0, -1.0, 0.0, 1.0, 3.0]))
    np.testing.assert_array_equal(out, [0, 0, 128, 255, 255])


class _RecordingRuntime:
    """A stand-in exported model: dynamic batch up to 4 images, at most 100 points per request."""
    is_runtime = True
    format = "onnx"
    batch, max_batch, points, max_pixels = None, 4, None, 100

    def __init__(self):
        self.calls = []

    def synthesis(self, styles, points):
        self.calls.append(points.shape)
        return np.zeros(points.shape[:2] + (3,), np.float32)


def test_points_per_call_is_the_size_of_every_call_a_render_makes():
    runtime = _RecordingRuntime()
    renderer = rendering.ChunkedRenderer(runtime, chunk_pixels=1000)
    assert renderer.points_per_call(6) == 25  # the request limit: 100 pixels / 4 images
    renderer.render(np.zeros((6, 16), np.float32), 8)
    assert {shape[1] for shape in runtime.calls} == {25}
    assert [shape[0] for shape in runtime.calls] == [4] * 3 + [2] * 3  # 64 points: 3 chunks per group
    assert rendering.ChunkedRenderer(tiny_generator(), chunk_pixels=7).points_per_call(3) == 7
