"""cips_tf.coords: the official coordinate convention (x along the width, linspace(-1, 1))."""
import numpy as np
import pytest

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


# Non-square canvases: square pixels, the shorter side in [-1, 1], the square case unchanged.


def test_canvas_size_resolution_names_the_shorter_side():
    from cips_tf.coords import canvas_size

    assert canvas_size(32, "2:1") == (32, 64) and canvas_size(32, "1:2") == (64, 32)
    assert canvas_size(32, "3:2") == (32, 48) and canvas_size(32, "4x1") == (32, 128)
    assert canvas_size(32, None) == canvas_size(32, "1:1") == canvas_size(32, "5:5") == (32, 32)


@pytest.mark.parametrize("aspect, words", [("2", "'W:H'"), ("2:0", "positive"), ("a:b", "'W:H'"),
                                           ("1.5:1", "'W:H'"), ("16:9", "not a whole number")])
def test_canvas_size_bad_aspect_raises_naming_the_field(aspect, words):
    from cips_tf.coords import canvas_size

    with pytest.raises(ValueError, match="my_field") as e:
        canvas_size(32, aspect, field="my_field")
    assert words in str(e.value)


def test_canvas_grid_square_is_make_grid_bit_for_bit():
    from cips_tf.coords import canvas_grid

    for n in (4, 16, 31):
        np.testing.assert_array_equal(np.asarray(canvas_grid(2, n, n)), np.asarray(make_grid(2, n)))


@pytest.mark.parametrize("height, width", [(32, 64), (64, 32), (8, 24), (9, 13)])
def test_canvas_grid_pixels_are_square_and_shorter_side_spans_minus_one_to_one(height, width):
    from cips_tf.coords import canvas_grid_np

    grid = canvas_grid_np(height, width).astype(np.float64)
    dx = np.diff(grid[0, :, 0])
    dy = np.diff(grid[:, 0, 1])
    np.testing.assert_allclose(dx, dx[0], rtol=1e-5) and np.testing.assert_allclose(dy, dy[0], rtol=1e-5)
    np.testing.assert_allclose(dx[0], dy[0], rtol=1e-6)  # square pixels
    short = grid[0, :, 0] if width < height else grid[:, 0, 1]
    assert short[0] == -1.0 and short[-1] == 1.0
    np.testing.assert_allclose(grid[..., 0], -grid[:, ::-1, 0], atol=1e-6)  # centred
    np.testing.assert_allclose(grid[..., 1], -grid[::-1, :, 1], atol=1e-6)


def test_canvas_grid_wide_central_columns_are_the_square_grid():
    """A 32 x 64 canvas is the 32 x 32 training grid with 16 columns added on each side."""
    from cips_tf.coords import canvas_grid_np

    wide = canvas_grid_np(32, 64)
    np.testing.assert_allclose(wide[:, 16:48], make_grid_np(32, 32), atol=1e-6)


def test_render_extent_own_aspect_spans_training_canvas_other_aspect_extends():
    from cips_tf.coords import canvas_extent, render_extent

    assert render_extent(16, 16, 16, 16) == render_extent(64, 64, 16, 16) == (1.0, 1.0)
    assert render_extent(64, 128, 32, 64) == canvas_extent(32, 64) == (63 / 31, 1.0)  # super-resolution
    assert render_extent(16, 32, 16, 16) == (31 / 15, 1.0)  # a square model rendered wide: same pitch
