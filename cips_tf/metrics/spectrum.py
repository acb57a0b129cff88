"""Spectral analysis of images (paper Sec. 4.5, Fig. 7; following Durall et al., CVPR 2020).

* Magnitude spectrum: the centered (`fftshift`) log magnitude `log(|FFT2(gray)| + eps)` of each
  image's luma, averaged over N images (Fig. 7a).
* Azimuthal integration: the centered power spectrum `|FFT2(gray)|^2`, averaged over images, then
  averaged over rings of equal integer radius around the zero frequency (Fig. 7b). Index r of the
  profile is the spatial frequency r cycles per image (along an axis).

Images are [B, H, W, C] floats (any range; [-1, 1] for our models) or uint8. Colour images use
ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), as OpenCV's grayscale conversion in Durall et
al. does. `SpectrumAccumulator` streams over batches so N need not fit in memory. PNG output uses
PIL only (no matplotlib).
"""
import pathlib

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "SpectrumAccumulator",
    "azimuthal_average",
    "azimuthal_integration",
    "log_magnitude_spectrum",
    "save_profile_png",
    "save_spectrum_png",
    "to_grayscale",
]

_LUMA = np.array([0.299, 0.587, 0.114], np.float64)


def to_grayscale(images):
    """[B, H, W, C] (C in {1, 3}) or [B, H, W] -> float64 [B, H, W] luma."""
    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        return x
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [B, H, W], [B, H, W, 1] or [B, H, W, 3], got {x.shape}")
    return x[..., 0] if x.shape[-1] == 1 else x @ _LUMA


def _centered_fft(images):
    return np.fft.fftshift(np.fft.fft2(to_grayscale(images), axes=(1, 2)), axes=(1, 2))  # [B, H, W] complex


def azimuthal_average(spectrum):
    """Mean of a centered 2-D spectrum [H, W] over rings of integer radius; returns float64 [R].

    The zero frequency sits at (H // 2, W // 2) after `fftshift`; a pixel's ring is its distance to
    it rounded to the nearest integer. R = 1 + the largest radius (the corners included).
    """
    spectrum = np.asarray(spectrum, np.float64)
    h, w = spectrum.shape
    y, x = np.indices((h, w))
    radius = np.rint(np.hypot(y - h // 2, x - w // 2)).astype(np.int64)
    sums = np.bincount(radius.ravel(), weights=spectrum.ravel())
    counts = np.bincount(radius.ravel())
    return sums / np.maximum(counts, 1)


class SpectrumAccumulator:
    """Streams images and keeps the mean log-magnitude and mean power spectra.

    Args:
      eps: added to the magnitude before the log.

    Example:
      >>> acc = SpectrumAccumulator()
      >>> for batch in batches:
      ...     acc.update(batch)
      >>> acc.log_magnitude, acc.azimuthal_integration
    """

    def __init__(self, eps=1e-8):
        self.eps = eps
        self.count = 0
        self._log_magnitude_sum = None
        self._power_sum = None

    def update(self, images):
        """Adds a batch [B, H, W, C]; returns self."""
        f = _centered_fft(images)
        magnitude = np.abs(f)
        log_mag = np.log(magnitude + self.eps).sum(0)  # [H, W]
        power = (magnitude**2).sum(0)  # [H, W]
        if self._power_sum is None:
            self._log_magnitude_sum, self._power_sum = log_mag, power
        elif power.shape != self._power_sum.shape:
            raise ValueError(f"image size changed: {power.shape} vs {self._power_sum.shape}")
        else:
            self._log_magnitude_sum += log_mag
            self._power_sum += power
        self.count += f.shape[0]
        return self

    def _check(self):
        if not self.count:
            raise ValueError("SpectrumAccumulator has seen no images")

    @property
    def log_magnitude(self):
        """Mean centered log-magnitude spectrum, float64 [H, W]."""
        self._check()
        return self._log_magnitude_sum / self.count

    @property
    def power(self):
        """Mean centered power spectrum, float64 [H, W]."""
        self._check()
        return self._power_sum / self.count

    @property
    def azimuthal_integration(self):
        """Azimuthal average of the mean power spectrum, float64 [R] (index = frequency)."""
        return azimuthal_average(self.power)


def log_magnitude_spectrum(images, eps=1e-8):
    """Mean centered log-magnitude spectrum of a batch [B, H, W, C] -> float64 [H, W]."""
    return SpectrumAccumulator(eps).update(images).log_magnitude


def azimuthal_integration(images):
    """Azimuthally averaged mean power spectrum of a batch [B, H, W, C] -> float64 [R]."""
    return SpectrumAccumulator().update(images).azimuthal_integration


# A small perceptual colour map (samples of matplotlib's "viridis"), interpolated linearly.
_VIRIDIS = np.array(
    [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
     [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]],
    np.float64,
)


def _colorize(values):
    t = np.clip(values, 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.floor(t).astype(int)
    hi = np.minimum(lo + 1, len(_VIRIDIS) - 1)
    frac = (t - lo)[..., None]
    return (_VIRIDIS[lo] * (1 - frac) + _VIRIDIS[hi] * frac).round().astype(np.uint8)


def save_spectrum_png(spectrum, path, vmin=None, vmax=None, scale=4):
    """Writes a 2-D spectrum [H, W] as a colour PNG (min -> dark, max -> yellow), `scale`x enlarged.

    Give the same `vmin`/`vmax` to several plots to put them on one colour scale. Returns the path.
    """
    spectrum = np.asarray(spectrum, np.float64)
    vmin = spectrum.min() if vmin is None else vmin
    vmax = spectrum.max() if vmax is None else vmax
    normalized = (spectrum - vmin) / max(vmax - vmin, 1e-12)
    image = Image.fromarray(_colorize(normalized), "RGB")
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


_LINE_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def save_profile_png(profiles, path, size=(640, 400), log_y=True, title="azimuthal integration of power spectrum"):
    """Plots 1-D profiles {label: [R] array} as lines on shared axes into a PNG; returns the path.

    The x axis is the frequency index, the y axis the value (log10 when `log_y`). Drawn with PIL.
    """
    width, height = size
    left, right, top, bottom = 60, 20, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    curves = {}
    for label, values in profiles.items():
        values = np.asarray(values, np.float64)
        curves[label] = np.log10(np.maximum(values, 1e-30)) if log_y else values
    all_values = np.concatenate([c for c in curves.values()]) if curves else np.zeros([1])
    y_lo, y_hi = float(all_values.min()), float(all_values.max())
    y_hi = y_hi if y_hi > y_lo else y_lo + 1.0
    x_hi = max((len(c) - 1 for c in curves.values()), default=1) or 1

    def to_px(i, v):
        return (left + (width - left - right) * i / x_hi, top + (height - top - bottom) * (1 - (v - y_lo) / (y_hi - y_lo)))

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    draw.text((left, 8), title, fill="black")
    draw.text((left, height - bottom + 8), f"frequency 0 .. {x_hi}", fill="black")
    draw.text((4, top), f"{y_hi:.3g}", fill="black")
    draw.text((4, height - bottom - 10), f"{y_lo:.3g}", fill="black")
    if log_y:
        draw.text((4, (top + height - bottom) // 2), "log10", fill="black")
    for k, (label, curve) in enumerate(curves.items()):
        colour = _LINE_COLOURS[k % len(_LINE_COLOURS)]
        points = [to_px(i, v) for i, v in enumerate(curve)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((width - right - 150, top + 6 + 14 * k), label, fill=colour)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
