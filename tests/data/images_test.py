"""Tests for cips_tf.data.images: decoding any format/mode, errors naming the file, listing."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cips_tf.data import images
from data_test_utils import gradient_image, link_farm, png_declaring, save


def test_read_image_file_mixed_modes_give_rgb_uint8(tmp_path):
    rgb = gradient_image(6, 8)
    rgba = np.concatenate([rgb, np.zeros((6, 8, 1), np.uint8)], -1)
    rgba[:, :4, 3] = 255
    paths = {
        "rgba.png": save(Image.fromarray(rgba, "RGBA"), tmp_path / "rgba.png"),
        "gray.jpg": save(Image.fromarray(rgb[..., 0], "L"), tmp_path / "gray.jpg"),
        "pal.bmp": save(Image.fromarray(rgb).convert("P"), tmp_path / "pal.bmp"),
        "rgb.webp": save(rgb, tmp_path / "rgb.webp", lossless=True),
        "cmyk.jpg": save(Image.fromarray(rgb).convert("CMYK"), tmp_path / "cmyk.jpg"),
        "gray16.png": save(Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)), tmp_path / "gray16.png"),
    }
    decoded = {k: images.read_image_file(p) for k, p in paths.items()}
    for name, image in decoded.items():
        assert image.shape == (6, 8, 3) and image.dtype == np.uint8, name
    np.testing.assert_array_equal(decoded["rgba.png"][:, :4], rgb[:, :4])
    np.testing.assert_array_equal(decoded["rgba.png"][:, 4:], 255)  # transparent -> white
    gray = decoded["gray.jpg"]
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    np.testing.assert_array_equal(decoded["rgb.webp"], rgb)
    np.testing.assert_array_equal(decoded["gray16.png"][..., 0], rgb[..., 0])


def test_read_image_file_corrupt_raises_naming_file(tmp_path):
    path = tmp_path / "garbage.png"
    path.write_bytes(b"this is not an image at all")
    with pytest.raises(images.BadImageError, match="garbage.png") as info:
        images.read_image_file(path)
    assert info.value.name == str(path)


def test_read_image_file_truncated_raises_naming_file(tmp_path):
    good = save(gradient_image(32, 32), tmp_path / "good.jpg", quality=95)
    data = good.read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(images.BadImageError, match="truncated.jpg"):
        images.read_image_file(path)


def test_read_image_file_empty_and_missing_raise_naming_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(images.BadImageError, match="empty.png.*empty file"):
        images.read_image_file(tmp_path / "empty.png")
    with pytest.raises(images.BadImageError, match="missing.png.*unreadable"):
        images.read_image_file(tmp_path / "missing.png")


def test_list_image_files_recursive_sorted_ignores_other_and_hidden_files(tmp_path):
    for rel in ("b.PNG", "a/c.jpg", "a/d.webp", "z.bmp", "notes.txt", ".hidden.png", ".cache/x.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [p[len(str(tmp_path)) + 1 :] for p in images.list_image_files(tmp_path)]
    assert found == ["a/c.jpg", "a/d.webp", "b.PNG", "z.bmp"]


def test_list_image_files_empty_or_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image files"):
        images.list_image_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        images.list_image_files(tmp_path / "nope")


def test_bad_image_log_records_once_and_logs_count(caplog):
    log = images.BadImageLog()
    with caplog.at_level("WARNING"):
        log.record("x.png", "broken")
        log.record("x.png", "broken")
        log.record("y.png", "broken")
    assert log.skipped() == {"x.png": "broken", "y.png": "broken"} and log.count() == 2
    assert "2 bad image(s) skipped so far" in caplog.text and "y.png" in caplog.text


# --- untrusted inputs (issue 17) -------------------------------------------------------------------


def test_decode_image_refuses_a_header_above_the_pixel_limit_naming_the_limit(tmp_path):
    data = png_declaring(12000, 12000)  # 144M pixels, a few hundred bytes: refused from the header
    with pytest.raises(images.BadImageError, match=r"144000000 pixels.*limit of 67108864 pixels.*max_image_pixels"):
        images.decode_image_bytes(data, "big.png")
    small = images.ImageLimits(max_pixels=99)
    with pytest.raises(images.BadImageError, match="limit of 99 pixels"):
        images.decode_image_bytes(png_declaring(10, 10, rows=10), "ten.png", small)


def test_decode_image_refuses_an_elongated_image_naming_the_aspect_limit(tmp_path):
    strip = save(np.zeros((1, 20000, 3), np.uint8), tmp_path / "strip.png").read_bytes()
    with pytest.raises(images.BadImageError, match=r"strip.png: bad image: 20000x1 image .*limit of 16:1.*"
                                                   r"max_aspect_ratio"):
        images.decode_image_bytes(strip, "strip.png")
    wide = images.decode_image_bytes(strip, "strip.png", images.ImageLimits(max_aspect_ratio=20000))
    assert wide.shape == (1, 20000, 3)


_PILLOW_LIMIT = """
import importlib.util, io, sys
sys.path.insert(0, sys.argv[1])
from PIL import Image
from data_test_utils import png_declaring
# images.py alone, with a stand-in for cips_tf.errors (cips_tf's __init__ imports TensorFlow: ~1 minute
# on a loaded 2-core machine)
import types
sys.modules["cips_tf"] = types.ModuleType("cips_tf")
sys.modules["cips_tf.errors"] = types.SimpleNamespace(RunError=type("RunError", (Exception,), {}))
spec = importlib.util.spec_from_file_location("images", sys.argv[2])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(Image.MAX_IMAGE_PIXELS)
try:
    Image.open(io.BytesIO(png_declaring(9000, 9000)))  # between the limit and twice it: Pillow only warns
except Image.DecompressionBombWarning as e:
    print("refused:", e)
"""


def test_pillow_bomb_limit_is_set_and_its_warning_is_an_error():
    # In a fresh process: pytest resets warning filters around collection and each test.
    proc = subprocess.run([sys.executable, "-c", _PILLOW_LIMIT, os.path.dirname(__file__), images.__file__], capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[0] == str(images.MAX_IMAGE_PIXELS) == str(2**26)
    assert "refused: Image size (81000000 pixels)" in proc.stdout
    with pytest.raises(images.BadImageError, match=r"81000000 pixels.*limit of 67108864 pixels.*max_image_pixels"):
        images.decode_image_bytes(png_declaring(9000, 9000), "bomb.png")  # and our check, whatever the filters


def test_decode_image_with_min_side_decodes_large_images_reduced(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    for name in ("big.jpg", "big.png"):
        data = save(big, tmp_path / name).read_bytes()
        rgb, size = images.decode_image(data, name, min_side=64)
        assert size == (768, 1024)
        assert 128 <= min(rgb.shape[:2]) < 256 and abs(rgb.shape[1] / rgb.shape[0] - 4 / 3) < 0.02, rgb.shape


def test_list_image_files_never_leaves_the_folder_and_lists_each_file_once(tmp_path, caplog):
    folder, names = link_farm(tmp_path / "images")
    with caplog.at_level("WARNING"):
        files = images.list_image_files(folder)
    assert files == [str(folder / n) for n in names]
    _, skipped = images.scan_image_files(folder)
    reasons = {os.path.relpath(path, folder): reason for path, reason in skipped}
    assert sorted(reasons) == ["again.png", "ext", "loop", "stolen.png", "sub/loop"]
    assert "outside" in reasons["ext"] and "outside" in reasons["stolen.png"] and "listed already" in reasons["again.png"]
    assert "5 path(s) left out" in caplog.text and "ext" in caplog.text
