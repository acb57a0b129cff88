"""CIPSGenerator: variants, serialisation, pixel independence, latent forms, noise and input errors."""
import keras
import numpy as np
import pytest

from cips_tf.coords import make_grid, make_grid_np
from cips_tf.latents import truncate
from cips_tf.models.generator import VARIANTS, CIPSGenerator, official_widths, paper_widths

SMALL = dict(size=8, hidden_size=8, style_dim=6, n_mlp=2, widths=[10, 7])


def _randomize(model, seed=0):
    """Non-trivial weights everywhere (noise strengths too), keeping the scale of the official init."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        if "noise_strength" in v.path:
            v.assign(np.float32(0.3))
        elif "bias" in v.path:
            v.assign(v.numpy() + 0.1 * rng.standard_normal(v.shape).astype(np.float32))


def _gen(variant="skips", **overrides):
    g = CIPSGenerator.from_variant(variant, **{**SMALL, **overrides})
    _randomize(g)
    return g


def _z(g, batch=2, seed=1):
    return np.random.default_rng(seed).standard_normal((batch, g.style_dim)).astype(np.float32)


def _render(g, latents, coords, training=False, **kwargs):
    return np.asarray(g({**latents, "coords": coords}, training=training, randomize_noise=False, **kwargs))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generator_variant_tiny_renders_finite_rgb(variant):
    g = _gen(variant)
    for training in (True, False):
        out = _render(g, {"z": _z(g)}, make_grid(2, 8), training=training)
        assert out.shape == (2, 8, 8, 3) and out.dtype == np.float32 and np.all(np.isfinite(out))
    spec = VARIANTS[variant]
    assert (g.fourier is not None) == spec["use_fourier"]
    assert (g.embedding is not None) == spec["use_embedding"]
    assert g.architecture == spec["architecture"] and g.activation == spec["activation"]


def test_generator_variants_tiny_param_counts_follow_table3():
    counts = {v: CIPSGenerator.from_variant(v, **SMALL).count_params() for v in VARIANTS}
    table = 8 * 8 * 8
    fourier = 2 * 8 + 8
    # NE drops the table and halves the first layer's input; no-Fourier drops the projection likewise.
    conv1_half = 8 * 10 + 6 * 8 + 8  # kernel rows + modulation for 8 input channels
    assert counts["base"] - counts["ne"] == table + conv1_half
    assert counts["base"] - counts["no_fourier"] == fourier + conv1_half
    assert counts["sine"] == counts["no_fourier"]
    assert counts["skips"] > counts["base"]  # the extra ToRGB layers


@pytest.mark.parametrize("variant", ["skips", "res", "ne"])
def test_generator_keras_save_load_round_trip_equal(tmp_path, variant):
    g = _gen(variant)
    z = _z(g)
    coords = np.random.default_rng(2).uniform(-1.2, 1.2, (2, 13, 2)).astype(np.float32)
    want = _render(g, {"z": z}, coords)
    path = tmp_path / "g.keras"
    g.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, CIPSGenerator) and loaded.get_config() == g.get_config()
    np.testing.assert_allclose(_render(loaded, {"z": z}, coords), want, atol=1e-6)
    native = make_grid(2, 8)
    np.testing.assert_allclose(_render(loaded, {"z": z}, native, training=True, direct_embedding=True),
                               _render(g, {"z": z}, native, training=True, direct_embedding=True), atol=1e-6)


def test_generator_config_round_trip_equal():
    g = CIPSGenerator.from_variant("res", **SMALL, use_embedding=False)
    clone = CIPSGenerator.from_config(g.get_config())
    assert clone.get_config() == g.get_config() and clone.count_params() == g.count_params()


@pytest.mark.parametrize("variant", ["skips", "res"])
def test_generator_pixel_subset_equals_full_render_pixels(variant):
    g = _gen(variant, size=16, widths=[12, 9, 6])
    z = _z(g, batch=2)
    full = _render(g, {"z": z}, make_grid(2, 16))  # [2, 16, 16, 3]
    rng = np.random.default_rng(3)
    idx = rng.choice(16 * 16, size=37, replace=False)
    points = make_grid_np(16, 16).reshape(-1, 2)[idx]
    subset = _render(g, {"z": z}, np.broadcast_to(points, (2, 37, 2)))
    np.testing.assert_allclose(subset, full.reshape(2, -1, 3)[:, idx], atol=1e-5)
    one = _render(g, {"z": z}, np.broadcast_to(points[:1], (2, 1, 2)))  # a single pixel alone
    np.testing.assert_allclose(one[:, 0], full.reshape(2, -1, 3)[:, idx[0]], atol=1e-5)


def test_generator_ws_identical_styles_equals_w():
    g = _gen("skips")
    w = np.asarray(g.mapping(_z(g)))
    coords = make_grid(2, 8)
    ws = np.repeat(w[:, None], g.num_ws, axis=1)
    np.testing.assert_allclose(_render(g, {"ws": ws}, coords), _render(g, {"w": w}, coords), atol=1e-6)


@pytest.mark.parametrize("variant", ["skips", "res", "base"])
def test_generator_ws_style_index_changes_only_its_layer(variant):
    g = _gen(variant)
    w = np.asarray(g.mapping(_z(g)))
    coords = make_grid(2, 8)
    assert sum(len(group) for group in g.style_groups()) == g.num_ws
    base = _render(g, {"ws": np.repeat(w[:, None], g.num_ws, axis=1)}, coords)
    for i in range(g.num_ws):
        ws = np.repeat(w[:, None], g.num_ws, axis=1)
        ws[:, i] = -ws[:, i]
        assert np.abs(_render(g, {"ws": ws}, coords) - base).max() > 1e-5, f"style {i} unused"


def test_generator_per_pixel_constant_w_equals_w():
    g = _gen("skips")
    w = np.asarray(g.mapping(_z(g)))
    coords = make_grid(2, 8)
    per_pixel = np.broadcast_to(w[:, None, None], (2, 8, 8, g.style_dim)).copy()
    # Outputs reach |12| here: float32 resolution there is ~1e-6, and the per-pixel path runs a
    # different matmul shape (one kernel per pixel), so 1e-6 relative error on top of 1e-5 absolute.
    np.testing.assert_allclose(
        _render(g, {"w": per_pixel}, coords), _render(g, {"w": w}, coords), rtol=1e-6, atol=1e-5
    )


def test_generator_from_z_equals_from_mapped_w():
    g = _gen("res")
    z = _z(g)
    coords = make_grid(2, 8)
    np.testing.assert_allclose(_render(g, {"z": z}, coords), _render(g, {"w": g.mapping(z)}, coords), atol=1e-6)


def test_generator_explicit_noise_changes_output_only_with_nonzero_strength():
    g = CIPSGenerator(**SMALL)  # official init: every noise strength 0
    z = _z(g)
    coords = make_grid(2, 8)
    rng = np.random.default_rng(4)
    noise = [rng.standard_normal((2, 8, 8, 1)).astype(np.float32) for _ in range(g.num_noise)]
    clean = _render(g, {"z": z}, coords)
    np.testing.assert_allclose(_render(g, {"z": z, "noise": noise}, coords), clean, atol=1e-6)
    np.testing.assert_allclose(np.asarray(g({"z": z, "coords": coords}, randomize_noise=True)), clean, atol=1e-6)
    for v in g.weights:
        if "noise_strength" in v.path:
            v.assign(np.float32(0.2))
    noisy = _render(g, {"z": z, "noise": noise}, coords)
    assert np.abs(noisy - clean).max() > 1e-3
    np.testing.assert_allclose(_render(g, {"z": z, "noise": [n * 0 for n in noise]}, coords), clean, atol=1e-6)
    np.testing.assert_allclose(_render(g, {"z": z}, coords), clean, atol=1e-6)  # randomize_noise=False: none


def test_generator_truncation_psi_zero_gives_average():
    w = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    w_avg = np.ones(4, np.float32)
    np.testing.assert_allclose(np.asarray(truncate(w, w_avg, 0.0)), np.ones((3, 4)))
    np.testing.assert_allclose(np.asarray(truncate(w, w_avg, np.array([1.0, 0.0, 0.5], np.float32)))[[0, 2]],
                               np.stack([w[0], 1 + 0.5 * (w[2] - 1)]), atol=1e-6)


def test_generator_paper_widths_give_fourteen_layers_of_512():
    assert paper_widths(256) == [512] * 7 and len(official_widths(256)) == 7


# ------------------------------------------------------------------------------ bad inputs


@pytest.fixture(scope="module")
def small_g():
    return CIPSGenerator(**SMALL)


def test_generator_call_without_coords_raises(small_g):
    with pytest.raises(ValueError, match="coords"):
        small_g({"z": np.zeros((1, 6), np.float32)})


def test_generator_call_not_a_dict_raises(small_g):
    with pytest.raises(ValueError, match="dict"):
        small_g(np.zeros((1, 8, 8, 2), np.float32))


@pytest.mark.parametrize("keys", [(), ("z", "w")])
def test_generator_call_not_exactly_one_latent_raises(small_g, keys):
    inputs = {"coords": np.zeros((1, 4, 2), np.float32), **{k: np.zeros((1, 6), np.float32) for k in keys}}
    with pytest.raises(ValueError, match="exactly one"):
        small_g(inputs)


def test_generator_ws_wrong_count_raises(small_g):
    with pytest.raises(ValueError, match="'ws' must be"):
        small_g({"ws": np.zeros((1, small_g.num_ws + 1, 6), np.float32), "coords": np.zeros((1, 4, 2), np.float32)})


def test_generator_noise_wrong_length_raises(small_g):
    with pytest.raises(ValueError, match="noise"):
        small_g({"z": np.zeros((1, 6), np.float32), "coords": np.zeros((1, 4, 2), np.float32),
                 "noise": [np.zeros((1, 4, 1), np.float32)]})


def test_generator_coords_with_three_channels_raises(small_g):
    with pytest.raises(ValueError, match="2 channels"):
        small_g({"z": np.zeros((1, 6), np.float32), "coords": np.zeros((1, 4, 3), np.float32)})


@pytest.mark.parametrize("kwargs,match", [
    (dict(variant="huge"), "variant"),
    (dict(architecture="dense"), "architecture"),
    (dict(use_fourier=False, use_embedding=False), "Fourier"),
    (dict(widths=[]), "widths"),
    (dict(widths=None, size=12), "power of two"),
    (dict(widths=None, size=4096), "1024"),
])
def test_generator_bad_constructor_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CIPSGenerator.from_variant(**{**SMALL, **kwargs})


# Non-square canvases: the square case unchanged, an H x W embedding table, wide renders extend x.


def test_generator_height_width_equal_to_size_is_the_square_model():
    keras.utils.set_random_seed(3)
    square = CIPSGenerator(**SMALL, name="g")
    keras.utils.set_random_seed(3)
    explicit = CIPSGenerator(**SMALL, height=8, width=8, name="g")
    assert explicit.get_config() == square.get_config()
    for a, b in zip(square.weights, explicit.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    z = _z(square)
    for direct in (True, False):
        np.testing.assert_array_equal(_render(square, {"z": z}, make_grid(2, 8), direct_embedding=direct),
                                      _render(explicit, {"z": z}, make_grid(2, 8), direct_embedding=direct))


def test_generator_non_square_table_direct_render_and_config_round_trip():
    from cips_tf.coords import canvas_grid

    g = _gen(height=8, width=16)
    assert tuple(g.embedding.table.shape) == (8, 16, SMALL["hidden_size"])
    coords = canvas_grid(2, 8, 16)
    out = _render(g, {"z": _z(g)}, coords, training=True, direct_embedding=True)
    assert out.shape == (2, 8, 16, 3) and np.all(np.isfinite(out))
    assert _render(g, {"z": _z(g)}, coords).shape == (2, 8, 16, 3)
    clone = CIPSGenerator.from_config(g.get_config())
    assert (clone.height, clone.width) == (8, 16)
    with pytest.raises(ValueError, match="shorter side"):
        CIPSGenerator(**SMALL, height=16, width=16)


@pytest.mark.parametrize("variant", ["skips", "ne"])
def test_generator_square_model_rendered_wide_keeps_the_square_image_in_its_centre(variant):
    """Panorama-style extension: the 8 x 16 canvas of a square 8 px model holds the 8 x 8 render in
    its central columns (the same coordinates; pixels are independent), and more image on both sides."""
    from cips_tf.coords import canvas_grid

    g = _gen(variant)
    z = _z(g)
    square = _render(g, {"z": z}, make_grid(2, 8))
    wide = _render(g, {"z": z}, canvas_grid(2, 8, 16))
    np.testing.assert_allclose(wide[:, :, 4:12], square, atol=1e-5)
    assert np.abs(wide[:, :, :4] - wide[:, :, 4:5]).max() > 1e-3  # the extension is not a smeared edge
