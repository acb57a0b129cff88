"""cips_tf.coords: the official coordinate convention (x along the width, linspace(-1, 1))."""
import numpy as np

from cips_tf.coords import make_grid, make_grid_np, points_from_pixels


def test_make_grid_np_channel0_is_x_along_width():
    grid = make_grid_np(3, 5)
    assert grid.shape == (3, 5, 2) and grid.dtype == np.float32
    np.testing.assert_allclose(grid[0, :, 0], np.linspace(-1, 1, 5))
    np.testing.assert_allclose(grid[:, 0, 1], np.linspace(-1, 1, 3))
    assert np.all(grid[:, :, 0] == grid[0:1, :, 0]) and np.all(grid[:, :, 1] == grid[:, 0:1, 1])


def test_make_grid_matches_official_convert_to_coord_format(golden):
    official = golden["CIPSskip/coords_native"].transpose(0, 2, 3, 1)  # [3, 8, 8, 2]
    np.testing.assert_allclose(np.asarray(make_grid(3, 8)), official, atol=1e-7)
    dense = golden["CIPSskip/coords_dense"].transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(make_grid(3, 16, 16)), dense, atol=1e-7)


def test_make_grid_ranges_select_sub_window():
    grid = np.asarray(make_grid(2, 4, 3, x_range=(0.0, 1.0), y_range=(-1.0, -0.5)))
    assert grid.shape == (2, 4, 3, 2)
    np.testing.assert_allclose(grid[0, 0, :, 0], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(grid[1, :, 0, 1], np.linspace(-1, -0.5, 4), atol=1e-7)


def test_points_from_pixels_matches_grid():
    grid = make_grid_np(6, 9)
    ys, xs = np.mgrid[0:6, 0:9]
    points = points_from_pixels(np.stack([xs, ys], -1), 6, 9)
    np.testing.assert_allclose(points, grid, atol=1e-6)


def test_points_from_pixels_integer_pixels_match_make_grid_bitwise():
    idx = np.array([[0, 0], [6, 2], [3, 4]])
    np.testing.assert_array_equal(points_from_pixels(idx, 5, 7), make_grid_np(5, 7)[idx[:, 1], idx[:, 0]])
