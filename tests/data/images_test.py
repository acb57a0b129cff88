"""Tests for cips_tf.data.images: decoding any format/mode, errors naming the file, listing."""
import numpy as np
import pytest
from PIL import Image

from cips_tf.data import images
from data_test_utils import gradient_image, save


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
