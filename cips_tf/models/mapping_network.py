"""The mapping network M: z -> w (StyleGAN's style MLP, as used by CIPS)."""
import keras

from cips_tf.layers.equalized_dense import EqualizedDense
from cips_tf.layers.pixel_norm import PixelNorm
from cips_tf.layers.tracking import expose_for_checkpoint


@keras.saving.register_keras_serializable(package="cips_tf")
class MappingNetwork(keras.layers.Layer):
    """PixelNorm followed by `n_mlp` equalized dense layers with fused leaky ReLU.

    Args:
        style_dim: width of z and w (512 officially).
        n_mlp: number of dense layers (8 officially).
        lr_multiplier: equalized learning-rate multiplier of the dense layers (0.01 officially).

    Call arguments:
        inputs: `[B, style_dim]` latent z.

    Example:
        >>> MappingNetwork(style_dim=16, n_mlp=2)(keras.ops.ones((3, 16))).shape
        (3, 16)
    """

    def __init__(self, style_dim=512, n_mlp=8, lr_multiplier=0.01, **kwargs):
        super().__init__(**kwargs)
        self.style_dim = int(style_dim)
        self.n_mlp = int(n_mlp)
        self.lr_multiplier = float(lr_multiplier)
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

    def build(self, inputs_shape=None):
        shape = (None, self.style_dim)
        for layer in self.dense_layers:
            layer.build(shape)

    def call(self, inputs):
        x = self.pixel_norm(inputs)
        for layer in self.dense_layers:
            x = layer(x)
        return x

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.style_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(style_dim=self.style_dim, n_mlp=self.n_mlp, lr_multiplier=self.lr_multiplier)
        return config
