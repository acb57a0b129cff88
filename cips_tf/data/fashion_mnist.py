"""Fashion-MNIST read offline from Debian's `dataset-fashion-mnist` package.

The package installs the original IDX files under `/usr/share/datasets/fashion-mnist`
(70,000 real 28 x 28 grayscale images: 60,000 train, 10,000 test). Reading them needs no network,
which makes this the quickstart and test dataset on machines without internet access.
"""
import gzip
import os
import pathlib

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _read_idx(path, expected_magic):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic != expected_magic:
        raise ValueError(f"{path}: not an IDX file of the expected kind (magic {magic:#x}, want {expected_magic:#x})")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(data) - offset != count:
        raise ValueError(f"{path}: truncated IDX file ({len(data) - offset} bytes of payload, want {count})")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def load_fashion_mnist(split="train", data_dir=None):
    """Returns `(images uint8 [N, 28, 28], labels uint8 [N])` for `split` in {"train", "test", "all"}.

    Raises FileNotFoundError naming the missing file and the Debian package that provides it.
    """
    data_dir = pathlib.Path(data_dir or os.environ.get("CIPS_FASHION_MNIST_DIR", DEFAULT_DIR))
    if split == "all":
        parts = [load_fashion_mnist(s, data_dir) for s in ("train", "test")]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    if split not in _FILES:
        raise ValueError(f"fashion_mnist split must be 'train', 'test' or 'all', got {split!r}")
    image_file, label_file = (data_dir / name for name in _FILES[split])
    for path in (image_file, label_file):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: install Debian's `dataset-fashion-mnist` package "
                "(apt-get install dataset-fashion-mnist) or set CIPS_FASHION_MNIST_DIR"
            )
    images = _read_idx(image_file, 0x00000803)
    labels = _read_idx(label_file, 0x00000801)
    if len(images) != len(labels):
        raise ValueError(f"{image_file}: {len(images)} images but {len(labels)} labels")
    return images, labels
