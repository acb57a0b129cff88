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


def make_messy_folder(folder, size=16):
    """A folder of good images in assorted formats and modes plus bad files of every kind.

    Returns `(expected, bad)`: `expected` maps each good file's path relative to `folder` to the
    uint8 [size, size, 3] pixels a center-cropped copy at `size` must hold (a NumPy / Pillow
    oracle: alpha composited over white, palettes and grayscale expanded, the wide image's central
    columns); `bad` lists the relative paths of the files that must be skipped.
    """
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (size, size), dtype=np.uint8)
    rgba = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
    wide = rng.integers(0, 256, (size, 4 * size, 3), dtype=np.uint8)
    palette = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).quantize(colors=16)
    expected = {}
    save(rgb, folder / "rgb.png")
    expected["rgb.png"] = rgb
    save(gray, folder / "gray" / "gray.png")
    expected["gray/gray.png"] = np.repeat(gray[..., None], 3, -1)
    save(rgba, folder / "rgba.png")
    white = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    expected["rgba.png"] = np.asarray(Image.alpha_composite(white, Image.fromarray(rgba, "RGBA")).convert("RGB"))
    save(palette, folder / "palette.gif")
    expected["palette.gif"] = np.asarray(palette.convert("RGB"))
    save(wide, folder / "wide.png")
    expected["wide.png"] = wide[:, (4 * size - size) // 2:(4 * size + size) // 2]
    save(rgb, folder / "rgb.bmp")
    expected["rgb.bmp"] = rgb
    save(Image.fromarray(rgb).resize((2 * size, 3 * size)), folder / "big.jpg", quality=95)
    expected["big.jpg"] = None  # resized: only its size is checked
    good_png = (folder / "rgb.png").read_bytes()
    bad = {
        "corrupt.png": good_png[:8] + b"\x00" * 64,
        "truncated.png": good_png[: len(good_png) // 2],
        "truncated.jpg": (folder / "big.jpg").read_bytes()[:300],
        "empty.webp": b"",
        "text.tiff": b"this is not an image\n",
    }
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    return expected, sorted(bad)


def png_declaring(width, height, rows=1):
    """A small PNG whose IHDR declares `width` x `height` RGB pixels but whose data holds only `rows`
    rows of zeros (a decoder that trusts the header allocates the whole image, then finds it short)."""
    import struct
    import zlib

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    raw = zlib.compress(b"\x00" * ((3 * width + 1) * rows), 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def link_farm(folder, size=8):
    """A folder with 3 real images, plus `ext -> ../outside` (2 images outside), `loop -> .`, a symlinked
    file outside and a second name for an inside file. Returns (folder, the 3 real relative names)."""
    import os

    outside = folder.parent / f"{folder.name}_outside"
    for i in range(2):
        save(gradient_image(size, size, seed=10 + i), outside / f"secret{i}.png")
    names = ["a.png", "sub/b.png", "sub/c.png"]
    for i, name in enumerate(names):
        save(gradient_image(size, size, seed=i), folder / name)
    os.symlink(os.path.relpath(outside, folder), folder / "ext")
    os.symlink(".", folder / "loop")
    os.symlink(".", folder / "sub" / "loop")
    os.symlink(outside / "secret0.png", folder / "stolen.png")
    os.symlink("a.png", folder / "again.png")
    return folder, names
