"""Tests for cips_tf.data.transforms: geometry, rotation, flip, range."""
import numpy as np
import pytest
import tensorflow as tf

from cips_tf.data import transforms
from data_test_utils import gradient_image


def test_rotate_quarter_turn_equals_np_rot90():
    image = gradient_image(9, 9).astype(np.float32)
    rotated = transforms.rotate(tf.constant(image), np.pi / 2).numpy()
    np.testing.assert_allclose(rotated, np.rot90(image, 1), atol=1e-3)


def test_rotate_zero_angle_is_identity():
    image = gradient_image(7, 10).astype(np.float32)
    np.testing.assert_allclose(transforms.rotate(tf.constant(image), 0.0).numpy(), image, atol=1e-4)


def test_rotate_constant_image_with_reflect_fill_stays_constant():
    image = np.full((10, 10, 3), 77.0, np.float32)
    rotated = transforms.rotate(tf.constant(image), 0.7, fill_mode="reflect").numpy()
    np.testing.assert_allclose(rotated, image, atol=1e-3)


def test_rotate_unknown_fill_mode_raises():
    with pytest.raises(ValueError, match="fill_mode"):
        transforms.rotate(tf.zeros([4, 4, 3]), 0.1, fill_mode="mirror")


def test_random_flip_same_seed_same_result_and_both_outcomes_occur():
    image = tf.constant(gradient_image(6, 6))
    outcomes = set()
    for i in range(16):
        seed = tf.constant([3, i], tf.int64)
        a = transforms.random_flip_left_right(image, seed).numpy()
        b = transforms.random_flip_left_right(image, seed).numpy()
        np.testing.assert_array_equal(a, b)
        flipped = np.array_equal(a, image.numpy()[:, ::-1])
        assert flipped or np.array_equal(a, image.numpy())
        outcomes.add(flipped)
    assert outcomes == {True, False}


def test_fit_to_resolution_landscape_resizes_shorter_side_and_center_crops():
    image = np.zeros((8, 16, 3), np.uint8)
    image[:, 2:14] = 200  # covers the central square and the antialias filter support
    out = transforms.fit_to_resolution(tf.constant(image), 4).numpy()
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.full((4, 4, 3), 200, np.uint8))


def test_fit_to_resolution_upsamples_small_images_bilinearly():
    out = transforms.fit_to_resolution(tf.constant(gradient_image(4, 4)), 9)
    assert out.shape == (9, 9, 3)


def test_fit_to_resolution_without_resize_keeps_native_scale_square():
    image = gradient_image(10, 14)
    out = transforms.fit_to_resolution(tf.constant(image), 6, resize_shorter_side_first=False).numpy()
    np.testing.assert_array_equal(out, image[:, 2:12])


def test_augment_and_finalize_no_augmentation_center_crops_to_unit_range():
    image = gradient_image(10, 10)
    out = transforms.augment_and_finalize(
        tf.constant(image), tf.constant([0, 0], tf.int64), resolution=6, random_flip=False,
        random_rotation=False, rotation_degrees=180.0, rotation_fill_mode="reflect",
    ).numpy()
    np.testing.assert_allclose(out, image[2:8, 2:8] / 127.5 - 1.0, atol=1e-6)
    assert out.dtype == np.float32 and out.min() >= -1.0 and out.max() <= 1.0
