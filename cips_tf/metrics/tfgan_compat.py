"""Imports `tensorflow_gan` (TF-GAN 2.1.0) on TensorFlow releases that no longer ship `tf.estimator`.

TF-GAN 2.1.0 is the last release. Its package `__init__` imports its Estimator wrappers
(`tensorflow_gan.python.estimator`, `tensorflow_gan.python.train`), which subclass and reference
`tf.estimator.*` and `tf.compat.v1.estimator.tpu.*` at import time. TensorFlow 2.16 removed
`tf.estimator`, so `import tensorflow_gan` fails there with
`AttributeError: module 'tensorflow' has no attribute 'estimator'`, although the evaluation code we
use (`tfgan.eval.*_from_activations`) never touches Estimators.

`import_tfgan()` installs an inert stand-in for `tf.estimator` (and `tf.compat.v1.estimator`)
*only when TensorFlow lacks one*, then imports TF-GAN. Every attribute of the stand-in is a
placeholder class: it can be subclassed and its attributes read (`tf.estimator.ModeKeys.TRAIN`),
but instantiating one raises `NotImplementedError`, so TF-GAN's Estimator API fails loudly if
anything ever calls it. This is the only module in cips_tf that knows about the workaround; import
TF-GAN through it.

Known to work: tensorflow==2.21.0 with tensorflow-gan==2.1.0, tensorflow-probability==0.25.0,
tensorflow-hub==0.16.1 and tf-keras==2.21.0 (the last two are TF-GAN's own dependencies, pulled in
by pip). Importing TFP rebinds `tf.compat.v1`, hence the import order in `import_tfgan`.
"""
import contextlib
import sys
import types

import tensorflow as tf

__all__ = ["import_tfgan", "install_estimator_stub", "pkg_resources_shim", "ESTIMATOR_STUB_MARKER"]

ESTIMATOR_STUB_MARKER = "_cips_tf_estimator_stub"


class _PlaceholderMeta(type):
    """Metaclass whose classes hand out further placeholder classes for any unknown attribute."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        placeholder = _PlaceholderMeta(name, (_Placeholder,), {"__module__": "tf.estimator (stub)"})
        setattr(cls, name, placeholder)
        return placeholder


class _Placeholder(metaclass=_PlaceholderMeta):
    """Stands for any `tf.estimator` symbol; cannot be instantiated."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__qualname__}: tf.estimator was removed from TensorFlow; cips_tf installs an inert "
            "stand-in only so that tensorflow_gan can be imported for its evaluation functions"
        )


class _StubModule(types.ModuleType):
    """A module that creates a placeholder class for each attribute looked up on it."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        placeholder = _PlaceholderMeta(name, (_Placeholder,), {"__module__": self.__name__})
        setattr(self, name, placeholder)
        return placeholder


def _make_stub(name):
    module = _StubModule(name, "Inert stand-in for the removed tf.estimator API (see cips_tf.metrics.tfgan_compat).")
    setattr(module, ESTIMATOR_STUB_MARKER, True)
    return module


def install_estimator_stub():
    """Gives `tf.estimator` and `tf.compat.v1.estimator` inert stand-ins where TensorFlow has none.

    Returns True if a stand-in was installed now, False if TensorFlow already had the attribute
    (a real Estimator or a stub installed earlier); never replaces a real `tf.estimator`.
    """
    installed = False
    for parent, name in ((tf, "tf.estimator"), (tf.compat.v1, "tf.compat.v1.estimator")):
        try:
            getattr(parent, "estimator")
            continue
        except AttributeError:
            pass
        setattr(parent, "estimator", _make_stub(name))
        installed = True
    return installed


@contextlib.contextmanager
def pkg_resources_shim():
    """While active, `import pkg_resources` finds a minimal stand-in (`parse_version` only).

    TF-GAN imports tensorflow_hub, whose `__init__` does `from pkg_resources import parse_version`
    at import time; setuptools >= 81 no longer ships `pkg_resources`. The stand-in forwards to
    `packaging.version.parse`. It never replaces a real `pkg_resources`, and it is removed from
    `sys.modules` on exit: a stand-in left behind makes later code that checks
    `"pkg_resources" in sys.modules` (pytest's `monkeypatch.syspath_prepend`, setuptools' own
    namespace handling) import names the stand-in lacks. Yields True if the stand-in was active.
    """
    installed = False
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401  (a probe: setuptools >= 81 lacks it)
        except ImportError:
            from packaging import version  # only when the stand-in is needed

            shim = types.ModuleType("pkg_resources", "Minimal stand-in installed by cips_tf.metrics.tfgan_compat.")
            shim.parse_version = version.parse
            setattr(shim, ESTIMATOR_STUB_MARKER, True)
            sys.modules["pkg_resources"] = shim
            installed = True
    try:
        yield installed
    finally:
        if installed and getattr(sys.modules.get("pkg_resources"), ESTIMATOR_STUB_MARKER, False):
            del sys.modules["pkg_resources"]


def import_tfgan():
    """Returns the `tensorflow_gan` module, installing the `tf.estimator` stand-in first if needed.

    Raises:
      ImportError: if tensorflow-gan (or tensorflow-probability, which it imports) is not
        installed, naming the pip pins that are known to work.
    """
    try:
        with pkg_resources_shim():  # TFP / TF-Hub import pkg_resources while they load
            # Imported before the stub goes in: importing TFP (through tf-keras) rebinds
            # `tf.compat.v1` to a fresh module object, which would drop a stub installed on the old one.
            import tensorflow_probability  # noqa: F401  (optional: the [metrics] extra)

            install_estimator_stub()
            import tensorflow_gan as tfgan  # optional: the [metrics] extra; after the stub
    except ImportError as e:
        raise ImportError(
            "tensorflow_gan is needed for KID and for the TF-GAN FID cross-check: "
            "pip install 'tensorflow-gan==2.1.0' 'tensorflow-probability==0.25.0' "
            "(or pip install -e '.[metrics]')"
        ) from e
    return tfgan
