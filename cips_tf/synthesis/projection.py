"""Projection of real images into the latent space, the way StyleGAN2's projector does.

`project(generator, targets, ...)` optimizes one `w` per target (space "w") or one `w` per
modulated layer (space "w+", the `ws` input) so that the generator's render on its native grid
(eval mode, as `ChunkedRenderer` renders) reproduces the target:

- Start at `w_avg`; Adam (betas 0.9, 0.999) with the learning rate ramped up over the first
  `lr_rampup` of the steps and down (cosine) over the last `lr_rampdown`.
- Gaussian noise of scale `w_std * initial_noise_factor * max(0, 1 - t / noise_ramp) ** 2` is added
  to the optimized latent during the first `noise_ramp` of the steps (t = step / steps), exploring
  the space early and vanishing later.
- Loss = `pixel_weight * mean squared pixel error` + `perceptual_weight * perceptual distance`,
  the perceptual distance being the LPIPS-style distance of unit-normalized feature maps of a
  feature network (see `discriminator_features`, `keras_features`); any callable
  `images [B, H, W, 3] in [-1, 1] -> list of feature tensors` works.
- With `optimize_noise=True` the per-pixel noise inputs of the native grid are optimized too,
  regularized by StyleGAN2's multi-scale autocorrelation penalty and renormalized to zero mean
  and unit variance after every step. The default keeps noise off: renders on other grids (the
  k-times denser render, zooms) have no noise of their own, so a noise-free projection transfers
  to them unchanged.

Because CIPS renders any coordinate independently, the projected latent can be re-rendered on a
denser grid (`cips_tf.rendering.render(generator, w, k * size)`), the paper's
super-resolution applied to a real image.
"""
import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from cips_tf.coords import make_grid
from cips_tf.latents import mapped_samples

SPACES = ("w", "w+")


def w_statistics(generator, num_samples=10000, seed=0, batch_size=1000, w_avg=None):
    """`(w_avg [S], w_std)` over `num_samples` mapped z, as StyleGAN2's projector measures them.

    `w_std = sqrt(sum |w - w_avg|^2 / N)` (one scalar: the typical distance of a w from the mean).
    A given `w_avg` (e.g. the one stored in the checkpoint) is used as the centre.
    """
    ws = np.concatenate(list(mapped_samples(generator, num_samples, batch_size, seed)))
    centre = ws.mean(axis=0) if w_avg is None else np.asarray(w_avg, np.float64)
    w_std = float(np.sqrt(np.sum((ws - centre) ** 2) / len(ws)))
    return centre.astype(np.float32), w_std


def learning_rate_at(step, num_steps, initial_learning_rate=0.1, lr_rampdown=0.25, lr_rampup=0.05):
    """StyleGAN2's projector schedule: linear ramp-up, cosine ramp-down, peak `initial_learning_rate`."""
    t = step / num_steps
    ramp = min(1.0, (1.0 - t) / lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / lr_rampup) if lr_rampup > 0 else ramp
    return initial_learning_rate * ramp


def latent_noise_scale(step, num_steps, w_std, initial_noise_factor=0.05, noise_ramp=0.75):
    """Scale of the Gaussian noise added to the optimized latent at `step` (0 after the ramp)."""
    if noise_ramp <= 0:
        return 0.0
    t = step / num_steps
    return w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp) ** 2


def noise_regularization(noise):
    """StyleGAN2's noise penalty: squared autocorrelation at lag 1 along x and y, summed over scales
    (average-pooled by 2 down to 8 pixels) and over the batch. `noise` is a list of `[B, H, W, 1]`."""
    total = 0.0
    for n in noise:
        x = n
        while True:
            h = tf.reduce_mean(x * tf.roll(x, shift=1, axis=2), axis=[1, 2, 3])  # [B]
            v = tf.reduce_mean(x * tf.roll(x, shift=1, axis=1), axis=[1, 2, 3])
            total += tf.reduce_sum(h ** 2 + v ** 2)
            if x.shape[1] <= 8 or x.shape[2] <= 8 or x.shape[1] % 2 or x.shape[2] % 2:
                break
            x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
    return total


def _normalize_channels(feature, eps=1e-10):
    return feature / tf.sqrt(tf.reduce_sum(feature ** 2, axis=-1, keepdims=True) + eps)


def perceptual_distance(features_a, features_b):
    """LPIPS-style distance per sample `[B]`: for each layer, the squared difference of channel-wise
    unit-normalized features, summed over channels, averaged over positions; summed over layers."""
    total = 0.0
    for a, b in zip(features_a, features_b):
        d = tf.reduce_sum((_normalize_channels(a) - _normalize_channels(b)) ** 2, axis=-1)  # [B, ...]
        total += tf.reduce_mean(tf.reshape(d, [tf.shape(d)[0], -1]), axis=1)
    return total


def discriminator_features(discriminator):
    """Feature maps of a CIPS `Discriminator` (from-RGB and every residual block, before the
    minibatch-stddev layer, so samples never mix): `images [B, H, W, 3] -> list of [B, h, w, C]`.

    Inputs of another size are resized bilinearly to the discriminator's size.
    """
    size = int(discriminator.size)

    def features(images):
        if images.shape[1] != size or images.shape[2] != size:
            images = tf.image.resize(images, (size, size), method="bilinear")
        x = discriminator.from_rgb(images)
        out = [x]
        for block in discriminator.blocks:
            x = block(x)
            out.append(x)
        return out

    features.name = f"discriminator({size} px)"
    return features


def keras_features(model, layer_names=None):
    """Feature maps of a Keras functional model: the outputs of `layer_names` (default: every
    convolution, else every layer with a spatial output, else the model's output).
    `images [B, H, W, 3] in [-1, 1] -> list of tensors`.

    The offline Fashion-MNIST extractor (`cips_tf.metrics.feature_extractor`) works as is: its
    first layer converts to luma and resizes to 28 x 28.
    """
    if layer_names is None:
        convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        spatial = [] if convs else [layer.name for layer in model.layers[1:]
                                    if len(getattr(getattr(layer, "output", None), "shape", ())) == 4]
        layer_names = convs or spatial
    outputs = [model.get_layer(name).output for name in layer_names] if layer_names else [model.output]
    tap = keras.Model(model.inputs, outputs)

    def features(images):
        out = tap(images, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    features.name = f"{model.name}[{', '.join(layer_names) if layer_names else 'output'}]"
    return features


@dataclasses.dataclass
class ProjectionResult:
    """What `project` returns (numpy arrays).

    Attributes:
      w: the projected latents, `[B, S]` (space "w") or `[B, num_ws, S]` (space "w+").
      noise: the optimized noise inputs (`num_noise` x `[B, H, W, 1]`) or None.
      images: the final reconstructions on the native grid, `[B, H, W, 3]` float in [-1, 1].
      snapshots: `[(step, images [B, H, W, 3])]` taken every `snapshot_every` steps (step 0 = w_avg).
      history: per step `{"step", "loss", "pixel", "perceptual", "lr"}` (batch means).
      space: "w" or "w+".
    """

    w: np.ndarray
    noise: object
    images: np.ndarray
    snapshots: list
    history: list
    space: str

    @property
    def per_layer(self):
        return self.space == "w+"


def psnr(a, b, data_range=2.0):
    """Peak signal-to-noise ratio in dB per image of `[B, H, W, C]` arrays (`data_range` 2 for
    [-1, 1] floats, 255 for uint8 pixels)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    mse = np.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))
    return 10.0 * np.log10(data_range ** 2 / np.maximum(mse, 1e-20))


def project(
    generator,
    targets,
    *,
    num_steps=1000,
    space="w",
    w_avg=None,
    w_std=None,
    features=None,
    pixel_weight=1.0,
    perceptual_weight=1.0,
    initial_learning_rate=0.1,
    lr_rampdown=0.25,
    lr_rampup=0.05,
    initial_noise_factor=0.05,
    noise_ramp=0.75,
    optimize_noise=False,
    regularize_noise_weight=1e5,
    w_avg_samples=10000,
    seed=0,
    snapshot_every=None,
    log_every=100,
):
    """Projects `targets` (`[B, size, size, 3]` float in [-1, 1]) into `generator`'s W or W+ space.

    Args:
      generator: a `CIPSGenerator`; targets must be at its native size.
      targets: float array `[B, H, W, 3]` (or one `[H, W, 3]` image) in [-1, 1].
      num_steps: optimization steps.
      space: "w" (one w per image) or "w+" (one w per modulated layer, `generator.num_ws`).
      w_avg, w_std: start point and latent-noise scale; measured from `w_avg_samples` mapped z
        when None (`w_statistics`).
      features: a feature network, `images -> list of feature tensors` (`discriminator_features`,
        `keras_features`), or None for a pixel-only loss.
      pixel_weight, perceptual_weight: loss weights.
      initial_learning_rate, lr_rampdown, lr_rampup: the learning-rate schedule (`learning_rate_at`).
      initial_noise_factor, noise_ramp: the latent-noise schedule (`latent_noise_scale`).
      optimize_noise: also optimize the per-pixel noise inputs (native grid only).
      regularize_noise_weight: weight of `noise_regularization` when noise is optimized.
      seed: seeds the latent noise and the initial per-pixel noise.
      snapshot_every: keep a render every this many steps (default: `num_steps // 8`).
      log_every: log progress (losses, steps/s, ETA) every this many steps.

    Returns:
      A `ProjectionResult`.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    targets = np.asarray(targets, np.float32)
    if targets.ndim == 3:
        targets = targets[None]
    size = int(generator.size)
    if targets.ndim != 4 or targets.shape[1:] != (size, size, 3):
        raise ValueError(f"targets must be [B, {size}, {size}, 3] (the generator's native size), "
                         f"got {targets.shape}")
    if features is None and pixel_weight <= 0:
        raise ValueError("a pixel-only projection (features=None) needs pixel_weight > 0")
    batch = targets.shape[0]
    if w_avg is None or w_std is None:
        measured_avg, measured_std = w_statistics(generator, w_avg_samples, seed=seed, w_avg=w_avg)
        w_avg = measured_avg if w_avg is None else w_avg
        w_std = measured_std if w_std is None else w_std
    w_avg = np.asarray(w_avg, np.float32).reshape(1, -1)
    per_layer = space == "w+"
    start = np.repeat(w_avg, batch, axis=0)
    if per_layer:
        start = np.repeat(start[:, None], generator.num_ws, axis=1)  # [B, num_ws, S]
    w_opt = tf.Variable(start, name="w_opt")
    rng = np.random.RandomState(seed)
    noise_vars = None
    if optimize_noise:
        noise_vars = [tf.Variable(rng.randn(batch, size, size, 1).astype(np.float32), name=f"noise_{i}")
                      for i in range(generator.num_noise)]
    variables = [w_opt] + (noise_vars or [])
    optimizer = keras.optimizers.Adam(learning_rate=initial_learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    optimizer.build(variables)
    coords = make_grid(batch, size)  # [B, H, W, 2]
    target_t = tf.constant(targets)
    target_features = [tf.stop_gradient(f) for f in features(target_t)] if features is not None else None

    def render(w, noise):
        return generator.synthesis(w, coords, noise=noise, randomize_noise=False, per_layer=per_layer)

    @tf.function(autograph=False)
    def step_fn(w_noise, learning_rate):
        with tf.GradientTape() as tape:
            images = render(w_opt + w_noise, noise_vars)
            pixel = tf.reduce_mean((images - target_t) ** 2, axis=[1, 2, 3])  # [B]
            perceptual = (perceptual_distance(features(images), target_features) if features is not None
                          else tf.zeros_like(pixel))
            loss = tf.reduce_sum(pixel_weight * pixel + perceptual_weight * perceptual)
            reg = noise_regularization(noise_vars) if noise_vars is not None else 0.0
            total = loss + regularize_noise_weight * reg
        grads = tape.gradient(total, variables)
        optimizer.learning_rate.assign(learning_rate)
        optimizer.apply_gradients(zip(grads, variables))
        if noise_vars is not None:
            for n in noise_vars:
                mean, var = tf.nn.moments(n, axes=[1, 2, 3], keepdims=True)
                n.assign((n - mean) * tf.math.rsqrt(var + 1e-12))
        return tf.reduce_mean(pixel), tf.reduce_mean(perceptual)

    snapshot_every = max(1, num_steps // 8) if snapshot_every is None else max(1, int(snapshot_every))
    snapshots = [(0, render(w_opt, noise_vars).numpy())]
    history = []
    began = time.time()
    for step in range(num_steps):
        lr = learning_rate_at(step, num_steps, initial_learning_rate, lr_rampdown, lr_rampup)
        scale = latent_noise_scale(step, num_steps, w_std, initial_noise_factor, noise_ramp)
        w_noise = tf.constant(rng.randn(*start.shape).astype(np.float32) * scale)
        pixel, perceptual = step_fn(w_noise, tf.constant(lr, tf.float32))
        pixel, perceptual = float(pixel), float(perceptual)
        history.append({"step": step + 1, "loss": pixel_weight * pixel + perceptual_weight * perceptual,
                        "pixel": pixel, "perceptual": perceptual, "lr": lr})
        done = step + 1
        if done % snapshot_every == 0 or done == num_steps:
            snapshots.append((done, render(w_opt, noise_vars).numpy()))
        if log_every and (done % log_every == 0 or done == num_steps):
            rate = done / max(time.time() - began, 1e-9)
            logging.info("projection step %d/%d | pixel %.5f perceptual %.5f lr %.4f | %.1f steps/s, ETA %.0f s",
                         done, num_steps, pixel, perceptual, lr, rate, (num_steps - done) / rate)
    final = render(w_opt, noise_vars).numpy()
    if snapshots[-1][0] != num_steps:
        snapshots.append((num_steps, final))
    return ProjectionResult(
        w=w_opt.numpy(),
        noise=None if noise_vars is None else [n.numpy() for n in noise_vars],
        images=final,
        snapshots=snapshots,
        history=history,
        space=space,
    )

