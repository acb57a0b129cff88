"""Chunked synthesis: render any H x W image in bounded memory (paper Sec. 1: sequential synthesis).

Pixels are conditionally independent, so the flattened coordinate list is cut into chunks of
`chunk_pixels` points, each rendered by one compiled call, and written into the output array.
Peak memory is set by the chunk size (activations `chunk_pixels x width` per layer), not by the
image size; the result equals one-pass rendering (eval mode: the embedding is always sampled).

The generator is a `CIPSGenerator` (each chunk one compiled TensorFlow call) or an exported model
loaded by `cips_tf.export.runtimes.RuntimeGenerator` (ONNX Runtime, OpenVINO, LiteRT or the
SavedModel's signatures: each chunk one `synthesis(w, coords)` call of numpy arrays). A runtime
takes one w per image (no per-layer or per-point styles) and the loop respects its shapes: a fixed
point count (`--points` at export) is every chunk's size, the last chunk padded; a fixed batch is
every call's, the last group padded; the SavedModel's `max_batch` and `max_pixels` (N * points per
request) cap the images and points per call.
"""
import math

import numpy as np
import tensorflow as tf

from cips_tf.coords import make_grid_np
from cips_tf.errors import UserError


def is_runtime(generator):
    """True for an exported model loaded by `RuntimeGenerator` (duck-typed: `is_runtime`)."""
    return bool(getattr(generator, "is_runtime", False))


def _runtime_styles(generator, styles, per_layer):
    """`styles` as `[B, S]` float32 numpy, or one line saying a runtime takes one w per image."""
    styles = np.asarray(styles, np.float32)
    if per_layer or styles.ndim != 2:
        raise RuntimeStylesError(
            f"the {generator.format} export renders one w per image ([B, style_dim]); per-layer or per-point "
            f"styles (style mixing, blending) need the Keras model, got styles of shape {list(styles.shape)}")
    return styles


class RuntimeStylesError(UserError, ValueError):
    """Styles an exported runtime cannot take (one line)."""


class ChunkedRenderer:
    """Renders `[B, H, W, 3]` images chunk by chunk with a compiled, shape-stable step.

    Args:
        generator: a `CIPSGenerator`, or a `RuntimeGenerator` (an exported model; see above).
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

        `styles` is `[B, S]` (or `[B, num_ws, S]` with `per_layer=True`), or per point `[B, N, S]`
        (the last two only with a `CIPSGenerator`).
        """
        points = np.asarray(points, dtype=np.float32)
        batch, n = points.shape[0], points.shape[1]
        runtime = is_runtime(self.generator)
        if runtime:
            styles = _runtime_styles(self.generator, styles, per_layer)
            per_point = False
        else:
            styles = tf.convert_to_tensor(styles, tf.float32)
            per_point = (not per_layer) and len(styles.shape) == 3
        group, c, pad_batch, pad_points = self._layout(batch, runtime)
        out = np.empty((batch, n, 3), dtype=np.float32)
        num_chunks = math.ceil(n / c)
        total, done = math.ceil(batch / group) * num_chunks, 0
        for b0 in range(0, batch, group):
            b1 = min(b0 + group, batch)
            group_points, group_styles = points[b0:b1], styles[b0:b1] if b1 - b0 < batch else styles
            bpad = group - (b1 - b0) if pad_batch else 0
            if bpad:  # a fixed batch: zero rows, dropped below
                group_points = np.pad(group_points, ((0, bpad), (0, 0), (0, 0)))
                group_styles = np.pad(group_styles, ((0, bpad), (0, 0)))
            for i in range(num_chunks):
                lo, hi = i * c, min((i + 1) * c, n)
                chunk = group_points[:, lo:hi]
                style_chunk = group_styles[:, lo:hi] if per_point else group_styles
                pad = c - (hi - lo) if num_chunks > 1 or pad_points else 0
                if pad:  # keep one traced shape for every chunk (a fixed one for a runtime with --points)
                    chunk = np.pad(chunk, ((0, 0), (0, pad), (0, 0)))
                    if per_point:
                        style_chunk = tf.pad(style_chunk, [[0, 0], [0, pad], [0, 0]])
                if runtime:
                    rgb = self.generator.synthesis(style_chunk, chunk)
                else:
                    rgb = self._step(style_chunk, tf.constant(chunk), per_layer).numpy()
                out[b0:b1, lo:hi] = rgb[: b1 - b0, : hi - lo]
                done += 1
                if progress is not None:
                    progress(done, total)
        return out

    def _layout(self, batch, runtime):
        """(images per call, points per call, pad the batch, pad every chunk) for `batch` images."""
        if not runtime:
            return batch, self.chunk_pixels, False, False
        g = self.generator
        fixed_batch = g.batch is not None
        group = int(g.batch) if fixed_batch else min(batch, int(g.max_batch or batch))
        c = int(g.points) if g.points is not None else self.chunk_pixels
        if g.max_pixels is not None:  # the SavedModel's request limit, N * points
            c = min(c, max(1, int(g.max_pixels) // group))
        return group, c, fixed_batch, g.points is not None

    def render(self, styles, height, width=None, per_layer=False, x_range=(-1.0, 1.0), y_range=(-1.0, 1.0),
               progress=None):
        """Renders the `height x width` grid over `x_range x y_range` -> `[B, H, W, 3]` float32 numpy."""
        width = height if width is None else width
        if not is_runtime(self.generator):
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
