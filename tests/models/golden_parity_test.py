"""Converted official weights reproduce the official CIPS code's outputs (golden vectors, NCHW -> NHWC)."""
import numpy as np
import pytest

from cips_tf.convert.official import discriminator_from_official, generator_from_official

TOL = 1e-5  # golden/README.md: "to within 1e-5 absolute"; measured max error ~5e-6


def _nhwc(a):
    return np.asarray(a).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module", params=["CIPSskip", "CIPSres"])
def converted(request, golden):
    name = request.param
    return name, generator_from_official(golden, prefix=f"{name}/param/")


def test_generator_golden_mapping_output_matches(golden, converted):
    name, g = converted
    np.testing.assert_allclose(np.asarray(g.mapping(golden[f"{name}/z"])), golden[f"{name}/w"], atol=TOL)


@pytest.mark.parametrize("key,coords,training", [
    ("rgb_train_native", "coords_native", True),
    ("rgb_eval_native", "coords_native", False),
    ("rgb_eval_dense", "coords_dense", False),
    ("rgb_eval_random", "coords_random", False),
])
def test_generator_golden_rgb_matches(golden, converted, key, coords, training):
    name, g = converted
    out = g({"z": golden[f"{name}/z"], "coords": _nhwc(golden[f"{name}/{coords}"])}, training=training,
            randomize_noise=False, direct_embedding=training)
    np.testing.assert_allclose(np.asarray(out), _nhwc(golden[f"{name}/{key}"]), atol=TOL)


def test_generator_golden_from_w_matches(golden, converted):
    name, g = converted
    out = g({"w": golden[f"{name}/w"], "coords": _nhwc(golden[f"{name}/coords_native"])}, training=False)
    np.testing.assert_allclose(np.asarray(out), _nhwc(golden[f"{name}/rgb_from_w_eval_native"]), atol=TOL)


def test_generator_golden_param_count_matches(golden, converted):
    name, g = converted
    assert g.count_params() == int(golden[f"{name}/num_params"])


@pytest.mark.parametrize("batch,key", [(4, "logits_batch4"), (2, "logits_batch2")])
def test_discriminator_golden_logits_match(golden, batch, key):
    d = discriminator_from_official(golden, prefix="Discriminator/param/")
    x = _nhwc(golden["Discriminator/x_batch4"])[:batch]
    np.testing.assert_allclose(np.asarray(d(x)), golden[f"Discriminator/{key}"], atol=TOL)
    assert d.count_params() == int(golden["Discriminator/num_params"])
