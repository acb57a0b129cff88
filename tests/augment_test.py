"""ADA's augmentations (cips_tf.augment) against NumPy oracles."""
import math

import numpy as np
import pytest
import tensorflow as tf

from cips_tf import augment
from cips_tf.augment import AugmentPipe

SEED = tf.constant([5, 7], tf.int64)


def _images(b=4, h=16, w=16, c=3, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, (b, h, w, c)).astype(np.float32)


def _smooth(h, w):
    """A smooth RGB image as a function of centred pixel coordinates, and the function."""
    def f(u, v):
        return np.stack([np.sin(0.15 * u + 0.05 * v), np.cos(0.1 * u - 0.12 * v), np.sin(0.07 * u) * np.cos(0.09 * v)],
                        -1)

    u, v = np.meshgrid(np.arange(w) - (w - 1) / 2, np.arange(h) - (h - 1) / 2)
    return f(u, v)[None].astype(np.float32), f, u, v


def test_blit_xflip_rot90_integer_translation_match_numpy_exactly():
    x = _images()
    out = augment.blit(x, tf.constant([1.0, 0, 0, 1]), tf.constant([0.0, 1, 3, 2]),
                       tf.constant([[0.0, 0], [0, 0], [0, 0], [0, 0]])).numpy()
    np.testing.assert_array_equal(out[0], x[0, :, ::-1])
    np.testing.assert_array_equal(out[1], np.rot90(x[1], 1))
    np.testing.assert_array_equal(out[2], np.rot90(x[2], 3))
    np.testing.assert_array_equal(out[3], np.rot90(x[3], 2)[:, ::-1])  # flip after a half turn

    shifts = np.array([[3, -2], [-1, 2], [2, 0], [0, -1]], np.float32)  # (x, y) pixels
    out = augment.blit(x, tf.zeros([4]), tf.zeros([4]), tf.constant(shifts)).numpy()
    for i, (tx, ty) in enumerate(shifts.astype(int)):
        padded = np.pad(x[i], [(4, 4), (4, 4), (0, 0)], mode="reflect")  # reflect: no repeated edge
        np.testing.assert_array_equal(out[i], padded[4 - ty: 4 - ty + 16, 4 - tx: 4 - tx + 16])


def test_warp_identity_is_a_lossless_round_trip():
    x = _images()
    out = augment.warp(tf.constant(x), tf.eye(3, batch_shape=[4])).numpy()
    np.testing.assert_allclose(out, x, atol=2e-6)  # the orthogonal sym6 up/down pair


@pytest.mark.parametrize("name", ["rotate", "scale", "aniso", "xfrac"])
def test_warp_geometric_transforms_match_the_analytic_image(name):
    x, f, u, v = _smooth(32, 32)
    g = {"rotate": augment.rotate2d(tf.constant([0.5]), 1),
         "scale": augment.scale2d(1 / 1.3, 1 / 1.3, 1),
         "aniso": augment.scale2d(1 / 1.2, 1.2, 1),
         "xfrac": augment.translate2d(-2.5, 1.25, 1)}[name]
    out = augment.warp(tf.constant(x), g).numpy()[0]
    m = g.numpy()[0]
    expected = f(m[0, 0] * u + m[0, 1] * v + m[0, 2], m[1, 0] * u + m[1, 1] * v + m[1, 2])  # out(p) = in(G_inv p)
    np.testing.assert_allclose(out[8:-8, 8:-8], expected[8:-8, 8:-8], atol=1e-2)


def _luma_oracle(x):
    return x.mean(-1, keepdims=True)


def _hue_oracle(x, theta):
    k = np.ones(3) / np.sqrt(3)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    r = np.cos(theta) * np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * np.outer(k, k)
    return x @ r.T


@pytest.mark.parametrize("name", ["brightness", "contrast", "lumaflip", "hue", "saturation"])
def test_color_transforms_match_numpy_formulas(name):
    x = _images()
    value = {"brightness": np.array([0.3, -0.2, 0.0, 0.1]), "contrast": np.array([1.5, 0.5, 1.0, 2.0]),
             "lumaflip": np.array([1.0, 0.0, 1.0, 1.0]), "hue": np.array([0.4, -1.0, 0.0, math.pi]),
             "saturation": np.array([0.0, 0.5, 1.0, 3.0])}[name].astype(np.float32)
    out = augment.apply_color(tf.constant(x), augment.color_matrix({name: tf.constant(value)}, 4)).numpy()
    r = value[:, None, None, None]
    mean = _luma_oracle(x)
    expected = {"brightness": lambda: x + r, "contrast": lambda: x * r,
                "lumaflip": lambda: np.where(r > 0, x - 2 * mean, x),
                "hue": lambda: np.stack([_hue_oracle(x[i], value[i]) for i in range(4)]),
                "saturation": lambda: mean + r * (x - mean)}[name]()
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_color_transforms_compose_in_reference_order_and_grey_uses_mean_rule():
    x = _images(b=2)
    b, c, s = np.float32([0.2, -0.1]), np.float32([1.5, 0.7]), np.float32([0.5, 2.0])
    params = {"brightness": tf.constant(b), "contrast": tf.constant(c), "saturation": tf.constant(s)}
    out = augment.apply_color(tf.constant(x), augment.color_matrix(params, 2)).numpy()
    y = (x + b[:, None, None, None]) * c[:, None, None, None]  # brightness, then contrast, then saturation
    expected = _luma_oracle(y) + s[:, None, None, None] * (y - _luma_oracle(y))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    grey = x[..., :1]
    out = augment.apply_color(tf.constant(grey), augment.color_matrix({"brightness": tf.constant(b),
                                                                       "contrast": tf.constant(c)}, 2)).numpy()
    np.testing.assert_allclose(out, (grey + b[:, None, None, None]) * c[:, None, None, None], atol=1e-5)


def test_image_filter_matches_numpy_separable_filter():
    x = _images(b=2, h=12, w=12)
    gains = np.float32([[1, 1, 1, 1], [0.5, 2.0, 1.0, 0.3]])
    out = augment.image_filter(tf.constant(x), tf.constant(gains)).numpy()
    np.testing.assert_allclose(out[0], x[0], atol=1e-5)  # unit gains: the bands sum to the identity
    taps = gains[1] @ augment.FILTER_BANK
    pad = len(taps) // 2
    y = np.pad(x[1], [(pad, pad), (pad, pad), (0, 0)], mode="reflect")  # pad 21 > 12 px: reflected again
    y = np.apply_along_axis(lambda r: np.correlate(r, taps, "valid"), 1, y)
    y = np.apply_along_axis(lambda r: np.correlate(r, taps, "valid"), 0, y)
    np.testing.assert_allclose(out[1], y, atol=1e-5)


def test_noise_and_cutout_match_numpy():
    pipe = AugmentPipe(noise=1, cutout=1)
    x = _images(b=2, h=8, w=8)
    params = pipe.draw(2, 8, 8, 3, 1.0, SEED)
    out = pipe.apply(tf.constant(x), params).numpy()
    sigma, field = params["noise"].numpy(), params["noise_field"].numpy()
    size, center = params["cutout_size"].numpy(), params["cutout_center"].numpy()
    coords = (np.arange(8) + 0.5) / 8
    for i in range(2):
        keep = (np.abs(coords[None, :] - center[i, 0]) >= size[i, 0] / 2) | \
               (np.abs(coords[:, None] - center[i, 1]) >= size[i, 1] / 2)
        np.testing.assert_allclose(out[i], (x[i] + field[i] * sigma[i]) * keep[..., None], atol=1e-6)
    assert np.all(size == 0.5) and np.all(sigma > 0)


@pytest.mark.parametrize("name", ["b", "bg", "bgc", "bgcfnc"])
def test_pipe_p_zero_is_identity(name):
    x = _images()
    np.testing.assert_array_equal(AugmentPipe.from_name(name)(tf.constant(x), 0.0, SEED).numpy(), x)


def test_pipe_p_one_opens_every_gate_and_p_zero_closes_them():
    pipe = AugmentPipe.from_name("bgcf")
    on = pipe.draw(64, 16, 16, 3, 1.0, SEED)
    off = pipe.draw(64, 16, 16, 3, 0.0, SEED)
    for key in ("brightness", "hue"):  # continuous parameters: never exactly the identity value when on
        assert np.all(on[key].numpy() != 0) and np.all(off[key].numpy() == 0)
    for key in ("contrast", "saturation"):
        assert np.all(on[key].numpy() != 1) and np.all(off[key].numpy() == 1)
    assert 10 < on["xflip"].numpy().sum() < 54 and off["xflip"].numpy().sum() == 0  # a fair coin when on
    assert set(on["rotate90"].numpy()) == {0, 1, 2, 3}
    assert np.all(np.abs(on["xint"].numpy()) <= 2) and np.abs(on["xint"].numpy()).sum() > 0  # 0.125 * 16 px
    np.testing.assert_array_equal(off["g_inv"].numpy(), np.broadcast_to(np.eye(3), (64, 3, 3)))
    assert np.all(np.abs(on["g_inv"].numpy() - np.eye(3)).max(axis=(1, 2)) > 0)
    np.testing.assert_allclose(off["imgfilter"].numpy(), 1.0, atol=1e-6)


def test_pipe_half_p_gates_about_half():
    on = AugmentPipe(brightness=1).draw(4000, 4, 4, 3, 0.5, SEED)["brightness"].numpy()
    assert 0.45 < np.mean(on != 0) < 0.55


def test_pipe_gradients_flow_and_equal_numerical_ones():
    pipe = AugmentPipe.from_name("bgcfnc")
    x = tf.constant(_images(b=2, h=8, w=8))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.square(pipe(x, 1.0, SEED)))
    grad = tape.gradient(loss, x)
    assert grad is not None and np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).sum() > 0
    small = tf.constant(_images(b=2, h=4, w=4))
    params = pipe.draw(2, 4, 4, 3, 1.0, SEED)
    apply = tf.function(lambda t: pipe.apply(t, params))  # traced once: ~200 evaluations follow
    theoretical, numerical = tf.test.compute_gradient(apply, [small], delta=1e-2)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=2e-3)  # linear in the image: exact


def test_pipe_global_draw_keeps_the_replica_slice():
    pipe = AugmentPipe.from_name("bgc")
    x = _images(b=4)
    whole = pipe(tf.constant(x), 1.0, SEED).numpy()
    second = pipe(tf.constant(x[2:]), 1.0, SEED, global_batch=4, offset=2).numpy()
    np.testing.assert_allclose(second, whole[2:], atol=1e-6)


def test_pipe_unknown_name_or_setting_raises():
    with pytest.raises(ValueError, match="unknown augmentation pipeline"):
        AugmentPipe.from_name("xyz")
    with pytest.raises(ValueError, match="unknown augmentation settings"):
        AugmentPipe(flip=1)
