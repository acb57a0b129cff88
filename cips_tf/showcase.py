"""Results a person can look at: generated samples beside real images, upscaled and labelled.

`side_by_side(panels, scale)` takes `(label, uint8 grid)` pairs, upscales each grid by `scale`
(nearest neighbour, so pixels stay pixels) and writes its label above it, left to right on white.
The quickstart ends with one (`cips-generate --task=compare`): the final G_ema samples, labelled with
the step and the minutes of training, beside a grid of real training images. `class_grid` lays out
the sample grid of a class-conditional run (one labelled row per class). Pure layout on uint8
arrays, below the capabilities: training's sample grids and the synthesis tasks both use it.
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


def class_grid(rows, names, scale=1, font_size=12):
    """One row of samples per class, each labelled on the left with its class name.

    `rows`: per class a uint8 `[n, H, W, 3]` batch (the same n); `names`: the class names. Returns
    one uint8 image on white: the label column, then the n samples of that class, upscaled `scale`
    times (nearest neighbour).
    """
    if len(rows) != len(names):
        raise ValueError(f"class_grid: {len(rows)} rows but {len(names)} names")
    font = _font(font_size)
    strips = [upscale(np.concatenate(list(np.asarray(r)), axis=1), scale) for r in rows]  # [H, n * W, 3] each
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max(int(probe.textlength(str(n), font=font)) for n in names) + 2 * 4
    row_height = max(max(s.shape[0] for s in strips), font_size + 4)
    width = MARGIN + label_width + max(s.shape[1] for s in strips) + MARGIN
    canvas = Image.new("RGB", (width, MARGIN + len(strips) * (row_height + 2) + MARGIN), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (name, strip) in enumerate(zip(names, strips)):
        y = MARGIN + i * (row_height + 2)
        draw.text((MARGIN, y + max(0, (strip.shape[0] - font_size) // 2)), str(name), fill=(0, 0, 0), font=font)
        canvas.paste(Image.fromarray(strip), (MARGIN + label_width, y))
    return np.asarray(canvas)
