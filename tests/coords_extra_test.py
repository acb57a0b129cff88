"""Tests for cips_tf.coords_extra: cylinders, dilated patches, foveation points."""
import numpy as np
import pytest

from cips_tf import coords_extra
from cips_tf.coords import make_grid_np


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
    assert coords_extra.cylindrical_grid(3, 8, 40).shape == (3, 8, 40, 2)


def test_panorama_width_gives_square_pixels_at_mid_radius():
    h = 64
    w = coords_extra.panorama_width(h)
    grid = coords_extra.cylindrical_grid_np(h, w)
    mid = h // 2
    col_step = np.linalg.norm(grid[mid, 1] - grid[mid, 0])
    row_step = np.linalg.norm(grid[mid + 1, 0] - grid[mid, 0])
    assert abs(col_step / row_step - 1) < 0.05


def test_cylindrical_crop_is_a_window_of_the_full_grid_wrapping_around():
    size, width = 8, 20
    coords, offsets = coords_extra.cylindrical_crop(16, size, width, seed=0, return_offsets=True)
    assert coords.shape == (16, size, size, 2) and offsets.shape == (16, 2)
    full = coords_extra.cylindrical_grid_np(size, width)
    for c, (col, row) in zip(coords, offsets):
        cols = (col + np.arange(size)) % width
        np.testing.assert_array_equal(c, full[row : row + size][:, cols])
    assert (offsets[:, 0] + size > width).any()  # some crops cross the wrap
    again = coords_extra.cylindrical_crop(16, size, width, seed=0)
    np.testing.assert_array_equal(coords, again)


def test_cylindrical_crop_taller_panorama_offsets_rows():
    _, offsets = coords_extra.cylindrical_crop(32, 4, 10, seed=1, panorama_height=9, return_offsets=True)
    assert offsets[:, 1].min() >= 0 and offsets[:, 1].max() <= 5 and len(set(offsets[:, 1])) > 1
    with pytest.raises(ValueError):
        coords_extra.cylindrical_crop(1, 8, 10, panorama_height=4)


@pytest.mark.parametrize("dilation", [1, 2, 5])
def test_patch_coords_with_dilation_land_on_the_full_grid(dilation):
    full, k = 16, 4
    coords, idx = coords_extra.patch_coords(32, full, k, dilation, seed=0)
    assert coords.shape == idx.shape == (32, k, k, 2) and idx.dtype == np.int32
    grid = make_grid_np(full, full)
    np.testing.assert_array_equal(coords, grid[idx[..., 1], idx[..., 0]])
    np.testing.assert_array_equal(np.diff(idx[..., 0], axis=2), dilation)  # x steps along the width
    np.testing.assert_array_equal(np.diff(idx[..., 1], axis=1), dilation)
    assert idx.min() >= 0 and idx.max() < full


def test_patch_coords_per_sample_dilation_and_corner_range():
    dil = coords_extra.random_dilations(64, 16, 4, max_dilation=4, seed=0)
    assert dil.min() >= 1 and dil.max() <= 4
    coords, idx = coords_extra.patch_coords(64, 16, 4, dil, seed=0)
    u = idx[:, 0, 0, 0]
    assert (u < 16 - 3 * dil).all()
    with pytest.raises(ValueError):
        coords_extra.patch_coords(1, 16, 4, 6)


def test_gather_patches_cuts_images_like_the_coordinates():
    images = np.arange(2 * 16 * 16 * 3, dtype=np.float32).reshape(2, 16, 16, 3)
    _, idx = coords_extra.patch_coords(2, 16, 4, 3, seed=2)
    patches = coords_extra.gather_patches(images, idx)
    assert isinstance(patches, np.ndarray) and patches.shape == (2, 4, 4, 3)
    b, i, j = 1, 2, 3
    np.testing.assert_array_equal(patches[b, i, j], images[b, idx[b, i, j, 1], idx[b, i, j, 0]])


def test_foveated_pixels_full_coverage_is_every_pixel_and_partial_concentrates_at_gaze():
    allp = coords_extra.foveated_pixels(1.0, 6, 7)
    assert len(allp) == 42 and len({tuple(p) for p in allp}) == 42
    pts = coords_extra.foveated_pixels(0.1, 64, seed=0, gaze=(-0.5, 0.5), std_frac=0.1)
    assert len(pts) == round(0.1 * 64 * 64) and len({tuple(p) for p in pts}) == len(pts)
    centre = np.array([0.25 * 63, 0.75 * 63])
    assert np.abs(pts.mean(axis=0) - centre).max() < 4
    np.testing.assert_array_equal(pts, coords_extra.foveated_pixels(0.1, 64, seed=0, gaze=(-0.5, 0.5), std_frac=0.1))


def test_pixel_coords_match_make_grid_bitwise():
    idx = np.array([[0, 0], [6, 2], [3, 4]])
    np.testing.assert_array_equal(coords_extra.pixel_coords(idx, 5, 7), make_grid_np(5, 7)[idx[:, 1], idx[:, 0]])
