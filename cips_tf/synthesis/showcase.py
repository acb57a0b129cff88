"""Results a person can look at: generated samples beside real images, upscaled and labelled.

`side_by_side(panels, scale)` takes `(label, uint8 grid)` pairs, upscales each grid by `scale`
(nearest neighbour, so pixels stay pixels) and writes its label above it, left to right on white.
The quickstart ends with one (`cips-generate --task=compare`): the final G_ema samples, labelled with
the step and the minutes of training, beside a grid of real training images.
"""
import numpy as np
from PIL import Image, ImageDraw, ImageFont

MARGIN = 12


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def upscale(image, scale):
    """uint8 `[H, W, 3]` -> `[H * scale, W * scale, 3]`, nearest neighbour."""
    return np.repeat(np.repeat(np.asarray(image), int(scale), axis=0), int(scale), axis=1)


def side_by_side(panels, scale=4, font_size=16):
    """`[(label, uint8 [H, W, 3])]` -> one uint8 image: each grid upscaled, its label above it."""
    font = _font(font_size)
    grids = [upscale(grid, scale) for _, grid in panels]
    label_height = font_size + 2 * 4
    height = max(g.shape[0] for g in grids) + label_height + 2 * MARGIN
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widths = [max(g.shape[1], int(probe.textlength(label, font=font))) for (label, _), g in zip(panels, grids)]
    canvas = Image.new("RGB", (sum(widths) + MARGIN * (len(grids) + 1), height), "white")
    draw = ImageDraw.Draw(canvas)
    x = MARGIN
    for (label, _), grid, width in zip(panels, grids, widths):
        draw.text((x, MARGIN), label, fill=(0, 0, 0), font=font)
        canvas.paste(Image.fromarray(grid), (x, MARGIN + label_height))
        x += width + MARGIN
    return np.asarray(canvas)


def training_progress(checkpoint):
    """`(step, training seconds or None)` stored in a training checkpoint prefix, or None for a
    source that is not a checkpoint (an export, a converted model)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    try:
        reader = tf.train.load_checkpoint(str(checkpoint))
    except (tf.errors.OpError, ValueError):
        return None
    names = reader.get_variable_to_shape_map()
    step = int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) if "step/.ATTRIBUTES/VARIABLE_VALUE" in names \
        else None
    seconds = "train_seconds/.ATTRIBUTES/VARIABLE_VALUE"
    return step, float(reader.get_tensor(seconds)) if seconds in names else None
