"""The mapping network M: z -> w (StyleGAN's style MLP, as used by CIPS), optionally class-conditional."""
import keras
from keras import ops

from cips_tf.layers.equalized_dense import EqualizedDense
from cips_tf.layers.pixel_norm import PixelNorm
from cips_tf.layers.tracking import expose_for_checkpoint


def check_labels(labels, num_classes, owner):
    """The int class indices `[B]` a conditional network takes; a clear error when they are missing
    or the network is unconditional. (Range is checked where labels enter from the outside: the
    data pipeline, `cips-generate --class` and the export.)"""
    if num_classes and labels is None:
        raise ValueError(f"{owner} is class-conditional (num_classes={num_classes}): pass integer class labels "
                         f"[B] in 0..{num_classes - 1}")
    if not num_classes and labels is not None:
        raise ValueError(f"{owner} is unconditional (num_classes=0): it takes no class labels")
    return labels


@keras.saving.register_keras_serializable(package="cips_tf")
class MappingNetwork(keras.layers.Layer):
    """PixelNorm followed by `n_mlp` equalized dense layers with fused leaky ReLU.

    Class-conditional (`num_classes > 0`), as StyleGAN2-ADA's `MappingNetwork`: the one-hot label goes
    through an embedding `embed` (equalized dense, `num_classes -> style_dim`, linear, lr multiplier 1);
    z and `embed(c)` are each normalized to unit second moment (PixelNorm) and concatenated before the
    MLP, whose first layer then takes `z_dim + style_dim` features. `z_dim=0` gives the label-only
    mapping of the discriminator's projection (`cmap = M(c)`). `num_classes=0` builds exactly the
    unconditional network (same variables, same creation order).

    Args:
        style_dim: width of w (and of z unless `z_dim` is given) (512 officially).
        n_mlp: number of dense layers (8 officially).
        lr_multiplier: equalized learning-rate multiplier of the dense layers (0.01 officially).
        num_classes: number of classes (0: unconditional).
        z_dim: width of z (None: `style_dim`; 0: no z, labels only; needs `num_classes`).

    Call arguments:
        inputs: `[B, z_dim]` latent z (ignored, may be None, when `z_dim == 0`).
        labels: `[B]` int class indices (conditional networks only).

    Example:
        >>> MappingNetwork(style_dim=16, n_mlp=2)(keras.ops.ones((3, 16))).shape
        (3, 16)
        >>> MappingNetwork(style_dim=16, n_mlp=2, num_classes=10)(keras.ops.ones((3, 16)), labels=[0, 3, 9]).shape
        (3, 16)
    """

    def __init__(self, style_dim=512, n_mlp=8, lr_multiplier=0.01, num_classes=0, z_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.style_dim = int(style_dim)
        self.n_mlp = int(n_mlp)
        self.lr_multiplier = float(lr_multiplier)
        self.num_classes = int(num_classes)
        self.z_dim = self.style_dim if z_dim is None else int(z_dim)
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if self.z_dim == 0 and not self.num_classes:
            raise ValueError("a mapping network without z (z_dim=0) needs num_classes > 0")
        self.pixel_norm = PixelNorm(name="pixel_norm", dtype=self.dtype_policy)
        self.dense_layers = [
            EqualizedDense(
                self.style_dim,
                lr_multiplier=self.lr_multiplier,
                activation="lrelu",
                name=f"dense_{i}",
                dtype=self.dtype_policy,
            )
            for i in range(self.n_mlp)
        ]
        expose_for_checkpoint(self, self.dense_layers)
        # Created after the MLP so that an unconditional network's variables come out exactly as before.
        self.embed = (EqualizedDense(self.style_dim, name="embed", dtype=self.dtype_policy)
                      if self.num_classes else None)

    @property
    def input_features(self):
        """Width of the MLP's input: z and/or the label embedding."""
        return self.z_dim + (self.style_dim if self.num_classes else 0)

    def build(self, inputs_shape=None):
        if self.embed is not None:
            self.embed.build((None, self.num_classes))
        shape = (None, self.input_features)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = (None, self.style_dim)

    def call(self, inputs, labels=None):
        check_labels(labels, self.num_classes, "this mapping network")
        parts = []
        if self.z_dim:
            parts.append(self.pixel_norm(inputs))
        if self.num_classes:
            onehot = ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), self.num_classes,
                                 dtype=self.compute_dtype)
            parts.append(self.pixel_norm(self.embed(onehot)))
        x = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        for layer in self.dense_layers:
            x = layer(x)
        return x

    def compute_output_shape(self, inputs_shape, labels_shape=None):
        return tuple(inputs_shape[:-1]) + (self.style_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(style_dim=self.style_dim, n_mlp=self.n_mlp, lr_multiplier=self.lr_multiplier)
        if self.num_classes:
            config.update(num_classes=self.num_classes, z_dim=self.z_dim)
        return config
