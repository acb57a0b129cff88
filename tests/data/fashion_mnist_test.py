"""Tests for the offline Fashion-MNIST reader and the 'fashion_mnist' source of build_dataset."""
import gzip

import numpy as np
import pytest
import tensorflow as tf

from cips_tf import data
from cips_tf.data import fashion_mnist

_HAVE_FILES = all(
    (fashion_mnist.pathlib.Path(fashion_mnist.DEFAULT_DIR) / f).exists() for pair in fashion_mnist._FILES.values() for f in pair
)
needs_debian_files = pytest.mark.skipif(not _HAVE_FILES, reason="dataset-fashion-mnist not installed")


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_idx_dir(tmp_path):
    """A Fashion-MNIST-shaped IDX directory with 6 train and 2 test images (constant values)."""
    for split, n, offset in (("train", 6, 0), ("test", 2, 6)):
        image_file, label_file = fashion_mnist._FILES[split]
        images = np.stack([np.full((28, 28), 20 * (offset + i)) for i in range(n)])
        _write_idx(tmp_path / image_file, images, 0x803)
        _write_idx(tmp_path / label_file, np.arange(n), 0x801)
    return str(tmp_path)


def test_load_fashion_mnist_tiny_dir_splits_and_all(tiny_idx_dir):
    train, _ = fashion_mnist.load_fashion_mnist("train", tiny_idx_dir)
    everything, labels = fashion_mnist.load_fashion_mnist("all", tiny_idx_dir)
    assert train.shape == (6, 28, 28) and everything.shape == (8, 28, 28) and labels.shape == (8,)


def test_load_fashion_mnist_missing_dir_names_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fashion_mnist.load_fashion_mnist("train", tmp_path)


def test_build_dataset_fashion_mnist_eval_gray_rgb_bilinear_resized(tiny_idx_dir):
    config = data.default_config()
    config.data_dir, config.split = tiny_idx_dir, "all"
    batches = list(data.build_dataset(config, resolution=32, batch_size=3, seed=0, training=False))
    images = np.concatenate(batches)
    assert images.shape == (8, 32, 32, 3) and images.dtype == np.float32
    np.testing.assert_allclose(images[:, 0, 0, 0], np.arange(8) * 20 / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])


def test_build_dataset_fashion_mnist_input_context_shards_disjoint(tiny_idx_dir):
    config = data.default_config()
    config.data_dir = tiny_idx_dir
    seen = []
    for pipeline in range(2):
        ds = data.build_dataset(config, resolution=8, batch_size=2, seed=0, training=False,
                                input_context=tf.distribute.InputContext(2, pipeline, 2))
        seen.append({int(round((v + 1) * 127.5)) for b in ds for v in b.numpy()[:, 0, 0, 0]})
    assert not seen[0] & seen[1] and seen[0] | seen[1] == {20 * i for i in range(6)}


def test_build_dataset_fashion_mnist_is_built_from_tensors_without_python(tiny_idx_dir):
    """No Python generator or py_func anywhere in the pipeline's graph (issue 21)."""
    config = data.default_config()
    config.data_dir = tiny_idx_dir
    for training in (True, False):
        ds = data.build_dataset(config, resolution=8, batch_size=2, seed=0, training=training)
        graph = tf.compat.v1.GraphDef.FromString(ds._as_serialized_graph().numpy())
        ops = {node.op for node in graph.node} | {
            node.op for function in graph.library.function for node in function.node_def}
        assert "TensorSliceDataset" in ops
        assert not ops & {"GeneratorDataset", "PyFunc", "EagerPyFunc", "PyFuncStateless"}, ops


@needs_debian_files
def test_build_dataset_fashion_mnist_real_files_training_batches_in_range():
    config = data.default_config()
    config.shuffle_buffer = 64
    ds = data.build_dataset(config, resolution=32, batch_size=8, seed=0)
    batch = next(iter(ds)).numpy()
    assert batch.shape == (8, 32, 32, 3) and -1.0 <= batch.min() < batch.max() <= 1.0
    again = next(iter(data.build_dataset(config, resolution=32, batch_size=8, seed=0))).numpy()
    np.testing.assert_array_equal(batch, again)


@needs_debian_files
def test_load_fashion_mnist_real_files_have_70k_images():
    images, labels = fashion_mnist.load_fashion_mnist("all")
    assert images.shape == (70000, 28, 28) and labels.shape == (70000,)
