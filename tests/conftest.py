"""Shared test setup.

Two logical CPU devices are configured before TensorFlow creates its devices, so that
`tf.distribute.MirroredStrategy()` gives a 2-replica strategy on this 2-core machine.

Expensive artifacts that many files use (the tiny feature extractor) are built once per test run,
shared by the pytest-xdist workers through a file lock (see `shared_artifact`).
"""
import contextlib
import fcntl
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# cips_tf first: its quiet TensorFlow start keeps the cuInit ERROR line out of the run's output.
import cips_tf  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:  # devices were already initialised by an earlier import
    pass

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "tests" / "data_files"


@pytest.fixture(scope="session")
def golden():
    """The official-code test vectors (see ../shared/golden/README.md)."""
    return dict(np.load(DATA_DIR / "cips_official_small.npz"))


def pytest_configure(config):
    import extras

    # Every extra CIPS_REQUIRE_EXTRAS names must import (and a misspelt name is an error) before a
    # test runs, whatever way a test file imports it: CI stops here rather than skip its tests.
    extras.check_required()


@pytest.hookimpl(trylast=True)  # after `-m` has deselected and fixtures have grouped the items
def pytest_collection_modifyitems(items):
    """Files holding a slow test run first, each file's tests in their own order. pytest-xdist hands
    out the single tests in collection order (after the xdist groups), so a run ended on whatever
    files sort last: tests/training's 30-90 s runs, with the other worker idle. Now the short unit
    tests fill the end of the run instead (longest-first scheduling, at file granularity, so module
    fixtures are built once per worker). Without slow tests selected (the fast tier) nothing moves."""
    heavy = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in heavy)  # a stable sort


@contextlib.contextmanager
def shared_artifact(request, tmp_path_factory, name):
    """`(path, missing)`: a directory shared by every xdist worker of this run; `missing` is true for
    the one worker that must build it (the others wait on the lock until it is built)."""
    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist worker
        root = root.parent  # the run's base directory, above the per-worker ones
    path, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            path.mkdir(exist_ok=True)
            yield path, not done.exists()
            done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared_artifacts(request, tmp_path_factory):
    """`shared_artifact` for session fixtures in test files: `with shared_artifacts(name) as (path, missing)`."""
    return functools.partial(shared_artifact, request, tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_extractor(request, tmp_path_factory):
    """An offline Fashion-MNIST feature extractor trained for one short epoch (once per test run)."""
    from cips_tf.metrics import feature_extractor

    with shared_artifact(request, tmp_path_factory, "extractor") as (out, missing):
        if missing:
            feature_extractor.train_feature_extractor(out, epochs=1, batch_size=64, num_train=256, num_test=64,
                                                      verbose=0)
    return out


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)
    yield
