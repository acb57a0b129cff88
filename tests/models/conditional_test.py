"""Class-conditional CIPS (StyleGAN2-ADA style): the mapping's label embedding, D's projection, the
conditional training step, and that num_classes=0 builds exactly the unconditional models."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from cips_tf import latents
from cips_tf.coords import make_grid
from cips_tf.models.discriminator import Discriminator
from cips_tf.models.gan import CIPSGAN, lazy_regularization_adam
from cips_tf.models.generator import CIPSGenerator
from cips_tf.models.mapping_network import MappingNetwork

TINY = dict(size=8, hidden_size=8, style_dim=8, n_mlp=2, widths=[16, 8])


def _lrelu(x):
    return np.where(x >= 0, x, 0.2 * x) * math.sqrt(2.0)


def _dense(layer, x, act):
    w = layer.kernel.numpy() * layer.weight_gain
    y = x @ w + layer.bias.numpy() * layer.lr_multiplier
    return _lrelu(y) if act else y


def _norm(x):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-8)


def test_conditional_mapping_matches_numpy_oracle_of_stylegan2_ada():
    m = MappingNetwork(style_dim=8, n_mlp=3, num_classes=5)
    m.build()
    z = np.random.RandomState(0).randn(4, 8).astype(np.float32)
    labels = np.array([0, 3, 4, 3])
    embed = _dense(m.embed, np.eye(5, dtype=np.float32)[labels], act=False)
    x = np.concatenate([_norm(z), _norm(embed)], axis=-1)
    for layer in m.dense_layers:
        x = _dense(layer, x, act=True)
    np.testing.assert_allclose(m(z, labels=labels).numpy(), x, rtol=1e-4, atol=1e-5)
    assert m.dense_layers[0].kernel.shape == (16, 8) and m.embed.kernel.shape == (5, 8)


def test_conditional_shapes_and_missing_labels_are_refused():
    g = CIPSGenerator(num_classes=10, **TINY)
    out = g({"z": tf.random.normal((3, 8)), "label": np.array([1, 2, 9]), "coords": make_grid(3, 8)})
    assert out.shape == (3, 8, 8, 3)
    with pytest.raises(ValueError, match="class-conditional.*num_classes=10"):
        g({"z": tf.random.normal((3, 8)), "coords": make_grid(3, 8)})
    d = Discriminator(size=8, widths=[8, 16], num_classes=10, mapping_layers=2)
    assert d.cmap_dim == 16 and d.final_out.units == 16
    assert d(tf.zeros((4, 8, 8, 3)), labels=[0, 1, 2, 3]).shape == (4, 1)
    with pytest.raises(ValueError, match="class-conditional"):
        d(tf.zeros((4, 8, 8, 3)))
    with pytest.raises(ValueError, match="unconditional"):
        Discriminator(size=8, widths=[8, 16])(tf.zeros((4, 8, 8, 3)), labels=[0, 1, 2, 3])


def test_projection_logit_is_inner_product_with_label_map():
    d = Discriminator(size=8, widths=[8, 16], num_classes=4, mapping_layers=2)
    images = tf.random.stateless_uniform((4, 8, 8, 3), seed=[1, 2], minval=-1, maxval=1)
    labels = np.array([0, 1, 2, 3])
    features = {}
    original = d.final_out.call

    def spy(x):
        features["h"] = original(x)
        return features["h"]

    d.final_out.call = spy
    logits = d(images, labels=labels).numpy()
    d.final_out.call = original
    cmap = d.mapping(tf.zeros((4, 0)), labels=labels).numpy()
    expected = np.sum(features["h"].numpy() * cmap, axis=1, keepdims=True) / math.sqrt(16)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-6)
    # The same images under other labels score differently: D is conditioned.
    assert np.abs(d(images, labels=labels[::-1]).numpy() - logits).max() > 1e-4


def test_label_flip_class_3_render_differs_from_class_5_for_the_same_z():
    keras.utils.set_random_seed(0)
    g = CIPSGenerator(num_classes=10, **TINY)
    z = latents.z_from_seed([11, 11], 8)
    out = g({"z": z, "label": np.array([3, 5]), "coords": make_grid(2, 8)}, randomize_noise=False).numpy()
    same = g({"z": z, "label": np.array([3, 3]), "coords": make_grid(2, 8)}, randomize_noise=False).numpy()
    np.testing.assert_array_equal(same[0], same[1])
    assert np.abs(out[0] - out[1]).mean() > 1e-3
    w3, w5 = latents.styles(g, z[:1], labels=3), latents.styles(g, z[:1], labels=5)
    assert np.abs(w3.numpy() - w5.numpy()).max() > 1e-4


def test_num_classes_zero_builds_the_unconditional_models_bit_identically():
    keras.utils.set_random_seed(4)
    a = CIPSGenerator(name="g", **TINY)
    keras.utils.set_random_seed(4)
    b = CIPSGenerator(num_classes=0, name="g", **TINY)
    assert [v.path for v in a.weights] == [v.path for v in b.weights]
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert "num_classes" not in a.get_config() and "num_classes" not in Discriminator(8, widths=[8, 8]).get_config()
    keras.utils.set_random_seed(4)
    d0 = Discriminator(size=8, widths=[8, 16], name="d")
    keras.utils.set_random_seed(4)
    d1 = Discriminator(size=8, widths=[8, 16], num_classes=0, name="d")
    assert [v.path for v in d0.weights] == [v.path for v in d1.weights]
    for x, y in zip(d0.weights, d1.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_conditional_models_round_trip_through_keras_config():
    g = CIPSGenerator(num_classes=3, **TINY)
    assert CIPSGenerator.from_config(g.get_config()).num_classes == 3
    d = Discriminator(size=8, widths=[8, 16], num_classes=3, mapping_layers=1)
    clone = Discriminator.from_config(d.get_config())
    assert (clone.num_classes, clone.cmap_dim, clone.mapping_layers) == (3, 16, 1)


def test_resolve_class_by_index_and_name_and_clear_errors():
    names = ["shirt", "bag", "boot"]
    assert latents.resolve_class("bag", names) == 1 and latents.resolve_class(2, names) == 2
    assert latents.resolve_class("1", None, num_classes=4) == 1
    with pytest.raises(ValueError, match="out of range 0..2"):
        latents.resolve_class(3, names)
    with pytest.raises(ValueError, match="unknown class name.*shirt, bag, boot"):
        latents.resolve_class("hat", names)
    with pytest.raises(ValueError, match="unconditional"):
        latents.resolve_class(0, None, num_classes=0)


def _gan(num_classes):
    keras.utils.set_random_seed(0)
    g = CIPSGenerator(num_classes=num_classes, **TINY)
    d = Discriminator(size=8, widths=[8, 16], num_classes=num_classes, mapping_layers=2)
    g_ema = CIPSGenerator(num_classes=num_classes, **TINY)
    gan = CIPSGAN(g, d, g_ema, d_reg_every=2, ema_decay=0.9, seed=3)
    gan.compile(g_optimizer=lazy_regularization_adam(2e-3, 0.0, 0.99, 1e-8, 4),
                d_optimizer=lazy_regularization_adam(2e-3, 0.0, 0.99, 1e-8, 2))
    gan.build_optimizers()
    gan.copy_to_ema()
    return gan


def test_conditional_train_step_trains_the_embeddings_and_uses_the_real_labels_for_fakes():
    gan = _gan(4)
    images = tf.random.stateless_uniform((4, 8, 8, 3), seed=[5, 6], minval=-1, maxval=1)
    labels = tf.constant([0, 1, 1, 3])
    embeds = [gan.generator.mapping.embed.kernel.numpy(), gan.discriminator.mapping.embed.kernel.numpy()]
    seen = []
    original = gan._generate
    gan._generate = lambda inputs: (seen.append(inputs["label"].numpy()), original(inputs))[1]
    for i in range(2):
        metrics = gan.train_step((images, labels), do_r1=i == 0)
        assert all(np.isfinite(float(v)) for v in metrics.values())
    gan._generate = original
    assert all((s == labels.numpy()).all() for s in seen) and len(seen) == 4
    after = [gan.generator.mapping.embed.kernel.numpy(), gan.discriminator.mapping.embed.kernel.numpy()]
    # Only used classes' rows move (one-hot input); class 2 was never seen.
    for before, now in zip(embeds, after):
        assert np.abs(now[[0, 1, 3]] - before[[0, 1, 3]]).max() > 0
        np.testing.assert_array_equal(now[2], before[2])
    with pytest.raises(ValueError, match="set data.labels"):
        gan.train_step(images, do_r1=False)


def test_conditional_step_with_ada_augments_only_the_images():
    from cips_tf.augment import AugmentPipe
    from cips_tf.models.gan import AdaptiveAugment

    gan = _gan(4)
    gan.augment = AdaptiveAugment(AugmentPipe.from_name("bgc"), p=1.0, target=None)
    images = tf.random.stateless_uniform((4, 8, 8, 3), seed=[5, 6], minval=-1, maxval=1)
    labels = tf.constant([3, 2, 1, 0])
    seen = []
    original = gan.discriminator.call
    gan.discriminator.call = lambda x, labels=None: (seen.append(labels), original(x, labels=labels))[1]
    metrics = gan.train_step((images, labels), do_r1=True)
    gan.discriminator.call = original
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert seen and all(np.array_equal(np.asarray(s), labels.numpy()) for s in seen)  # labels untouched
