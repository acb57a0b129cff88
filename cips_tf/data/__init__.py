"""tf.data input pipelines: Fashion-MNIST (offline), TFDS by name, cips-tf TFRecords, image folders.

Dataset preparation (folder / zip / TFDS -> TFRecord shards + report): `prepare.prepare_dataset`.

    from cips_tf import data
    config = data.default_config()
    config.source, config.path = "folder", "/path/to/images"
    ds = data.build_dataset(config, resolution=256, batch_size=32, seed=0)  # [32, 256, 256, 3] in [-1, 1]
"""
from cips_tf.data.config import default_config
from cips_tf.data.fashion_mnist import load_fashion_mnist
from cips_tf.data.images import BadImageError, list_image_files, read_image_file, reset_skipped_images, skipped_images
from cips_tf.data.pipeline import build_dataset, iterate_numpy
from cips_tf.data.prepare import convert_image_folder, prepare_dataset
from cips_tf.data.tfrecord import list_tfrecord_files, read_tfrecords, write_tfrecords

__all__ = [
    "BadImageError",
    "build_dataset",
    "convert_image_folder",
    "default_config",
    "iterate_numpy",
    "list_image_files",
    "list_tfrecord_files",
    "load_fashion_mnist",
    "prepare_dataset",
    "read_image_file",
    "read_tfrecords",
    "reset_skipped_images",
    "skipped_images",
    "write_tfrecords",
]
