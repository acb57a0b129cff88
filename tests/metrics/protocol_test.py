"""Tests of the evaluation protocol (cips_tf/metrics/protocol.py): seeded sampling, real-data specs."""
import numpy as np
import pytest

from cips_tf import latents, rendering
from cips_tf.metrics import protocol
from cips_tf.models.generator import CIPSGenerator
from tiny_models import TINY


@pytest.fixture(scope="module")
def generator():
    return CIPSGenerator(size=16, **TINY)


def test_make_sample_fn_seeds_match_generate_and_are_batch_size_independent(generator):
    no_noise = protocol.make_sample_fn(generator, batch_size=3, first_seed=7, noise=False)
    images = np.concatenate([no_noise(3, 7), no_noise(3, 8)])  # seeds 7..12
    want = rendering.render(generator, latents.styles_from_seeds(generator, range(7, 13)))
    np.testing.assert_allclose(images, want, rtol=1e-4, atol=1e-3)


def test_make_sample_fn_noise_is_seeded_per_image():
    noisy = CIPSGenerator(size=16, **TINY)
    noisy.build()
    strengths = [v for v in noisy.weights if "noise_strength" in v.path]
    assert strengths
    for v in strengths:
        v.assign(0.5)
    plain = protocol.make_sample_fn(noisy, batch_size=3, first_seed=7, noise=False)(3, 7)
    noisy3 = protocol.make_sample_fn(noisy, batch_size=3, first_seed=7)
    noisy6 = protocol.make_sample_fn(noisy, batch_size=6, first_seed=7)
    first = noisy3(3, 7)
    assert np.abs(first - plain).max() > 1e-2  # the noise is on
    np.testing.assert_array_equal(first, noisy3(3, 7))  # and reproducible
    np.testing.assert_allclose(noisy6(6, 7)[3:], noisy3(3, 8), rtol=1e-4, atol=1e-3)  # per image, not per batch


def test_parse_data_spec_covers_every_source():
    assert protocol.parse_data_spec("fashion_mnist").split == "train"
    assert protocol.parse_data_spec("fashion_mnist:test").split == "test"
    folder = protocol.parse_data_spec("folder:/data/imgs")
    assert (folder.source, folder.path) == ("folder", "/data/imgs")
    assert protocol.parse_data_spec("tfrecord:/data/*.tfrecord").source == "tfrecord"
    tfds = protocol.parse_data_spec("tfds:my_ds:1.0.0:train[:500]", data_dir="/tfds")
    assert (tfds.name, tfds.split, tfds.data_dir) == ("my_ds:1.0.0", "train[:500]", "/tfds")
    celeba = protocol.parse_data_spec("tfds:celeb_a_hq/256")
    assert (celeba.name, celeba.split) == ("celeb_a_hq/256", "train")
    for bad in ("imagenet", "folder:", "fashion_mnist:val", "tfds:"):
        with pytest.raises(ValueError):
            protocol.parse_data_spec(bad)
