"""Default data configuration (`default_config()`), the `data` section of every experiment config."""
import ml_collections
from ml_collections import config_dict

from cips_tf.data import images

SOURCES = ("fashion_mnist", "tfds", "tfrecord", "folder")


def default_config():
    """The data config consumed by `build_dataset`.

    Fields:
      source: 'fashion_mnist' (offline Debian files), 'tfds' (a prepared TFDS dataset by `name`),
        'tfrecord' (cips-tf shards, see `tfrecord.py`) or 'folder' (a directory of images).
      name: TFDS dataset name (source 'tfds'), e.g. 'celeb_a_hq/256' or 'my_dataset:1.0.0'.
      split: split name: 'train' / 'test' / 'all' for fashion_mnist, any TFDS split expression for
        'tfds'; unused by 'tfrecord' and 'folder'.
      data_dir: TFDS data_dir ('tfds') or the IDX directory ('fashion_mnist'); None = default.
      path: shard directory or glob ('tfrecord'), image folder ('folder').
      image_key: name of the image feature ('tfds').
      random_flip: random horizontal flip (training only).
      random_rotation: random rotation of the full image before the final center crop (training
        only); the paper's Satellite-Buildings recipe together with `resize_shorter_side=False`.
      rotation_degrees: angles are uniform in [-rotation_degrees, rotation_degrees).
      rotation_fill_mode: how rotated-in corners are filled: 'reflect', 'wrap', 'nearest', 'constant'.
      resize_shorter_side: True: resize the shorter side to the resolution, then center crop.
        False: keep the native scale and center crop (images smaller than the resolution are
        upscaled); with random_rotation the rotation sees the whole central square.
      skip_bad_images: skip corrupt/truncated/unreadable images, images above the limits below and
        malformed TFRecord examples (logged and counted, see `cips_tf.data.skipped_images()`)
        instead of failing with an error naming the file.
      max_image_pixels: an image whose header declares more pixels (width x height) is a bad image,
        refused before it is decoded (default 2**26, 8192 x 8192; `images.MAX_IMAGE_PIXELS`).
      max_aspect_ratio: an image whose longer side is more than this many times its shorter side is
        a bad image, refused before it is decoded (default 16).
      max_images: None (all) or N: train on a fixed random subset of N images (StyleGAN2-ADA's
        `--subset`; the same N images for every seed, in source order): small-data experiments.
        'fashion_mnist' and 'folder' sources.
      shuffle_buffer: element shuffle buffer (training), on top of a full shuffle of the file list.
      cache: cache decoded images (after the deterministic geometry, as uint8) in memory.
      num_parallel_calls: decode/augment parallelism; -1 = tf.data.AUTOTUNE.
      drop_remainder_eval: drop the last partial batch when training=False.
      labels: class labels for class-conditional training (`cips_tf.data.labels`): 'none' (default),
        'folder' (class subfolders), 'dataset.json' (StyleGAN's file in data.path), 'fashion_mnist'
        (its 10 classes) or 'tfrecord' (shards written by cips-dataset --labels). Batches are then
        (images, labels).
    """
    config = ml_collections.ConfigDict()
    config.source = "fashion_mnist"
    config.name = ""
    config.split = "train"
    config.data_dir = config_dict.placeholder(str)
    config.path = ""
    config.image_key = "image"
    config.random_flip = True
    config.random_rotation = False
    config.rotation_degrees = 180.0
    config.rotation_fill_mode = "reflect"
    config.resize_shorter_side = True
    config.skip_bad_images = False
    config.max_image_pixels = images.MAX_IMAGE_PIXELS
    config.max_aspect_ratio = images.MAX_ASPECT_RATIO
    config.max_images = config_dict.placeholder(int)
    config.shuffle_buffer = 1000
    config.cache = False
    config.num_parallel_calls = -1
    config.drop_remainder_eval = False
    config.labels = "none"
    return config
