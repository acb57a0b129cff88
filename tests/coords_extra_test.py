"""Tests for cips_tf.coords_extra: cylinders and foveation points (training patches and crops: tests/models/samplers_test.py)."""
import numpy as np

from cips_tf import coords_extra


def test_cylinder_to_plane_is_periodic_in_theta_and_inside_unit_disk():
    theta = np.linspace(0, 2 * np.pi, 9)
    v = np.linspace(0, 1, 5)[:, None]
    a = coords_extra.cylinder_to_plane(theta, v)
    b = coords_extra.cylinder_to_plane(theta + 2 * np.pi, v)
    np.testing.assert_allclose(a, b, atol=1e-6)
    r = np.linalg.norm(a, axis=-1)
    np.testing.assert_allclose(r[0], 1.0, atol=1e-6)  # top row: outer circle
    np.testing.assert_allclose(r[-1], 0.25, atol=1e-6)  # bottom row: inner circle


def test_cylindrical_grid_column_w_equals_column_zero():
    grid = coords_extra.cylindrical_grid_np(8, 40, num_columns=41)
    assert grid.shape == (8, 41, 2) and grid.dtype == np.float32
    np.testing.assert_allclose(grid[:, 40], grid[:, 0], atol=1e-6)


def test_panorama_width_gives_square_pixels_at_mid_radius():
    h = 64
    w = coords_extra.panorama_width(h)
    grid = coords_extra.cylindrical_grid_np(h, w)
    mid = h // 2
    col_step = np.linalg.norm(grid[mid, 1] - grid[mid, 0])
    row_step = np.linalg.norm(grid[mid + 1, 0] - grid[mid, 0])
    assert abs(col_step / row_step - 1) < 0.05







def test_foveated_pixels_full_coverage_is_every_pixel_and_partial_concentrates_at_gaze():
    allp = coords_extra.foveated_pixels(1.0, 6, 7)
    assert len(allp) == 42 and len({tuple(p) for p in allp}) == 42
    pts = coords_extra.foveated_pixels(0.1, 64, seed=0, gaze=(-0.5, 0.5), std_frac=0.1)
    assert len(pts) == round(0.1 * 64 * 64) and len({tuple(p) for p in pts}) == len(pts)
    centre = np.array([0.25 * 63, 0.75 * 63])
    assert np.abs(pts.mean(axis=0) - centre).max() < 4
    np.testing.assert_array_equal(pts, coords_extra.foveated_pixels(0.1, 64, seed=0, gaze=(-0.5, 0.5), std_frac=0.1))
