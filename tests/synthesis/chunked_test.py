"""ChunkedRenderer: chunk-by-chunk rendering equals one-pass rendering (eval mode)."""
import numpy as np
import pytest

from cips_tf.coords import make_grid, make_grid_np
from cips_tf.models.generator import CIPSGenerator
from cips_tf.synthesis.chunked import ChunkedRenderer, render_chunked

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
