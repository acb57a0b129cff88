"""The one renderer: a generator + a grid or a point set -> pixels, in bounded memory.

Every path that renders G in eval mode goes through here: the synthesis experiments and
`cips-generate`, the metrics' samples, the SavedModel's signatures and the training sample grids.
`synthesize` is the one eval-mode call (no random noise: a result depends only on the weights, the
styles and the coordinates, plus explicit `noise` where a caller gives it); `ChunkedRenderer` cuts a
large grid into chunks of `chunk_pixels` points (pixels are conditionally independent, paper Sec. 1:
sequential synthesis), each one compiled call, so peak memory is set by the chunk, not the image;
`render` / `render_coords` are its cached front doors and return float32 `[..., 3]` in about
[-1, 1], or uint8 with `uint8=True` (`to_uint8`: the one quantizer, converted once per render).

The generator is a `CIPSGenerator` (each chunk one compiled TensorFlow call) or an exported model
loaded by `cips_tf.export.runtimes.RuntimeGenerator` (ONNX Runtime, OpenVINO, LiteRT or the
SavedModel's signatures: each chunk one `synthesis(w, coords)` call of numpy arrays), duck-typed as
`latents` does, so this module imports no model code. A runtime takes one w per image (no
per-layer or per-point styles) and the loop respects its shapes: a fixed point count (`--points`
at export) is every chunk's size, the last chunk padded; a fixed batch is every call's, the last
group padded; the SavedModel's `max_batch` and `max_pixels` (N * points per request) cap the images
and points per call.
"""
import math
import weakref

import numpy as np
import tensorflow as tf

from cips_tf.coords import make_grid_np, render_extent
from cips_tf.errors import UserError
from cips_tf.latents import quantize_images

DEFAULT_CHUNK_PIXELS = 32768


def synthesize(generator, styles, coords, noise=None, per_layer=False):
    """The one eval-mode render call: `G'(e(coords); styles)` without random noise (`noise`, when given,
    is the per-layer noise to add) -> `[B, ..., 3]` float tensor. Traceable (export signatures, the
    metrics' sampler and the chunk steps call it inside `tf.function`s)."""
    return generator.synthesis(styles, coords, noise=noise, randomize_noise=False, per_layer=per_layer)

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

    def __init__(self, generator, chunk_pixels=DEFAULT_CHUNK_PIXELS, jit_compile=False):
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
                return synthesize(self.generator, s, p, per_layer=per_layer)

            self._steps[key] = tf.function(
                render, autograph=False, input_signature=[style_spec, tf.TensorSpec([None, None, 2], tf.float32)],
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

    def points_per_call(self, batch):
        """Points per image in each call that rendering `batch` images makes: every chunk of a render
        has this many (the last one padded), so one call of this size warms every later call up."""
        return self._layout(int(batch), is_runtime(self.generator))[1]

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


def render_chunked(generator, styles, height, width=None, chunk_pixels=DEFAULT_CHUNK_PIXELS, per_layer=False):
    """One-shot helper: `ChunkedRenderer(generator, chunk_pixels).render(styles, height, width)`."""
    return ChunkedRenderer(generator, chunk_pixels).render(styles, height, width, per_layer=per_layer)


_RENDERERS = weakref.WeakKeyDictionary()


def renderer(generator, chunk_pixels=DEFAULT_CHUNK_PIXELS):
    """The `ChunkedRenderer` of `generator` for `chunk_pixels`, created once and reused, so its
    compiled chunk steps are traced once per generator rather than once per render call."""
    per_generator = _RENDERERS.setdefault(generator, {})
    if chunk_pixels not in per_generator:
        # A proxy, so the cached renderer does not keep its (weakly keyed) generator alive.
        per_generator[chunk_pixels] = ChunkedRenderer(weakref.proxy(generator), chunk_pixels=chunk_pixels)
    return per_generator[chunk_pixels]


def native_canvas(generator):
    """(height, width) of the generator's training canvas (`size x size` for a square model, and for
    an export written before non-square models)."""
    size = int(generator.size)
    return int(getattr(generator, "height", size) or size), int(getattr(generator, "width", size) or size)


def render(generator, styles, height=None, width=None, per_layer=False, chunk_pixels=DEFAULT_CHUNK_PIXELS,
           uint8=False):
    """Renders an H x W image -> `[B, H, W, 3]` float32 numpy (uint8 with `uint8=True`). Default: the
    training canvas; `height` alone (width defaults to it) or both. The grid is
    `cips_tf.coords.render_extent`'s: the model's aspect spans its training canvas (denser or
    coarser), any other aspect has square pixels with the shorter side in [-1, 1], so a square model
    rendered wide extends x (panorama-style; beyond the training canvas the learned embedding repeats
    its edge entries, see CoordinateEmbedding)."""
    native_h, native_w = native_canvas(generator)
    if height is None and width is None:
        height, width = native_h, native_w
    height = native_h if height is None else int(height)
    width = height if width is None else int(width)
    x_max, y_max = render_extent(height, width, native_h, native_w)
    out = renderer(generator, chunk_pixels).render(styles, height, width, per_layer=per_layer,
                                                   x_range=(-x_max, x_max), y_range=(-y_max, y_max))
    return to_uint8(out) if uint8 else out


def render_coords(generator, styles, coords, per_layer=False, shared=False, chunk_pixels=DEFAULT_CHUNK_PIXELS):
    """Renders arbitrary coordinates `[B, ..., 2]` (`[..., 2]` with `shared=True`) -> `[B, ..., 3]` numpy.

    `styles` is `[B, S]`, `[B, num_ws, S]` with `per_layer`, or one style per point `[B, ..., S]`.
    """
    styles = np.asarray(styles, np.float32)
    batch = styles.shape[0]
    coords = np.asarray(coords, np.float32)
    per_point = not per_layer and styles.ndim > 2
    if shared:
        coords = np.broadcast_to(coords[None], (batch,) + coords.shape)
    spatial = coords.shape[1:-1]
    points = coords.reshape(batch, -1, 2)
    if per_point:
        styles = styles.reshape(batch, points.shape[1], styles.shape[-1])
    out = renderer(generator, chunk_pixels).render_points(styles, points, per_layer=per_layer)
    return out.reshape((batch,) + tuple(spatial) + (3,))


def to_uint8(images):
    """float images in [-1, 1] -> uint8 numpy in [0, 255] (`cips_tf.latents.quantize_images`, the one
    quantizer of samples, exports and FID), for the files the CLI writes; uint8 passes unchanged."""
    return quantize_images(images).numpy()
