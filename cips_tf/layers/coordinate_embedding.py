"""Learned per-pixel coordinate embeddings (paper Sec. 3.1, eq. 4; official `ConstantInput`)."""
import keras
from keras import ops

from cips_tf.coords import canvas_extent


def grid_sample_border(table, coords):
    """Bilinear lookup of `table` at normalised `coords`, like PyTorch's `F.grid_sample`.

    Matches `grid_sample(mode="bilinear", padding_mode="border", align_corners=False)`: the
    coordinate x in [-1, 1] maps to the column position `((x + 1) * W - 1) / 2`, which is clamped to
    `[0, W - 1]` before interpolation (y likewise with H).

    Args:
        table: `[H, W, C]` tensor.
        coords: `[..., 2]` tensor, channel 0 = x (along W), channel 1 = y (along H).

    Returns:
        `[..., C]` tensor.
    """
    height, width, channels = table.shape
    dtype = table.dtype
    x = ops.cast(coords[..., 0], dtype)
    y = ops.cast(coords[..., 1], dtype)
    ix = ops.clip(((x + 1.0) * width - 1.0) * 0.5, 0.0, width - 1.0)
    iy = ops.clip(((y + 1.0) * height - 1.0) * 0.5, 0.0, height - 1.0)
    x0 = ops.floor(ix)
    y0 = ops.floor(iy)
    wx = ops.expand_dims(ix - x0, -1)  # [..., 1]
    wy = ops.expand_dims(iy - y0, -1)
    x0 = ops.cast(x0, "int32")
    y0 = ops.cast(y0, "int32")
    x1 = ops.minimum(x0 + 1, width - 1)
    y1 = ops.minimum(y0 + 1, height - 1)
    flat = ops.reshape(table, (height * width, channels))

    def gather(yi, xi):
        return ops.take(flat, yi * width + xi, axis=0)  # [..., C]

    top = gather(y0, x0) * (1.0 - wx) + gather(y0, x1) * wx
    bottom = gather(y1, x0) * (1.0 - wx) + gather(y1, x1) * wx
    return top * (1.0 - wy) + bottom * wy


@keras.saving.register_keras_serializable(package="cips_tf")
class CoordinateEmbedding(keras.layers.Layer):
    """A learned `size x size x units` (or `height x width x units`) table of coordinate embeddings `e_co^(x, y)`.

    The official code reads the table directly (each pixel gets its own vector) in training mode on
    the native `size x size` grid; here the caller says so with `direct=True` (the generator's
    `direct_embedding`, which CIPSGAN sets for full-grid training), rather than the layer guessing
    from the input's shape. Otherwise (eval mode, denser grids, patches, crops, arbitrary points)
    the table is sampled bilinearly with border clamping, exactly as `F.grid_sample(mode="bilinear",
    padding_mode="border", align_corners=False)`. On the native `linspace(-1, 1)` grid the two
    differ slightly: sampling interpolates between neighbouring entries.

    Non-square canvases (`height != width`, `cips_tf.coords.canvas_grid`): the table is
    `height x width` and spans the canvas's extent (the shorter side [-1, 1], the longer one
    `+-(long - 1) / (short - 1)`), so coordinates are divided by that extent before the lookup.
    Coordinates beyond the table (a wide render of a square model, a panorama) get the embedding of
    the nearest edge entry: the border clamping of the official `grid_sample`.

    Args:
        size: the training resolution (table height and width when those are not given).
        units: embedding width (the paper's hidden size, 512).
        height, width: the table's shape for a non-square canvas (default: `size`).

    Call arguments:
        inputs: `[B, ..., 2]` coordinates (channel 0 = x along the width, channel 1 = y).
        direct: Python bool: return the table itself for the native grid (`inputs` must be
            `[B, height, width, 2]`; their values are not read).

    Example:
        >>> emb = CoordinateEmbedding(size=8, units=16)
        >>> emb(keras.ops.zeros((2, 8, 8, 2))).shape
        (2, 8, 8, 16)
    """

    def __init__(self, size, units, height=None, width=None, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.units = int(units)
        self.height = self.size if height is None else int(height)
        self.width = self.size if width is None else int(width)
        if self.height < 1 or self.width < 1:
            raise ValueError(f"CoordinateEmbedding: height and width must be positive, got {self.height} x {self.width}")

    def build(self, inputs_shape):
        if inputs_shape[-1] != 2:
            raise ValueError(f"CoordinateEmbedding expects coordinates with 2 channels, got shape {inputs_shape}")
        self.table = self.add_weight(
            name="table",
            shape=(self.height, self.width, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
        )

    def call(self, inputs, direct=False):
        if direct:
            shape = tuple(inputs.shape)
            if len(shape) != 4 or shape[1] != self.height or shape[2] != self.width:
                raise ValueError(f"CoordinateEmbedding: a direct read needs the native [B, {self.height}, "
                                 f"{self.width}, 2] grid, got shape {shape}")
            table = ops.cast(self.table, self.compute_dtype)
            batch = ops.shape(inputs)[0]
            return ops.broadcast_to(table[None], (batch, self.height, self.width, self.units))
        # Sampling positions are computed in float32 even under mixed precision: bfloat16 cannot
        # address the cells of a 256-wide table.
        coords = ops.cast(inputs, "float32")
        if self.height != self.width:  # the canvas's extent -> the table's [-1, 1] (a square skips this)
            x_max, y_max = canvas_extent(self.height, self.width)
            coords = coords / ops.convert_to_tensor([x_max, y_max], "float32")
        sampled = grid_sample_border(ops.cast(self.table, "float32"), coords)
        return ops.cast(sampled, self.compute_dtype)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, units=self.units)
        if (self.height, self.width) != (self.size, self.size):  # square configs stay as they were
            config.update(height=self.height, width=self.width)
        return config
