"""Tests of cips_tf.metrics.tfgan_compat.

Why this module exists: tensorflow-gan 2.1.0 (its last release) imports its Estimator wrappers from
its package `__init__`, and those subclass `tf.estimator.SessionRunHook`,
`tf.compat.v1.estimator.tpu.TPUEstimator`, ... at import time. TensorFlow 2.16+ has no
`tf.estimator`, so a plain `import tensorflow_gan` raises AttributeError. `import_tfgan()` first
installs an inert stand-in, then imports TF-GAN; these tests pin that behaviour down.
"""
import sys

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


def test_import_tfgan_leaves_no_pkg_resources_stand_in_behind(tmp_path, monkeypatch):
    # A stand-in left in sys.modules broke pytest's syspath_prepend (it then imports
    # pkg_resources.fixup_namespace_packages) for every later test in the same worker.
    tfgan_compat.import_tfgan()
    left = sys.modules.get("pkg_resources")
    assert not getattr(left, tfgan_compat.ESTIMATOR_STUB_MARKER, False)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_pkg_resources_shim_serves_parse_version_only_while_active():
    with tfgan_compat.pkg_resources_shim() as installed:
        import pkg_resources  # pylint: disable=g-import-not-at-top

        assert pkg_resources.parse_version("2.21.0") > pkg_resources.parse_version("2.9")
    if installed:
        assert "pkg_resources" not in sys.modules
