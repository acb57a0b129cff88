"""Chunked synthesis: render any H x W image in bounded memory (paper Sec. 1: sequential synthesis).

Pixels are conditionally independent, so the flattened coordinate list is cut into chunks of
`chunk_pixels` points, each rendered by one compiled call, and written into the output array.
Peak memory is set by the chunk size (activations `chunk_pixels x width` per layer), not by the
image size; the result equals one-pass rendering (eval mode: the embedding is always sampled).
"""
import math

import numpy as np
import tensorflow as tf

from cips_tf.coords import make_grid_np


class ChunkedRenderer:
    """Renders `[B, H, W, 3]` images chunk by chunk with a compiled, shape-stable step.

    Args:
        generator: a `CIPSGenerator`.
        chunk_pixels: points per chunk per sample.
        jit_compile: compile the chunk step with XLA.
    """

    def __init__(self, generator, chunk_pixels=32768, jit_compile=False):
        self.generator = generator
        self.chunk_pixels = int(chunk_pixels)
        self.jit_compile = bool(jit_compile)
        self._steps = {}

    def _step(self, styles, points, per_layer):
        """One compiled function per style layout, traced once for any batch and point count."""
        key = (per_layer, len(styles.shape))
        if key not in self._steps:
            style_spec = tf.TensorSpec([None] * len(styles.shape), tf.float32)

            def render(s, p):
                return self.generator.synthesis(s, p, randomize_noise=False, per_layer=per_layer)

            self._steps[key] = tf.function(
                render, input_signature=[style_spec, tf.TensorSpec([None, None, 2], tf.float32)],
                jit_compile=self.jit_compile,
            )
        return self._steps[key](styles, points)

    def render_points(self, styles, points, per_layer=False, progress=None):
        """`points` `[B, N, 2]` (numpy or tensor) -> `[B, N, 3]` float32 numpy.

        `styles` is `[B, S]` (or `[B, num_ws, S]` with `per_layer=True`), or per point `[B, N, S]`.
        """
        styles = tf.convert_to_tensor(styles, tf.float32)
        points = np.asarray(points, dtype=np.float32)
        batch, n = points.shape[0], points.shape[1]
        per_point = (not per_layer) and len(styles.shape) == 3
        out = np.empty((batch, n, 3), dtype=np.float32)
        c = self.chunk_pixels
        num_chunks = math.ceil(n / c)
        for i in range(num_chunks):
            lo, hi = i * c, min((i + 1) * c, n)
            chunk = points[:, lo:hi]
            style_chunk = styles[:, lo:hi] if per_point else styles
            pad = c - (hi - lo) if num_chunks > 1 else 0
            if pad:  # keep one traced shape for every chunk
                chunk = np.pad(chunk, ((0, 0), (0, pad), (0, 0)))
                if per_point:
                    style_chunk = tf.pad(style_chunk, [[0, 0], [0, pad], [0, 0]])
            rgb = self._step(style_chunk, tf.constant(chunk), per_layer)
            out[:, lo:hi] = rgb.numpy()[:, : hi - lo]
            if progress is not None:
                progress(i + 1, num_chunks)
        return out

    def render(self, styles, height, width=None, per_layer=False, x_range=(-1.0, 1.0), y_range=(-1.0, 1.0),
               progress=None):
        """Renders the `height x width` grid over `x_range x y_range` -> `[B, H, W, 3]` float32 numpy."""
        width = height if width is None else width
        styles = tf.convert_to_tensor(styles, tf.float32)
        batch = styles.shape[0]
        grid = make_grid_np(height, width, x_range, y_range).reshape(1, -1, 2)
        points = np.broadcast_to(grid, (batch,) + grid.shape[1:])
        if not per_layer and len(styles.shape) == 4:  # per-pixel styles [B, H, W, S]
            styles = tf.reshape(styles, (batch, height * width, -1))
        out = self.render_points(styles, points, per_layer=per_layer, progress=progress)
        return out.reshape(batch, height, width, 3)


def render_chunked(generator, styles, height, width=None, chunk_pixels=32768, per_layer=False):
    """One-shot helper: `ChunkedRenderer(generator, chunk_pixels).render(styles, height, width)`."""
    return ChunkedRenderer(generator, chunk_pixels).render(styles, height, width, per_layer=per_layer)
