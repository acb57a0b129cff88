"""Converter (cips_tf.convert.official) against an independent NumPy oracle of the official code.

The oracle is first validated on the golden vectors made by the official PyTorch code; then random
official-style state_dicts of other sizes / widths / style dims / depths are converted and the
Keras outputs compared with the oracle's.
"""
import numpy as np
import pytest

from cips_tf.convert.official import ConversionError, discriminator_from_official, generator_from_official
import official_numpy_oracle as oracle

ORACLE_GOLDEN_TOL = 1e-5
CONVERTER_TOL = 1e-4
GENERATORS = {"CIPSskip": oracle.cips_skip, "CIPSres": oracle.cips_res}


def _params(golden, prefix):
    return {k[len(prefix):]: v for k, v in golden.items() if k.startswith(prefix)}


def _nhwc(a):
    return np.asarray(a).transpose(0, 2, 3, 1)


def _nchw(a):
    return np.asarray(a).transpose(0, 3, 1, 2)


# --------------------------------------------------------------------------------- the oracle


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_oracle_generator_golden_vectors_match(golden, name):
    sd = _params(golden, f"{name}/param/")
    forward = GENERATORS[name]
    z, w = golden[f"{name}/z"], golden[f"{name}/w"]
    np.testing.assert_allclose(oracle.mapping(z, sd), w, atol=ORACLE_GOLDEN_TOL)
    for key, coords, training in [
        ("rgb_train_native", "coords_native", True),
        ("rgb_eval_native", "coords_native", False),
        ("rgb_eval_dense", "coords_dense", False),
        ("rgb_eval_random", "coords_random", False),
    ]:
        out = forward(golden[f"{name}/{coords}"], z, sd, training=training)
        np.testing.assert_allclose(out, golden[f"{name}/{key}"], atol=ORACLE_GOLDEN_TOL, err_msg=key)
    out = forward(golden[f"{name}/coords_native"], w, sd, input_is_latent=True)
    np.testing.assert_allclose(out, golden[f"{name}/rgb_from_w_eval_native"], atol=ORACLE_GOLDEN_TOL)


def test_oracle_discriminator_golden_vectors_match(golden):
    sd = _params(golden, "Discriminator/param/")
    x = golden["Discriminator/x_batch4"]
    np.testing.assert_allclose(oracle.discriminator(x, sd), golden["Discriminator/logits_batch4"],
                               atol=ORACLE_GOLDEN_TOL)
    np.testing.assert_allclose(oracle.discriminator(x[:2], sd), golden["Discriminator/logits_batch2"],
                               atol=ORACLE_GOLDEN_TOL)


def test_oracle_grid_sample_border_clamps_outside_points():
    table = np.arange(2 * 3 * 4, dtype=np.float64).reshape(1, 2, 3, 4)
    # Far outside the frame: the border texel (border padding), corners included.
    grid = np.array([[[[-5.0, -5.0], [5.0, 5.0], [5.0, -5.0]]]])
    out = oracle.grid_sample_border(table, grid)[0, :, 0]  # [C, 3]
    np.testing.assert_array_equal(out[:, 0], table[0, :, 0, 0])
    np.testing.assert_array_equal(out[:, 1], table[0, :, 2, 3])
    np.testing.assert_array_equal(out[:, 2], table[0, :, 0, 3])
    # Texel centres with align_corners=False: x = (2 j + 1) / W - 1.
    centres = np.array([[[[(2 * 1 + 1) / 4 - 1, (2 * 2 + 1) / 3 - 1]]]])
    np.testing.assert_allclose(oracle.grid_sample_border(table, centres)[0, :, 0, 0], table[0, :, 2, 1])


# ------------------------------------------------------------------ converter vs. the oracle


def _coords_sets(rng, size, batch):
    from cips_tf.coords import make_grid_np

    native = np.broadcast_to(make_grid_np(size, size), (batch, size, size, 2))
    dense = np.broadcast_to(make_grid_np(2 * size, 2 * size), (batch, 2 * size, 2 * size, 2))
    random = rng.uniform(-1.3, 1.3, (batch, 3, 5, 2)).astype(np.float32)
    return {"native": native, "dense": dense, "random": random}


GENERATOR_CASES = {
    "skips_size16_hidden8_style12_mlp3": dict(architecture="skips", size=16, hidden=8, style_dim=12, n_mlp=3,
                                              widths=(24, 20, 16)),
    "skips_size4_hidden6_style5_mlp1": dict(architecture="skips", size=4, hidden=6, style_dim=5, n_mlp=1,
                                            widths=(10,)),
    "res_size16_width_change_skip_projection": dict(architecture="res", size=16, hidden=8, style_dim=12, n_mlp=3,
                                                    widths=(24, 24, 16)),
    "res_size8_all_blocks_change_width": dict(architecture="res", size=8, hidden=10, style_dim=7, n_mlp=2,
                                              widths=(9, 13)),
}


@pytest.mark.parametrize("case", sorted(GENERATOR_CASES))
def test_generator_from_official_other_sizes_matches_oracle(case):
    spec = GENERATOR_CASES[case]
    rng = np.random.default_rng(len(case))
    sd = oracle.random_generator_state_dict(rng, **spec)
    if spec["architecture"] == "res":
        assert any(k.endswith(".skip.0.weight") for k in sd)
    g = generator_from_official(sd)
    assert g.size == spec["size"] and g.hidden_size == spec["hidden"] and g.style_dim == spec["style_dim"]
    assert g.n_mlp == spec["n_mlp"] and g.widths == list(spec["widths"]) and g.architecture == spec["architecture"]
    n_params = sum(int(np.prod(v.shape)) for v in g.trainable_weights)
    assert n_params == sum(v.size for k, v in sd.items() if not k.endswith(".kernel"))
    forward = oracle.cips_skip if spec["architecture"] == "skips" else oracle.cips_res
    batch = 2
    z = rng.standard_normal((batch, spec["style_dim"])).astype(np.float32)
    w = np.asarray(g.mapping(z))
    np.testing.assert_allclose(w, oracle.mapping(z, sd), atol=CONVERTER_TOL, rtol=1e-5)
    for name, coords in _coords_sets(rng, spec["size"], batch).items():
        for training in ([True, False] if name == "native" else [False]):
            want = _nhwc(forward(_nchw(coords), z, sd, training=training))
            got = np.asarray(g({"z": z, "coords": coords}, training=training, randomize_noise=False,
                                 direct_embedding=training))
            np.testing.assert_allclose(got, want, atol=CONVERTER_TOL, err_msg=f"{name} training={training}")
    want = _nhwc(forward(_nchw(coords), w, sd, input_is_latent=True))
    got = np.asarray(g({"w": w, "coords": coords}, training=False))
    np.testing.assert_allclose(got, want, atol=CONVERTER_TOL)


@pytest.mark.parametrize("size,widths", [(32, (24, 20, 16, 12)), (8, (6, 10))])
def test_discriminator_from_official_other_sizes_matches_oracle(size, widths):
    rng = np.random.default_rng(size)
    sd = oracle.random_discriminator_state_dict(rng, size=size, widths=widths)
    d = discriminator_from_official(sd)
    assert d.size == size and d.widths == list(widths)
    x = rng.standard_normal((4, 3, size, size)).astype(np.float32)
    for batch in (4, 2, 1):
        np.testing.assert_allclose(np.asarray(d(_nhwc(x[:batch]))), oracle.discriminator(x[:batch], sd),
                                   atol=CONVERTER_TOL, rtol=1e-5, err_msg=f"batch {batch}")


def test_generator_from_official_golden_param_count_matches(golden):
    for name in GENERATORS:
        g = generator_from_official(golden, prefix=f"{name}/param/")
        assert sum(int(np.prod(v.shape)) for v in g.trainable_weights) == int(golden[f"{name}/num_params"])
    d = discriminator_from_official(golden, prefix="Discriminator/param/")
    assert sum(int(np.prod(v.shape)) for v in d.trainable_weights) == int(golden["Discriminator/num_params"])


def test_generator_from_official_lr_mlp_is_used():
    rng = np.random.default_rng(3)
    sd = oracle.random_generator_state_dict(rng, size=4, hidden=4, style_dim=6, n_mlp=2, widths=(8,))
    g = generator_from_official(sd, lr_mlp=0.1)
    z = rng.standard_normal((2, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(g.mapping(z)), oracle.mapping(z, sd, lr_mlp=0.1), atol=CONVERTER_TOL)


# ---------------------------------------------------------------------------------- errors


@pytest.fixture
def small_sd():
    return oracle.random_generator_state_dict(np.random.default_rng(0), size=4, hidden=4, style_dim=6, n_mlp=2,
                                              widths=(8,))


def test_generator_from_official_missing_param_raises_naming_it(small_sd):
    del small_sd["linears.1.conv.modulation.bias"]
    with pytest.raises(ConversionError, match=r"linears\.1\.conv\.modulation\.bias"):
        generator_from_official(small_sd)


def test_generator_from_official_unmapped_param_raises_naming_it(small_sd):
    small_sd["linears.0.extra.weight"] = np.zeros((3,), np.float32)
    with pytest.raises(ConversionError, match=r"linears\.0\.extra\.weight"):
        generator_from_official(small_sd)


def test_generator_from_official_misshaped_param_raises_naming_it(small_sd):
    small_sd["to_rgbs.0.conv.modulation.weight"] = np.zeros((8, 5), np.float32)
    with pytest.raises(ConversionError, match=r"to_rgbs\.0\.conv\.modulation\.weight"):
        generator_from_official(small_sd)


def test_generator_from_official_unknown_architecture_raises(small_sd):
    with pytest.raises(ConversionError, match="architecture"):
        generator_from_official({k: v for k, v in small_sd.items() if not k.startswith("to_rgbs")})


def test_generator_from_official_wrong_prefix_raises():
    with pytest.raises(ConversionError):
        generator_from_official({"a/x": np.zeros(1)}, prefix="b/")


@pytest.fixture
def small_dsd():
    return oracle.random_discriminator_state_dict(np.random.default_rng(0), size=8, widths=(6, 10))


def test_discriminator_from_official_missing_param_raises_naming_it(small_dsd):
    del small_dsd["convs.1.conv2.2.bias"]
    with pytest.raises(ConversionError, match=r"convs\.1\.conv2\.2\.bias"):
        discriminator_from_official(small_dsd)


def test_discriminator_from_official_unmapped_param_raises_naming_it(small_dsd):
    small_dsd["final_linear.2.weight"] = np.zeros((1, 1), np.float32)
    with pytest.raises(ConversionError, match=r"final_linear\.2\.weight"):
        discriminator_from_official(small_dsd)


def test_discriminator_from_official_misshaped_param_raises_naming_it(small_dsd):
    small_dsd["convs.1.conv1.0.weight"] = np.zeros((6, 6, 1, 1), np.float32)
    with pytest.raises(ConversionError, match=r"convs\.1\.conv1\.0\.weight"):
        discriminator_from_official(small_dsd)


def test_discriminator_from_official_wrong_blur_kernel_raises_naming_it(small_dsd):
    small_dsd["convs.1.skip.0.kernel"] = np.ones((4, 4), np.float32) / 16
    with pytest.raises(ConversionError, match=r"convs\.1\.skip\.0\.kernel"):
        discriminator_from_official(small_dsd)
