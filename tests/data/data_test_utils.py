"""Shared helpers of the data tests: tiny images written with Pillow."""
import numpy as np
from PIL import Image


def gradient_image(height=12, width=12, seed=0):
    """An asymmetric uint8 [H, W, 3] image (no mirror or rotation symmetry)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x * y) % 256], -1)
    image[0, 0] = rng.integers(0, 256, 3)
    return image.astype(np.uint8)


def constant_image(value, height=8, width=8):
    return np.full((height, width, 3), value, np.uint8)


def save(image, path, **kwargs):
    """Saves an array or PIL image to `path` (format from the extension); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, **kwargs)
    return path


def to_uint8(batch):
    """[-1, 1] floats -> uint8 (exact inverse of the pipeline's x / 127.5 - 1 on uint8 inputs)."""
    return np.round((np.asarray(batch) + 1.0) * 127.5).astype(np.uint8)
