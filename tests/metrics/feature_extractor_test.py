"""Tests of cips_tf.metrics.feature_extractor (the offline, non-standard Fashion-MNIST CNN)."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from cips_tf.data.fashion_mnist import load_fashion_mnist
from cips_tf.metrics import evaluate
from cips_tf.metrics import feature_extractor as fx


@pytest.fixture(scope="module")
def tiny_extractor_dir(tmp_path_factory):
    """One tiny training run (1 epoch on 256 images) shared by this module's tests."""
    out = tmp_path_factory.mktemp("extractor")
    metadata = fx.train_feature_extractor(out, epochs=1, batch_size=64, num_train=256, num_test=128, verbose=0)
    return out, metadata


def test_extractor_preprocess_config_round_trip_keeps_size():
    layer = fx.ExtractorPreprocess(size=20, name="pre")
    clone = fx.ExtractorPreprocess.from_config(layer.get_config())
    assert clone.size == 20 and clone.name == "pre"


def test_extractor_preprocess_rgb_at_28_matches_numpy_luma():
    images = np.random.default_rng(0).uniform(-1, 1, size=[2, 28, 28, 3]).astype(np.float32)
    got = keras.ops.convert_to_numpy(fx.ExtractorPreprocess()(images))
    want = (images @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_extractor_preprocess_32px_input_is_bilinear_resized():
    images = np.random.default_rng(1).uniform(-1, 1, size=[2, 32, 32, 1]).astype(np.float32)
    got = keras.ops.convert_to_numpy(fx.ExtractorPreprocess()(images))
    want = tf.image.resize(images, (28, 28), method="bilinear").numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_extractor_preprocess_symbolic_call_has_fixed_output_shape():
    out = fx.ExtractorPreprocess()(keras.Input(shape=(None, None, 3)))
    assert tuple(out.shape) == (None, 28, 28, 1)


def test_build_classifier_weight_count_and_outputs():
    model = fx.build_classifier()
    # conv 3x3: 1->32, 32->32, 32->64, 64->64; dense 3136->128; dense 128->10.
    want = (9 * 1 * 32 + 32) + (9 * 32 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 64 + 64) + (3136 * 128 + 128) + 1290
    assert model.count_params() == want
    assert model(np.zeros([2, 32, 32, 3], np.float32)).shape == (2, 10)
    assert model.get_layer(fx.FEATURE_LAYER).units == 128


def test_fashion_mnist_to_model_images_scales_to_unit_range():
    x = fx.fashion_mnist_to_model_images(np.array([[[0, 255]]], np.uint8)).numpy()
    assert x.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(x[0, 0, :, 0], [-1.0, 1.0])


def test_train_feature_extractor_tiny_run_writes_model_and_non_standard_metadata(tiny_extractor_dir):
    out, metadata = tiny_extractor_dir
    assert (out / fx.MODEL_FILENAME).exists()
    assert json.loads((out / fx.METADATA_FILENAME).read_text()) == metadata
    assert metadata["standard"] is False and metadata["name"] == fx.EXTRACTOR_NAME
    assert metadata["train_images"] == 256 and metadata["test_images"] == 128
    assert 0.0 <= metadata["test_accuracy"] <= 1.0


def test_load_feature_extractor_saved_model_gives_penultimate_features(tiny_extractor_dir):
    out, _ = tiny_extractor_dir
    extractor = fx.load_feature_extractor(out)
    assert extractor.standard is False and extractor.metric_suffix == "_offline"
    images = np.random.default_rng(2).uniform(-1, 1, size=[4, 32, 32, 3]).astype(np.float32)
    features = extractor(images).numpy()
    assert features.shape == (4, 128) and extractor.feature_dim == 128
    # The .keras file reloads the same network: features equal the reloaded model's own layer.
    reloaded = keras.saving.load_model(out / fx.MODEL_FILENAME)
    probe = keras.Model(reloaded.input, reloaded.get_layer(fx.FEATURE_LAYER).output)
    quantized = (np.clip(images * 127.5 + 128, 0, 255).astype(np.uint8) / 127.5 - 1).astype(np.float32)
    np.testing.assert_allclose(features, probe(quantized).numpy(), rtol=1e-5, atol=1e-5)


def test_offline_extractor_float_and_quantized_inputs_give_same_features(tiny_extractor_dir):
    extractor = fx.load_feature_extractor(tiny_extractor_dir[0] / fx.MODEL_FILENAME)
    images = np.random.default_rng(3).uniform(-1, 1, size=[3, 32, 32, 3]).astype(np.float32)
    pixels = np.clip(images * 127.5 + 128, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(extractor(images).numpy(), extractor(pixels).numpy())
    grey = extractor(images[..., :1]).numpy()  # 1-channel input is tiled to grey RGB
    np.testing.assert_allclose(grey, extractor(np.repeat(images[..., :1], 3, -1)).numpy(), rtol=1e-5, atol=1e-5)


def test_load_feature_extractor_missing_dir_raises_with_training_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m cips_tf.cli.feature_extractor"):
        fx.load_feature_extractor(tmp_path)


def test_evaluate_generator_offline_extractor_reports_offline_metrics(tiny_extractor_dir):
    extractor = fx.load_feature_extractor(tiny_extractor_dir[0])
    images, _ = load_fashion_mnist("test")
    real = tf.image.resize(fx.fashion_mnist_to_model_images(images[:64]), (32, 32)).numpy()

    def sample_fn(batch_size, seed):
        rng = np.random.default_rng(seed)
        return real[rng.integers(0, len(real), batch_size)] + rng.normal(0, 0.1, real[:batch_size].shape).astype(np.float32)

    results = evaluate.evaluate_generator(
        [real[:32], real[32:]], sample_fn, extractor, num_samples=48, batch_size=16, num_real=64, progress=False
    )
    assert set(results) >= {"fid_offline", "kid_offline", "kid_offline_std", "precision_offline", "recall_offline"}
    assert results["standard"] is False and results["extractor"] == fx.EXTRACTOR_NAME
    assert results["num_real"] == 64 and results["num_fake"] == 48
    assert np.isfinite(results["fid_offline"])


@pytest.mark.slow
def test_train_feature_extractor_one_epoch_on_10k_images_learns_classes(tmp_path):
    # One epoch on 10k images reaches 0.79 test accuracy here (20k: 0.83, 6k: 0.74; chance is 0.1).
    metadata = fx.train_feature_extractor(tmp_path, epochs=1, num_train=10000, num_test=2000, verbose=0)
    assert metadata["test_accuracy"] >= 0.7, metadata
