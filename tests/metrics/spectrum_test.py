"""Tests of cips_tf.metrics.spectrum."""
import numpy as np
import pytest
from PIL import Image

from cips_tf.metrics import spectrum


def _sinusoid(size=32, fx=5, fy=0, batch=3):
    y, x = np.mgrid[0:size, 0:size]
    wave = np.cos(2 * np.pi * (fx * x + fy * y) / size)  # [H, W]
    return np.repeat(np.repeat(wave[None, ..., None], 3, axis=-1), batch, axis=0)  # [B, H, W, 3]


def test_log_magnitude_spectrum_of_sinusoid_peaks_at_its_frequency():
    spec = spectrum.log_magnitude_spectrum(_sinusoid(fx=5))
    centre = 32 // 2
    peaks = sorted(zip(*np.unravel_index(np.argsort(spec, axis=None)[-2:], spec.shape)))
    assert peaks == [(centre, centre - 5), (centre, centre + 5)]


def test_azimuthal_integration_of_sinusoid_peaks_at_its_radius():
    profile = spectrum.azimuthal_integration(_sinusoid(fx=3, fy=4))  # |f| = 5
    assert int(np.argmax(profile)) == 5


def test_azimuthal_average_constant_spectrum_is_constant():
    profile = spectrum.azimuthal_average(np.full([16, 16], 2.5))
    np.testing.assert_allclose(profile, 2.5)
    assert len(profile) == int(np.rint(np.hypot(8, 8))) + 1


def test_spectrum_accumulator_streaming_matches_one_batch():
    images = np.random.default_rng(0).uniform(-1, 1, size=[10, 16, 16, 3])
    acc = spectrum.SpectrumAccumulator()
    for chunk in np.array_split(images, 3):
        acc.update(chunk)
    whole = spectrum.SpectrumAccumulator().update(images)
    assert acc.count == 10
    np.testing.assert_allclose(acc.log_magnitude, whole.log_magnitude, rtol=1e-12)
    np.testing.assert_allclose(acc.azimuthal_integration, whole.azimuthal_integration, rtol=1e-12)


def test_spectrum_accumulator_power_matches_numpy_oracle():
    images = np.random.default_rng(1).uniform(-1, 1, size=[4, 8, 8, 1])
    want = np.mean(np.abs(np.fft.fftshift(np.fft.fft2(images[..., 0]), axes=(1, 2))) ** 2, axis=0)
    np.testing.assert_allclose(spectrum.SpectrumAccumulator().update(images).power, want, rtol=1e-12)


def test_to_grayscale_rgb_uses_bt601_luma():
    rgb = np.zeros([1, 1, 1, 3])
    rgb[..., 1] = 1.0
    assert spectrum.to_grayscale(rgb)[0, 0, 0] == pytest.approx(0.587)
    with pytest.raises(ValueError):
        spectrum.to_grayscale(np.zeros([1, 2, 2, 2]))


def test_spectrum_accumulator_empty_raises():
    with pytest.raises(ValueError, match="no images"):
        _ = spectrum.SpectrumAccumulator().log_magnitude


def test_save_spectrum_png_writes_scaled_colour_image(tmp_path):
    path = spectrum.save_spectrum_png(spectrum.log_magnitude_spectrum(_sinusoid()), tmp_path / "a" / "s.png", scale=2)
    with Image.open(path) as image:
        assert image.size == (64, 64) and image.mode == "RGB"


def test_save_profile_png_writes_plot(tmp_path):
    profiles = {"real": spectrum.azimuthal_integration(_sinusoid()), "fake": np.linspace(1, 100, 23)}
    path = spectrum.save_profile_png(profiles, tmp_path / "p.png", size=(320, 200))
    with Image.open(path) as image:
        assert image.size == (320, 200)
        assert len(set(image.getdata())) > 2  # axes, text and coloured lines were drawn
