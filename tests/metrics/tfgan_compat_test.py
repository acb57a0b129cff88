"""Tests of cips_tf.metrics.tfgan_compat.

Why this module exists: tensorflow-gan 2.1.0 (its last release) imports its Estimator wrappers from
its package `__init__`, and those subclass `tf.estimator.SessionRunHook`,
`tf.compat.v1.estimator.tpu.TPUEstimator`, ... at import time. TensorFlow 2.16+ has no
`tf.estimator`, so a plain `import tensorflow_gan` raises AttributeError. `import_tfgan()` first
installs an inert stand-in, then imports TF-GAN; these tests pin that behaviour down.
"""
import pytest
import tensorflow as tf

from cips_tf.metrics import tfgan_compat


def test_import_tfgan_on_this_tensorflow_returns_module_with_eval_functions():
    tfgan = tfgan_compat.import_tfgan()
    assert callable(tfgan.eval.frechet_classifier_distance_from_activations)
    assert callable(tfgan.eval.kernel_classifier_distance_and_std_from_activations)


def test_install_estimator_stub_called_again_keeps_existing_module():
    tfgan_compat.import_tfgan()
    before = tf.estimator
    assert tfgan_compat.install_estimator_stub() is False
    assert tf.estimator is before


def test_estimator_stub_placeholders_subclass_but_refuse_instantiation():
    tfgan_compat.import_tfgan()
    if not getattr(tf.estimator, tfgan_compat.ESTIMATOR_STUB_MARKER, False):
        pytest.skip("this TensorFlow ships a real tf.estimator; no stub was installed")
    _ = tf.estimator.ModeKeys.TRAIN  # nested attribute reads work, as TF-GAN needs at import time

    class Hook(tf.estimator.SessionRunHook):
        pass

    with pytest.raises(NotImplementedError, match="tf.estimator was removed"):
        Hook()
    with pytest.raises(NotImplementedError):
        tf.compat.v1.estimator.tpu.TPUEstimator()
