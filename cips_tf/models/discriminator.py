"""The StyleGAN2 residual discriminator, unchanged, as CIPS uses it (paper Sec. 4.1); optionally with
StyleGAN2-ADA's projection conditioning on class labels."""
import math

import keras
from keras import ops

from cips_tf.layers.discriminator_block import DiscriminatorBlock
from cips_tf.layers.equalized_conv2d import EqualizedConv2D
from cips_tf.layers.equalized_dense import EqualizedDense
from cips_tf.layers.minibatch_stddev import MinibatchStddev
from cips_tf.layers.tracking import expose_for_checkpoint
from cips_tf.models.mapping_network import MappingNetwork, check_labels


def official_discriminator_widths(size, channel_multiplier=2):
    """Widths per resolution, from `size` down to 4: 512 up to 32 px, then 256cm, 128cm, 64cm, ..."""
    log_size = math.log2(size)
    if size < 4 or log_size != int(log_size):
        raise ValueError(f"discriminator size must be a power of two >= 4, got {size}")
    cm = channel_multiplier
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
             1024: 16 * cm}
    if size > 1024:
        raise ValueError(f"official discriminator widths are defined up to 1024, got {size}")
    return [table[2 ** i] for i in range(int(log_size), 1, -1)]


def freeze_first_blocks(discriminator, num_blocks):
    """FreezeD (Mo et al. 2020): the first `num_blocks` blocks from the input side stop training.

    Block 1 is from-RGB together with the first residual block (the official StyleGAN2 top block
    holds from-RGB), block k > 1 the k-th residual block. Their variables leave
    `trainable_variables`, so they get no gradient and an optimizer built afterwards has no slots
    for them; they still load and save with the model. 0 freezes nothing; at most
    `len(discriminator.blocks)` (the minibatch-stddev epilogue always trains).

    Returns the frozen layers.
    """
    num_blocks = int(num_blocks)
    if not 0 <= num_blocks <= len(discriminator.blocks):
        raise ValueError(f"freeze_d_layers must be between 0 and {len(discriminator.blocks)} (the discriminator's "
                         f"residual blocks at size {discriminator.size}), got {num_blocks}")
    frozen = ([discriminator.from_rgb] + discriminator.blocks[:num_blocks]) if num_blocks else []
    for layer in frozen:
        layer.trainable = False
    return frozen


@keras.saving.register_keras_serializable(package="cips_tf")
class Discriminator(keras.Model):
    """StyleGAN2 residual discriminator at any power-of-two resolution, square or not.

    from-RGB 1x1 conv (bias, fused lReLU) -> residual blocks down to 4 x 4 -> minibatch stddev
    (group 4) -> 3x3 conv -> flatten in the official NCHW order -> dense (fused lReLU) -> dense 1.
    A non-square input (`height x width`, shorter side `size`) goes through the same blocks (their
    number and widths are set by `size`) down to `4 x 4k` (e.g. 4 x 8 for 2:1); the first dense
    layer's input grows to `C * 4 * 4k`.

    Args:
        size: input resolution (the shorter side of a non-square input).
        channel_multiplier: `cm` of the official width table (2).
        widths: widths per resolution from `size` down to 4 (`log2(size) - 1` ints); None gives
            the official table.
        input_channels: image channels (3).
        stddev_group: minibatch-stddev group size (4).
        height, width: the input of a non-square discriminator (default `size x size`); the
            shorter side must be `size` and the longer one a multiple of `size / 4`.
        num_classes: projection conditioning (StyleGAN2-ADA's `DiscriminatorEpilogue`, Miyato & Koyama
            2018) when > 0: a label-only mapping network gives `cmap = M(c)` `[B, cmap_dim]`, the last
            dense layer gives `cmap_dim` features `h`, and the logit is `sum(h * cmap) / sqrt(cmap_dim)`.
            0 (default) is the unconditional discriminator, unchanged.
        cmap_dim: width of the projection (None: the 4 x 4 width, `widths[-1]`, as ADA).
        mapping_layers: depth of the label mapping (8, ADA's default; lr multiplier 0.01).

    Call arguments:
        inputs: `[B, height, width, input_channels]` images in about [-1, 1].
        labels: `[B]` int class indices (conditional discriminators only).

    Returns:
        `[B, 1]` float32 logits.

    Example:
        >>> Discriminator(size=16, widths=[32, 32, 32])(keras.ops.zeros((4, 16, 16, 3))).shape
        (4, 1)
    """

    def __init__(self, size=256, channel_multiplier=2, widths=None, input_channels=3, stddev_group=4, height=None,
                 width=None, num_classes=0, cmap_dim=None, mapping_layers=8, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.height = self.size if height is None else int(height)
        self.width = self.size if width is None else int(width)
        reduction = max(self.size // 4, 1)  # the blocks halve both sides down to 4 on the shorter one
        if min(self.height, self.width) != self.size or self.height % reduction or self.width % reduction:
            raise ValueError(f"Discriminator: a {self.height} x {self.width} input needs its shorter side equal to "
                             f"size={self.size} and both sides multiples of size / 4 = {reduction} (the blocks reduce "
                             f"the shorter side to 4)")
        self.channel_multiplier = int(channel_multiplier)
        if widths is None:
            widths = official_discriminator_widths(self.size, self.channel_multiplier)
        self.widths = [int(w) for w in widths]
        expected = int(math.log2(self.size)) - 1
        if len(self.widths) != expected:
            raise ValueError(f"Discriminator(size={size}) needs {expected} widths (size down to 4), got {widths}")
        self.input_channels = int(input_channels)
        self.stddev_group = int(stddev_group)
        self.num_classes = int(num_classes)
        self.cmap_dim = (int(cmap_dim) if cmap_dim else self.widths[-1]) if self.num_classes else 0
        self.mapping_layers = int(mapping_layers)
        policy = self.dtype_policy
        self.from_rgb = EqualizedConv2D(self.widths[0], 1, name="from_rgb", dtype=policy)
        self.blocks = [DiscriminatorBlock(w, name=f"block_{i}", dtype=policy) for i, w in enumerate(self.widths[1:])]
        expose_for_checkpoint(self, self.blocks)
        self.stddev = MinibatchStddev(self.stddev_group, name="minibatch_stddev", dtype=policy)
        self.final_conv = EqualizedConv2D(self.widths[-1], 3, name="final_conv", dtype=policy)
        self.final_dense = EqualizedDense(self.widths[-1], activation="lrelu", name="final_dense", dtype=policy)
        self.final_out = EqualizedDense(self.cmap_dim or 1, name="final_out", dtype=policy)
        self.mapping = (MappingNetwork(self.cmap_dim, self.mapping_layers, num_classes=self.num_classes, z_dim=0,
                                       name="mapping", dtype=policy) if self.num_classes else None)
        self.build((None, self.height, self.width, self.input_channels))

    @property
    def final_shape(self):
        """(h, w) of the final block: 4 x 4 for a square, 4 x 4k for a non-square input."""
        reduction = max(self.size // 4, 1)
        return self.height // reduction, self.width // reduction

    def build(self, input_shape):
        if self.built:
            return
        shape = (None, self.height, self.width, self.input_channels)
        self.from_rgb.build(shape)
        shape = self.from_rgb.compute_output_shape(shape)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        shape = shape[:-1] + (shape[-1] + 1,)
        self.final_conv.build(shape)
        final_h, final_w = self.final_shape
        self.final_dense.build((None, self.widths[-1] * final_h * final_w))
        self.final_out.build((None, self.widths[-1]))
        if self.mapping is not None:
            self.mapping.build()
        self.built = True

    def call(self, inputs, labels=None):
        check_labels(labels, self.num_classes, "this Discriminator")
        x = self.from_rgb(inputs)
        for block in self.blocks:
            x = block(x)
        x = self.stddev(x)
        x = self.final_conv(x)  # [B, 4, 4, C] ([B, 4, 4k, C] for a non-square input)
        x = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (ops.shape(x)[0], -1))  # official NCHW flatten
        x = self.final_dense(x)
        x = self.final_out(x)
        if self.mapping is not None:  # projection: <h, M(c)> / sqrt(cmap_dim)
            cmap = self.mapping(ops.zeros((ops.shape(x)[0], 0), x.dtype), labels=labels)
            x = ops.sum(x * ops.cast(cmap, x.dtype), axis=1, keepdims=True) * (1.0 / math.sqrt(self.cmap_dim))
        return ops.cast(x, "float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            size=self.size,
            channel_multiplier=self.channel_multiplier,
            widths=list(self.widths),
            input_channels=self.input_channels,
            stddev_group=self.stddev_group,
        )
        if (self.height, self.width) != (self.size, self.size):  # square configs stay as they were
            config.update(height=self.height, width=self.width)
        if self.num_classes:
            config.update(num_classes=self.num_classes, cmap_dim=self.cmap_dim, mapping_layers=self.mapping_layers)
        return config
