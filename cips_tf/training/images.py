"""Image grids and PNG writing for samples (uint8 conversion lives here, not in models)."""
import numpy as np
from PIL import Image


def to_uint8(images):
    """[-1, 1] float -> uint8 numpy, quantized as StyleGAN does (`cips_tf.metrics.fid.quantize_images`:
    `clip(x * 127.5 + 128, 0, 255)`, truncated), so saved samples are the images FID measures."""
    from cips_tf.metrics.fid import quantize_images

    return quantize_images(np.asarray(images, np.float32)).numpy()


def image_grid(images, ncols=None):
    """`[N, H, W, C]` -> one `[rows * H, ncols * W, C]` array (row-major)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    grid = np.zeros((nrows * h, ncols * w, c), images.dtype)
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = image
    return grid


def save_png(path, image):
    Image.fromarray(np.asarray(image)).save(str(path))
