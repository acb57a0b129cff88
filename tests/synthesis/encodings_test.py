"""Tests for cips_tf.synthesis.encodings (Sec. 4.4, Figs 4-6, 14)."""
import numpy as np
import pytest
import tensorflow as tf

from cips_tf import latents, rendering
from cips_tf.coords import make_grid
from cips_tf.synthesis import encodings
from synthesis_test_utils import tiny_generator


@pytest.mark.parametrize("variant", ["skips", "res", "base", "ne", "no_fourier"])
def test_synthesize_from_encoding_equals_synthesis(variant):
    g = tiny_generator(variant=variant)
    w = tf.constant(latents.styles_from_seeds(g, [0, 1]))
    coords = make_grid(2, 16)
    for training in (False, True):
        enc = g.encode(coords, direct_embedding=training)
        got = encodings.synthesize_from_encoding(g, enc, w)
        want = g.synthesis(w, coords, direct_embedding=training, randomize_noise=False)
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_synthesize_from_encoding_per_layer_and_noise_match_synthesis():
    g = tiny_generator()
    ws = tf.random.normal((1, g.num_ws, 16), seed=1)
    coords = make_grid(1, 8)
    noise = [tf.random.normal((1, 8, 8, 1), seed=i) for i in range(g.num_noise)]
    got = encodings.synthesize_from_encoding(g, g.encode(coords), ws, per_layer=True, noise=noise)
    want = g.synthesis(ws, coords, noise=noise, per_layer=True)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_render_zeroed_nothing_equals_render_and_parts_change_it():
    g = tiny_generator()
    w = latents.styles_from_seeds(g, [0])
    base = rendering.render(g, w)
    np.testing.assert_allclose(encodings.render_zeroed(g, w, ()), base, atol=1e-5)
    no_emb = encodings.render_zeroed(g, w, ("embedding",), chunk_pixels=50)
    no_fo = encodings.render_zeroed(g, w, ("fourier",))
    both = encodings.render_zeroed(g, w, ("fourier", "embedding"))
    assert not np.allclose(no_emb, base, atol=1e-4) and not np.allclose(no_fo, base, atol=1e-4)
    assert np.isfinite(both).all()
    np.testing.assert_allclose(both, np.broadcast_to(both[:, :1, :1], both.shape), atol=1e-5)  # constant input -> constant image


def test_zero_parts_rejects_absent_or_unknown_parts():
    g = tiny_generator(variant="ne")
    enc = g.encode(make_grid(1, 4))
    with pytest.raises(ValueError, match="no embedding"):
        encodings.zero_parts(g, enc, ["embedding"])
    with pytest.raises(ValueError, match="parts"):
        encodings.zero_parts(g, enc, ["colour"])


def test_pca_image_is_in_unit_range_and_recovers_a_planted_component():
    ys, xs = np.mgrid[0:8, 0:8].astype(np.float64)
    feats = np.stack([xs * 10, ys, np.zeros_like(xs), xs * 10], -1)
    img = encodings.pca_image(feats)
    assert img.shape == (8, 8, 3) and img.min() >= 0 and img.max() <= 1
    np.testing.assert_allclose(img[..., 0], xs / 7, atol=1e-6)  # first component: x


def test_embedding_table_pca_and_spectra_shapes():
    g = tiny_generator()
    assert encodings.pca_image(encodings.embedding_table(g)).shape == (16, 16, 3)
    maps = encodings.encoding_maps(g)
    spectra = [encodings.log_spectrum(maps[k]) for k in ("fourier", "embedding")]
    assert all(s.shape == (16, 16) and np.isfinite(s).all() for s in spectra)
    imgs = encodings.shared_scale_uint8(spectra)
    assert min(i.min() for i in imgs) == 0 and max(i.max() for i in imgs) == 255


def test_log_spectrum_of_a_single_cosine_peaks_at_its_frequency():
    xs = np.arange(16)
    f = np.cos(2 * np.pi * 3 * xs / 16)[None, :, None] * np.ones((16, 16, 2))
    s = encodings.log_spectrum(f)
    peaks = set(zip(*np.nonzero(s > s.max() - 1e-3)))
    assert peaks == {(8, 8 + 3), (8, 8 - 3)}
