"""Training-coordinate samplers: what the generator renders in one training step, and the real pixels
that match it.

A sampler gives, inside the compiled step and from a stateless seed, the coordinates the generator
renders for a GLOBAL batch and the pixels of the real images they stand for:
`sample(global_batch, seed) -> (coords [GB, h, w, 2], pixel_index [GB, h, w, 2] int32 (x, y) or None)`
and `real(images, pixel_index)`. `direct_embedding` says whether the generator may read its
coordinate-embedding table directly (only the native grid; see CoordinateEmbedding).

- "full": the native `size x size` grid, embedding read directly (the official training); for a
  non-square model the `height x width` canvas grid (`cips_tf.coords.canvas_grid`).
- "patch" (paper App. C): K x K patches `P_{K, sigma}(u, v) = {G(u + i sigma, v + j sigma)}` of the
  full grid, with the dilation sigma uniform in 1..max (capped so the patch fits) and the corner
  uniform over the valid range; real images are cut at the same pixels, and the discriminator
  works at K x K.
- "cylindrical" (Sec. 4.8): random `size x size` crops, at a uniformly random column offset
  (mod the panorama width), of the annulus-embedded cylinder of `cips_tf.coords_extra`, so the
  wrap is exact; real images are ordinary photographs.
"""
import tensorflow as tf

from cips_tf import coords_extra
from cips_tf.coords import canvas_grid, make_grid
from cips_tf.models.factory import training_canvas


class FullGridSampler:
    """The native grid for standard training (embedding read directly); real images as they are.

    `height` and `width` (default `resolution`) give a non-square canvas (square pixels)."""

    direct_embedding = True

    def __init__(self, resolution, height=None, width=None):
        self.resolution = int(resolution)
        self.height = self.resolution if height is None else int(height)
        self.width = self.resolution if width is None else int(width)

    def sample(self, global_batch, seed):
        return canvas_grid(global_batch, self.height, self.width), None

    def real(self, images, pixel_index):
        return images


class PatchSampler:
    """App. C patch training: coords `[GB, K, K, 2]` on the full `size` grid, real patches cut alike."""

    direct_embedding = False

    def __init__(self, resolution, patch_size, max_dilation):
        if not 1 < patch_size <= resolution:
            raise ValueError(f"training.patch_size must be in (1, resolution={resolution}], got {patch_size}")
        self.resolution = int(resolution)
        self.patch_size = int(patch_size)
        self.max_dilation = max(1, min(int(max_dilation), (self.resolution - 1) // (self.patch_size - 1)))

    def pixel_indices(self, global_batch, seed):
        """`[GB, K, K, 2]` int32 (x, y) pixel positions of the sampled patches."""
        k, n = self.patch_size, self.resolution
        sigma = tf.random.stateless_uniform([global_batch], seed=seed, minval=1, maxval=self.max_dilation + 1,
                                            dtype=tf.int32)  # [GB]
        span = n - (k - 1) * sigma  # valid corners: 0 <= u < span
        corner_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        uv = tf.random.stateless_uniform([global_batch, 2], seed=corner_seed)  # [GB, 2]
        uv = tf.minimum(tf.cast(uv * tf.cast(span, tf.float32)[:, None], tf.int32), (span - 1)[:, None])
        steps = tf.range(k)[None, :] * sigma[:, None]  # [GB, K]
        xs = uv[:, 0:1] + steps  # [GB, K] columns
        ys = uv[:, 1:2] + steps  # [GB, K] rows
        gx = tf.broadcast_to(xs[:, None, :], [global_batch, k, k])
        gy = tf.broadcast_to(ys[:, :, None], [global_batch, k, k])
        return tf.stack([gx, gy], axis=-1)

    def sample(self, global_batch, seed):
        pixel_index = self.pixel_indices(global_batch, seed)
        grid = make_grid(1, self.resolution)[0]  # [n, n, 2]
        coords = tf.gather_nd(grid, tf.reverse(pixel_index, axis=[-1]))  # bit-identical to the full grid
        return coords, pixel_index

    def real(self, images, pixel_index):
        """`images` `[b, H, W, C]` cut at `pixel_index` `[b, K, K, 2]` (x, y) -> `[b, K, K, C]`."""
        return tf.gather_nd(images, tf.reverse(pixel_index, axis=[-1]), batch_dims=1)


class CylindricalSampler:
    """Sec. 4.8 cylindrical training: random crops of the annulus-embedded 360-degree panorama."""

    direct_embedding = False

    def __init__(self, resolution, panorama_width=None, r_inner=coords_extra.DEFAULT_R_INNER,
                 r_outer=coords_extra.DEFAULT_R_OUTER):
        self.resolution = int(resolution)
        width = panorama_width or coords_extra.panorama_width(self.resolution, r_inner, r_outer)
        self.panorama_width = int(width)
        self._full = coords_extra.cylindrical_grid_np(self.resolution, self.panorama_width, r_inner, r_outer)

    def sample(self, global_batch, seed):
        size, width = self.resolution, self.panorama_width
        cols = tf.random.stateless_uniform([global_batch], seed=seed, minval=0, maxval=width, dtype=tf.int32)
        idx = (cols[:, None] + tf.range(size)[None, :]) % width  # [GB, size]
        crops = tf.gather(tf.constant(self._full), idx, axis=1)  # [size, GB, size, 2]
        return tf.transpose(crops, [1, 0, 2, 3]), None

    def real(self, images, pixel_index):
        return images


def training_mode(config):
    """The coordinate sampler a run config chooses (`training.mode`: "full", "patch" or "cylindrical"),
    or None without a config (an export, a converted model). The one reader of that choice, for
    training (`make_sampler`) and inference (`cips-generate`'s panoramas and blends) alike."""
    return None if config is None else config.get("training", {}).get("mode")


def cylinder_radii(config):
    """`(r_inner, r_outer)` of the annulus a cylindrical run trains on (`training.cylinder_r_inner` /
    `_outer`), the `cips_tf.coords_extra` defaults where unset or without a config."""
    t = {} if config is None else config.get("training", {})
    r_inner, r_outer = t.get("cylinder_r_inner"), t.get("cylinder_r_outer")
    return (coords_extra.DEFAULT_R_INNER if r_inner is None else float(r_inner),
            coords_extra.DEFAULT_R_OUTER if r_outer is None else float(r_outer))


def make_sampler(config):
    """The sampler of `config.training.mode` ("full", "patch" or "cylindrical")."""
    t = config.training
    mode = training_mode(config)
    height, width = training_canvas(config)
    if mode == "full":
        return FullGridSampler(config.resolution, height, width)
    if height != width:
        raise ValueError(f"training.mode={mode!r} samples square windows of a square grid; a non-square aspect "
                         f"({config.aspect}) trains with training.mode='full' only")
    if mode == "patch":
        return PatchSampler(config.resolution, t.patch_size, t.patch_max_dilation)
    if mode == "cylindrical":
        return CylindricalSampler(config.resolution, t.get("panorama_width"), *cylinder_radii(config))
    raise ValueError(f"training.mode must be 'full', 'patch' or 'cylindrical', got {mode!r}")

