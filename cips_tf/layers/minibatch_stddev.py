"""Minibatch standard deviation (StyleGAN2 discriminator)."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cips_tf")
class MinibatchStddev(keras.layers.Layer):
    """Appends one channel: the within-group feature standard deviation, averaged.

    As official: `g = min(B, group_size)`; the batch is viewed as `[g, B / g, ...]` (so samples
    `i` and `i + B / g` share a group); biased variance over the group axis; `sqrt(var + 1e-8)`
    averaged over channels and pixels; broadcast to one extra channel. `B` must be divisible by g.

    Args:
        group_size: maximum group size (4).
        epsilon: added to the variance (1e-8).

    Call arguments:
        inputs: `[B, H, W, C]`.

    Example:
        >>> MinibatchStddev()(keras.ops.ones((4, 4, 4, 8))).shape
        (4, 4, 4, 9)
    """

    def __init__(self, group_size=4, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        shape = ops.shape(inputs)
        batch, h, w, c = shape[0], shape[1], shape[2], shape[3]
        static_batch = inputs.shape[0]
        if static_batch is not None:
            group = min(static_batch, self.group_size)
            if static_batch % group:
                raise ValueError(
                    f"MinibatchStddev: batch {static_batch} is not divisible by the group size {group}"
                )
        else:
            group = ops.minimum(batch, self.group_size)
        y = ops.reshape(inputs, (group, -1, h, w, c))  # [g, B/g, H, W, C]
        y = ops.cast(y, "float32")
        var = ops.mean(ops.square(y - ops.mean(y, axis=0, keepdims=True)), axis=0)  # [B/g, H, W, C]
        std = ops.mean(ops.sqrt(var + self.epsilon), axis=(1, 2, 3))  # [B/g]
        std = ops.tile(std, (group,))  # sample i gets std[i % (B/g)]
        std = ops.broadcast_to(ops.reshape(ops.cast(std, inputs.dtype), (-1, 1, 1, 1)), (batch, h, w, 1))
        return ops.concatenate([inputs, std], axis=-1)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (inputs_shape[-1] + 1,)

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size, epsilon=self.epsilon)
        return config
