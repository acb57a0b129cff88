"""CoordinateEmbedding and grid_sample_border (PyTorch grid_sample, bilinear, border, align_corners=False)."""
import keras
import numpy as np
import pytest

import layer_test_utils as utils
from cips_tf.coords import make_grid_np
from cips_tf.layers.coordinate_embedding import CoordinateEmbedding, grid_sample_border


def torch_grid_sample_border(table, points):
    """PyTorch's `grid_sampler_2d` (bilinear, border, align_corners=False), point by point.

    `table` [H, W, C] (NHWC view of one [C, H, W] image), `points` [N, 2] (x, y) -> [N, C].
    """
    h, w, c = table.shape
    out = np.zeros((len(points), c))
    for n, (x, y) in enumerate(np.asarray(points, np.float64)):
        ix = ((x + 1) * w - 1) / 2  # unnormalize, align_corners=False
        iy = ((y + 1) * h - 1) / 2
        ix = min(max(ix, 0.0), w - 1.0)  # clip_coordinates (border)
        iy = min(max(iy, 0.0), h - 1.0)
        ix_nw, iy_nw = int(np.floor(ix)), int(np.floor(iy))
        corners = [
            (ix_nw, iy_nw, (ix_nw + 1 - ix) * (iy_nw + 1 - iy)),
            (ix_nw + 1, iy_nw, (ix - ix_nw) * (iy_nw + 1 - iy)),
            (ix_nw, iy_nw + 1, (ix_nw + 1 - ix) * (iy - iy_nw)),
            (ix_nw + 1, iy_nw + 1, (ix - ix_nw) * (iy - iy_nw)),
        ]
        for cx, cy, weight in corners:
            if 0 <= cx < w and 0 <= cy < h:  # within_bounds_2d
                out[n] += weight * table[cy, cx]
    return out


def test_grid_sample_border_random_points_inside_and_outside_match_torch_semantics():
    rng = np.random.default_rng(0)
    table = rng.standard_normal((5, 7, 3)).astype(np.float32)
    points = rng.uniform(-1.6, 1.6, (200, 2)).astype(np.float32)
    # Exact edges, corners and texel centres too.
    special = np.array([[-1, -1], [1, 1], [-1, 1], [1, -1], [0, 0], [3 / 7 - 1, 1 / 5 - 1], [1 - 1 / 7, 1 - 1 / 5],
                        [-3, 0.2], [0.3, 4]], np.float32)
    points = np.concatenate([points, special])
    got = np.asarray(grid_sample_border(table, points))
    np.testing.assert_allclose(got, torch_grid_sample_border(table, points), atol=1e-5)


def test_grid_sample_border_batched_leading_dims_keep_shape():
    table = np.random.default_rng(1).standard_normal((4, 4, 2)).astype(np.float32)
    points = np.random.default_rng(2).uniform(-1.2, 1.2, (3, 5, 6, 2)).astype(np.float32)
    got = np.asarray(grid_sample_border(table, points))
    assert got.shape == (3, 5, 6, 2)
    np.testing.assert_allclose(got.reshape(-1, 2), torch_grid_sample_border(table, points.reshape(-1, 2)), atol=1e-5)


def test_grid_sample_border_texel_centres_read_table_exactly():
    table = np.random.default_rng(3).standard_normal((4, 6, 2)).astype(np.float32)
    xs = (2 * np.arange(6) + 1) / 6 - 1
    ys = (2 * np.arange(4) + 1) / 4 - 1
    gx, gy = np.meshgrid(xs, ys)
    got = np.asarray(grid_sample_border(table, np.stack([gx, gy], -1).astype(np.float32)))
    np.testing.assert_allclose(got, table, atol=1e-6)


def test_coordinate_embedding_config_round_trip_equal():
    clone = utils.assert_config_round_trip(CoordinateEmbedding(size=8, units=5, name="e"))
    assert (clone.size, clone.units) == (8, 5)


def test_coordinate_embedding_build_weight_count_matches():
    layer = CoordinateEmbedding(size=8, units=5)
    layer.build((None, None, None, 2))
    assert layer.count_params() == 8 * 8 * 5 and tuple(layer.table.shape) == (8, 8, 5)


def test_coordinate_embedding_symbolic_call_infers_shape():
    out = CoordinateEmbedding(size=4, units=3)(keras.Input((None, 2)))
    assert isinstance(out, keras.KerasTensor) and tuple(out.shape) == (None, None, 3)


def test_coordinate_embedding_direct_native_grid_reads_table_directly():
    layer = CoordinateEmbedding(size=6, units=4)
    coords = np.broadcast_to(make_grid_np(6, 6), (2, 6, 6, 2))
    got = np.asarray(layer(coords, direct=True))
    np.testing.assert_array_equal(got, np.broadcast_to(layer.table.numpy(), (2, 6, 6, 4)))
    # Sampling at the same grid is bilinear, which differs from the direct read.
    evaluated = np.asarray(layer(coords))
    assert np.abs(evaluated - got).max() > 1e-3
    with pytest.raises(ValueError, match="native"):
        layer(make_grid_np(8, 8)[None], direct=True)


def test_coordinate_embedding_training_other_grid_samples_bilinearly():
    layer = CoordinateEmbedding(size=4, units=3)
    coords = make_grid_np(8, 8)[None]
    got = np.asarray(layer(coords, training=True))
    want = torch_grid_sample_border(layer.table.numpy(), coords.reshape(-1, 2)).reshape(1, 8, 8, 3)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_coordinate_embedding_eager_eval_matches_numpy_oracle():
    layer = CoordinateEmbedding(size=5, units=3)
    coords = np.random.default_rng(4).uniform(-1.3, 1.3, (2, 9, 2)).astype(np.float32)
    got = np.asarray(layer(coords))
    want = torch_grid_sample_border(layer.table.numpy(), coords.reshape(-1, 2)).reshape(2, 9, 3)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_coordinate_embedding_three_channels_raises():
    with pytest.raises(ValueError, match="2 channels"):
        CoordinateEmbedding(size=4, units=3)(np.zeros((1, 4, 3), np.float32))


def test_coordinate_embedding_keras_save_load_round_trip_equal(tmp_path):
    inputs = keras.Input((None, 2))
    model = keras.Model(inputs, CoordinateEmbedding(size=4, units=3)(inputs))
    coords = np.random.default_rng(5).uniform(-1.1, 1.1, (2, 7, 2)).astype(np.float32)
    utils.assert_keras_save_load_round_trip(tmp_path, model, coords)


# Non-square tables (a model trained at H x W, cips_tf.coords.canvas_grid).


def test_coordinate_embedding_non_square_config_round_trip_and_table_shape():
    layer = CoordinateEmbedding(size=4, units=3, height=4, width=8, name="e")
    clone = utils.assert_config_round_trip(layer)
    assert (clone.height, clone.width) == (4, 8)
    layer.build((None, None, None, 2))
    assert tuple(layer.table.shape) == (4, 8, 3)
    assert "height" not in CoordinateEmbedding(size=4, units=3).get_config()  # square configs unchanged


def test_coordinate_embedding_non_square_direct_reads_table_and_sampling_spans_canvas():
    from cips_tf.coords import canvas_extent, canvas_grid_np

    layer = CoordinateEmbedding(size=4, units=3, height=4, width=8)
    coords = canvas_grid_np(4, 8)[None]  # x in +-7/3
    np.testing.assert_array_equal(np.asarray(layer(coords, direct=True))[0], layer.table.numpy())
    x_max, y_max = canvas_extent(4, 8)
    want = torch_grid_sample_border(layer.table.numpy(), (coords / [x_max, y_max]).reshape(-1, 2)).reshape(1, 4, 8, 3)
    np.testing.assert_allclose(np.asarray(layer(coords)), want, atol=1e-5)
    # The canvas's corners sample the table's corner texels' edges: left column left, right column right.
    np.testing.assert_allclose(np.asarray(layer(np.array([[[-x_max, -1.0], [x_max, 1.0]]], np.float32)))[0],
                               layer.table.numpy()[[0, -1], [0, -1]], atol=1e-6)
    with pytest.raises(ValueError, match=r"native \[B, 4, 8, 2\]"):
        layer(canvas_grid_np(4, 4)[None], direct=True)


def test_coordinate_embedding_beyond_table_repeats_edge_entries():
    """A square model rendered wide: x beyond [-1, 1] reads the nearest edge column (border clamp)."""
    layer = CoordinateEmbedding(size=4, units=3)
    table = layer(np.zeros((1, 4, 4, 2), np.float32), direct=True)[0].numpy()
    ys = np.linspace(-1, 1, 4, dtype=np.float32)
    far_left = np.stack([np.full(4, -3.0, np.float32), ys], -1)[None]
    far_right = np.stack([np.full(4, 2.5, np.float32), ys], -1)[None]
    edge_left = np.stack([np.full(4, -1.0, np.float32), ys], -1)[None]
    np.testing.assert_allclose(np.asarray(layer(far_left)), np.asarray(layer(edge_left)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer(far_right))[0], torch_grid_sample_border(
        table, np.stack([np.ones(4), ys], -1)), atol=1e-5)
