"""ChunkedRenderer: chunk-by-chunk rendering equals one-pass rendering (eval mode)."""
import numpy as np
import pytest

from cips_tf.coords import make_grid, make_grid_np
from cips_tf.models.generator import CIPSGenerator
from cips_tf.rendering import ChunkedRenderer, render_chunked

SMALL = dict(size=8, hidden_size=8, style_dim=6, n_mlp=2, widths=[10, 7])


@pytest.fixture(scope="module")
def g():
    return CIPSGenerator(**SMALL)


def _w(g, batch=2, seed=0):
    z = np.random.default_rng(seed).standard_normal((batch, g.style_dim)).astype(np.float32)
    return np.asarray(g.mapping(z))


def _one_pass(g, styles, height, width, per_layer=False):
    return np.asarray(g.synthesis(styles, make_grid(styles.shape[0], height, width),
                                  randomize_noise=False, per_layer=per_layer))


@pytest.mark.parametrize("chunk_pixels", [7, 64, 1000])
def test_chunked_render_any_chunk_size_equals_one_pass(g, chunk_pixels):
    w = _w(g)
    got = ChunkedRenderer(g, chunk_pixels=chunk_pixels).render(w, 12, 10)
    assert got.shape == (2, 12, 10, 3)
    np.testing.assert_allclose(got, _one_pass(g, w, 12, 10), atol=1e-5)


def test_chunked_render_per_layer_styles_equals_one_pass(g):
    rng = np.random.default_rng(1)
    ws = rng.standard_normal((2, g.num_ws, g.style_dim)).astype(np.float32)
    got = ChunkedRenderer(g, chunk_pixels=17).render(ws, 9, per_layer=True)
    np.testing.assert_allclose(got, _one_pass(g, ws, 9, 9, per_layer=True), atol=1e-5)


def test_chunked_render_per_pixel_styles_equals_one_pass(g):
    rng = np.random.default_rng(2)
    styles = rng.standard_normal((2, 6, 5, g.style_dim)).astype(np.float32)
    got = ChunkedRenderer(g, chunk_pixels=8).render(styles, 6, 5)
    np.testing.assert_allclose(got, _one_pass(g, styles, 6, 5), atol=1e-5)


def test_chunked_render_points_progress_reports_every_chunk(g):
    w = _w(g, batch=1)
    points = np.random.default_rng(3).uniform(-1.2, 1.2, (1, 23, 2)).astype(np.float32)
    calls = []
    got = ChunkedRenderer(g, chunk_pixels=10).render_points(w, points, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    want = np.asarray(g.synthesis(w, points, randomize_noise=False))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_render_chunked_sub_window_matches_grid_over_range(g):
    w = _w(g, batch=1)
    got = render_chunked(g, w, 8, chunk_pixels=20)
    full = ChunkedRenderer(g, chunk_pixels=20).render(w, 8, x_range=(-1, 1), y_range=(-1, 1))
    np.testing.assert_allclose(got, full, atol=1e-6)
    half = ChunkedRenderer(g, chunk_pixels=20).render(w, 5, x_range=(0, 1), y_range=(-1, 0))
    want = np.asarray(g.synthesis(w, make_grid_np(5, 5, (0, 1), (-1, 0))[None], randomize_noise=False))
    np.testing.assert_allclose(half, want, atol=1e-5)


class FakeRuntime:
    """A `RuntimeGenerator` stand-in (numpy in and out, one w per image) with its shape constraints:
    records every synthesis call's shapes and refuses any call a real export would refuse."""

    is_runtime = True
    format = "fake"

    def __init__(self, g, points=None, batch=None, max_batch=None, max_pixels=None):
        self.g, self.size, self.style_dim = g, g.size, g.style_dim
        self.points, self.batch, self.max_batch, self.max_pixels = points, batch, max_batch, max_pixels
        self.calls = []

    def synthesis(self, w, coords):
        assert isinstance(w, np.ndarray) and isinstance(coords, np.ndarray) and w.ndim == 2
        n, p = coords.shape[:2]
        self.calls.append((n, p))
        assert self.points is None or p == self.points
        assert self.batch is None or n == self.batch
        assert self.max_batch is None or n <= self.max_batch
        assert self.max_pixels is None or n * p <= self.max_pixels
        return np.asarray(self.g.synthesis(w, coords, randomize_noise=False))


@pytest.mark.parametrize("limits,calls", [
    (dict(), [(3, 40)] * 3),  # dynamic shapes: --chunk_pixels per call, the last chunk padded
    (dict(points=50), [(3, 50)] * 3),  # a fixed point count: every chunk that size, the last padded
    (dict(points=200, batch=2), [(2, 200)] * 2),  # a fixed batch: 3 images in two calls, the last padded
    (dict(max_batch=2, max_pixels=60), [(2, 30)] * 4 + [(1, 30)] * 4),  # the SavedModel's request limits
])
def test_chunked_render_through_a_runtime_keeps_its_shapes_and_equals_keras(g, limits, calls):
    w = _w(g, batch=3)
    runtime = FakeRuntime(g, **limits)
    got = ChunkedRenderer(runtime, chunk_pixels=40).render(w, 10, 11)  # 110 points per image
    assert runtime.calls == calls
    np.testing.assert_allclose(got, _one_pass(g, w, 10, 11), atol=1e-5)


def test_chunked_render_through_a_runtime_refuses_per_layer_and_per_point_styles(g):
    from cips_tf.errors import UserError

    runtime = FakeRuntime(g)
    ws = np.zeros((2, g.num_ws, g.style_dim), np.float32)
    with pytest.raises(UserError, match="one w per image.*Keras model") as info:
        ChunkedRenderer(runtime, chunk_pixels=40).render(ws, 4, per_layer=True)
    assert "\n" not in str(info.value)
    with pytest.raises(UserError, match="one w per image"):
        ChunkedRenderer(runtime, chunk_pixels=40).render(np.zeros((2, 4, 4, g.style_dim), np.float32), 4)
    assert not runtime.calls
