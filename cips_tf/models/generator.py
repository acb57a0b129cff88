"""The CIPS generator: per-pixel synthesis `rgb(x, y) = G'(e(x, y); M(z))` (paper Sec. 3, Fig. 2, App. A)."""
import math

import keras
from keras import ops

from cips_tf.layers.coordinate_embedding import CoordinateEmbedding
from cips_tf.layers.fourier_features import FourierFeatures
from cips_tf.layers.modulated_dense import ModulatedDense
from cips_tf.layers.styled_block import StyledBlock, ToRGB
from cips_tf.layers.styled_res_block import StyledResBlock
from cips_tf.layers.tracking import expose_for_checkpoint
from cips_tf.models.mapping_network import MappingNetwork, check_labels

ARCHITECTURES = ("skips", "res", "base")

# Paper Table 3: which parts each ablation variant has.
VARIANTS = {
    "skips": dict(architecture="skips", use_fourier=True, use_embedding=True, activation="lrelu"),  # Main
    "res": dict(architecture="res", use_fourier=True, use_embedding=True, activation="lrelu"),  # Residual
    "base": dict(architecture="base", use_fourier=True, use_embedding=True, activation="lrelu"),  # "base"
    "ne": dict(architecture="base", use_fourier=True, use_embedding=False, activation="lrelu"),  # No embed
    "no_fourier": dict(architecture="base", use_fourier=False, use_embedding=True, activation="lrelu"),
    "sine": dict(architecture="base", use_fourier=False, use_embedding=True, activation="sin"),
}


def official_widths(size, architecture="skips", channel_multiplier=2):
    """The official per-block widths for `size` (CIPSskip / CIPSres channel tables)."""
    cm = channel_multiplier
    table = [512, 512, 512, 512, 256 * cm, 128 * cm, 64 * cm]
    table += [64 * cm, 32 * cm] if architecture == "res" else [32 * cm, 16 * cm]
    n_blocks = _num_blocks(size)
    if n_blocks > len(table):
        raise ValueError(f"official widths are defined up to size 1024, got size={size}")
    return table[:n_blocks]


def paper_widths(size, width=512):
    """The paper text's configuration: every modulated layer `width` wide (14 layers at 256)."""
    return [width] * _num_blocks(size)


def _num_blocks(size):
    log_size = math.log2(size)
    if size < 4 or log_size != int(log_size):
        raise ValueError(f"size must be a power of two >= 4 when widths are not given, got {size}")
    return int(log_size) - 1


@keras.saving.register_keras_serializable(package="cips_tf")
class CIPSGenerator(keras.Model):
    """The CIPS generator and its Table 3 variants.

    Each pixel's colour is computed from its coordinates and the style `w = M(z)` alone: the input
    encoding `e(x, y) = concat[sin(B_fo (x', y') + b), e_co(x, y)]` (eq. 3-4) goes through conv1 and
    a stack of blocks of two modulated fully-connected layers (eq. 2). Architectures: "skips"
    (default; `StyledBlock`s with a ToRGB each, outputs summed), "res" (`StyledResBlock`s, one final
    ToRGB), "base" (`StyledBlock`s without ToRGB, one final ToRGB).

    Args:
        size: training resolution: the shorter side of the training canvas (the coordinate-embedding
            table is `size x size` for a square model).
        hidden_size: width of the Fourier features and of the coordinate embeddings (512).
        style_dim: width of z and w (512).
        n_mlp: depth of the mapping network (8).
        lr_mlp: learning-rate multiplier of the mapping network (0.01).
        widths: per-block widths (two ModFC layers each; the first layer, conv1, has widths[0]).
            None gives the official table for `size` (512, 512, 512, 512, 256cm, 128cm, 64cm);
            `paper_widths(size)` gives the paper text's all-512 configuration.
        channel_multiplier: `cm` of the official table (2).
        architecture: "skips", "res" or "base".
        use_fourier: include the Fourier features in the encoding.
        use_embedding: include the coordinate embeddings in the encoding.
        activation: "lrelu" or "sin" for every ModFC layer.
        height, width: the training canvas of a non-square model (default `size x size`); the
            shorter side must be `size`. The native grid is `cips_tf.coords.canvas_grid(B, height,
            width)` (square pixels: the shorter side spans [-1, 1]) and the embedding table is
            `height x width`. Only the embedding depends on them: any model renders any grid.
        num_classes: class-conditional generation (StyleGAN2-ADA style: a label embedding joins z in the
            mapping network, see `MappingNetwork`); 0 (default) is the unconditional CIPS.

    The paper's Table 3 variants are presets of the last four arguments: `VARIANTS[name]`, or
    `CIPSGenerator.from_variant(name, **kwargs)`.

    Call arguments:
        inputs: dict with "coords" `[B, ..., 2]` (channel 0 = x along the width, channel 1 = y,
            `linspace(-1, 1, size)` on the training grid) and exactly one latent:
            "z" `[B, style_dim]`, "w" `[B, style_dim]` (or `[B, ..., style_dim]`, one style per
            pixel, for pixel-wise blending) or "ws" `[B, num_ws, style_dim]` (one style per
            modulated layer, for style mixing). "label" `[B]` int class indices goes with "z" in a
            conditional generator (w and ws already carry the class). Optional "noise": a list of `num_noise` tensors
            `[B, ..., 1]`.
        training: Python bool (the layers have no training-specific behaviour of their own).
        randomize_noise: when no noise is given, draw fresh per-pixel noise (official) or add none.
        direct_embedding: read the coordinate-embedding table directly, as the official code does
            in training mode on the native grid; "coords" must then be the `[B, size, size, 2]`
            training grid (`[B, height, width, 2]`). False (default): the table is sampled
            bilinearly at "coords".

    Returns:
        `[B, ..., 3]` float32 RGB, unclipped (about [-1, 1]).

    Example:
        >>> g = CIPSGenerator(size=8, hidden_size=16, style_dim=16, n_mlp=2, widths=[32, 32])
        >>> from cips_tf.coords import make_grid
        >>> g({"z": keras.random.normal((2, 16)), "coords": make_grid(2, 8, 8)}).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        size=256,
        hidden_size=512,
        style_dim=512,
        n_mlp=8,
        lr_mlp=0.01,
        widths=None,
        channel_multiplier=2,
        architecture="skips",
        use_fourier=True,
        use_embedding=True,
        activation="lrelu",
        height=None,
        width=None,
        num_classes=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.size = int(size)
        self.height = self.size if height is None else int(height)
        self.width = self.size if width is None else int(width)
        if min(self.height, self.width) != self.size:
            raise ValueError(f"CIPSGenerator: the shorter side of the {self.height} x {self.width} canvas must be "
                             f"size={self.size} (size names the shorter side)")
        self.hidden_size = int(hidden_size)
        self.style_dim = int(style_dim)
        self.n_mlp = int(n_mlp)
        self.lr_mlp = float(lr_mlp)
        self.channel_multiplier = int(channel_multiplier)
        self.architecture = architecture
        self.use_fourier = bool(use_fourier)
        self.use_embedding = bool(use_embedding)
        self.activation = activation
        self.num_classes = int(num_classes)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if not (self.use_fourier or self.use_embedding):
            raise ValueError("a CIPS generator needs Fourier features, coordinate embeddings or both")
        if widths is None:
            widths = official_widths(self.size, self.architecture, self.channel_multiplier)
        self.widths = [int(w) for w in widths]
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths must be a non-empty list of positive ints, got {widths}")
        policy = self.dtype_policy

        self.mapping = MappingNetwork(self.style_dim, self.n_mlp, self.lr_mlp, num_classes=self.num_classes,
                                      name="mapping", dtype=policy)
        self.fourier = FourierFeatures(self.hidden_size, name="fourier", dtype=policy) if self.use_fourier else None
        self.embedding = (
            CoordinateEmbedding(self.size, self.hidden_size, height=self.height, width=self.width, name="embedding",
                                dtype=policy)
            if self.use_embedding
            else None
        )
        act = self.activation
        self.conv1 = ModulatedDense(self.widths[0], activation=act, name="conv1", dtype=policy)
        if self.architecture == "res":
            self.blocks = [StyledResBlock(w, activation=act, name=f"res_block_{i}", dtype=policy)
                           for i, w in enumerate(self.widths)]
        else:
            self.blocks = [StyledBlock(w, activation=act, to_rgb=self.architecture == "skips", name=f"block_{i}",
                                       dtype=policy) for i, w in enumerate(self.widths)]
        self.to_rgb_last = ToRGB(name="to_rgb_last", dtype=policy) if self.architecture != "skips" else None
        expose_for_checkpoint(self, self.blocks)
        self.build()

    @classmethod
    def from_variant(cls, variant="skips", **kwargs):
        """A generator of the Table 3 preset `variant` (one of VARIANTS); `kwargs` as the constructor."""
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        return cls(**{**VARIANTS[variant], **kwargs})

    @property
    def conditional(self):
        return self.num_classes > 0

    def label_kwargs(self, labels):
        """`{"labels": labels}` for a conditional mapping call, `{}` for an unconditional one (so an
        unconditional mapping is called exactly as before)."""
        return {"labels": labels} if self.num_classes else {}

    @property
    def input_channels(self):
        return self.hidden_size * (int(self.use_fourier) + int(self.use_embedding))

    @property
    def num_ws(self):
        """Number of modulated layers, i.e. of styles in a "ws" input (execution order)."""
        return sum(len(group) for group in self.style_groups())

    @property
    def num_noise(self):
        """Number of noise inputs (every ModFC layer except the ToRGB layers)."""
        return 1 + sum(block.num_noise for block in self.blocks)

    def style_groups(self):
        """Indices into "ws" grouped by block: [conv1], then each block's layers (and its ToRGB);
        the final ToRGB of "res" and "base" joins the last block."""
        groups, k = [[0]], 1
        for block in self.blocks:
            groups.append(list(range(k, k + block.num_styles)))
            k += block.num_styles
        if self.to_rgb_last is not None:
            groups[-1].append(k)
        return groups

    def build(self, input_shape=None):
        if self.built:
            return
        self.mapping.build((None, self.style_dim))
        coords_shape = (None, None, None, 2)
        style_shape = (None, self.style_dim)
        if self.fourier is not None:
            self.fourier.build(coords_shape)
        if self.embedding is not None:
            self.embedding.build(coords_shape)
        self.conv1.build((None, None, self.input_channels), style_shape)
        in_ch = self.widths[0]
        for block in self.blocks:
            block.build((None, None, in_ch), style_shape)
            in_ch = block.units
        if self.to_rgb_last is not None:
            self.to_rgb_last.build((None, None, in_ch), style_shape)
        self.built = True

    def encode(self, coords, direct_embedding=False):
        """The positional encoding `e(x, y)`: `[B, ..., input_channels]`."""
        if coords.shape[-1] != 2:
            raise ValueError(
                f"CIPSGenerator: 'coords' must end in 2 channels (x, y), got shape {tuple(coords.shape)}"
            )
        feats = []
        if self.fourier is not None:
            feats.append(self.fourier(coords))
        if self.embedding is not None:
            feats.append(self.embedding(coords, direct=direct_embedding))
        return feats[0] if len(feats) == 1 else ops.concatenate(feats, axis=-1)

    def call(self, inputs, training=None, randomize_noise=True, direct_embedding=False):
        if not isinstance(inputs, dict) or "coords" not in inputs:
            raise ValueError("CIPSGenerator expects a dict with 'coords' and one of 'z', 'w', 'ws'")
        latents = [k for k in ("z", "w", "ws") if inputs.get(k) is not None]
        if len(latents) != 1:
            raise ValueError(f"CIPSGenerator expects exactly one of 'z', 'w', 'ws'; got {latents or 'none'}")
        if "z" in latents:
            check_labels(inputs.get("label"), self.num_classes, "this CIPSGenerator")
            styles = self.mapping(inputs["z"], **self.label_kwargs(inputs.get("label")))
        else:
            styles = inputs[latents[0]]
        per_layer = latents[0] == "ws"
        if per_layer and (len(styles.shape) != 3 or styles.shape[1] not in (None, self.num_ws)):
            raise ValueError(f"'ws' must be [B, {self.num_ws}, {self.style_dim}], got {tuple(styles.shape)}")
        return self.synthesis(
            styles,
            inputs["coords"],
            noise=inputs.get("noise"),
            randomize_noise=randomize_noise,
            per_layer=per_layer,
            direct_embedding=direct_embedding,
        )

    def synthesis(self, styles, coords, noise=None, randomize_noise=True, per_layer=False, direct_embedding=False):
        """Renders `coords` with styles `w` (`[B, S]` / per pixel) or `ws` (`per_layer=True`)."""
        return self.synthesize_from_encoding(
            self.encode(coords, direct_embedding=direct_embedding), styles, noise=noise,
            randomize_noise=randomize_noise, per_layer=per_layer,
        )

    def synthesize_from_encoding(self, encoding, styles, noise=None, randomize_noise=True, per_layer=False):
        """The ModFC stack on a given encoding `e(x, y)` `[B, ..., input_channels]` -> `[B, ..., 3]`.

        `synthesis()` is `encode()` followed by this; the encoding experiments (paper Fig. 6) call it
        on an encoding with the Fourier or embedding channels zeroed.
        """
        if noise is not None and len(noise) != self.num_noise:
            raise ValueError(f"'noise' must be a list of {self.num_noise} tensors, got {len(noise)}")

        def style(i):
            return styles[:, i] if per_layer else styles

        x = self.conv1(encoding, style(0), noise=None if noise is None else noise[0], randomize_noise=randomize_noise)
        k, n, rgb = 1, 1, None
        for block in self.blocks:
            block_styles = [style(i) for i in range(k, k + block.num_styles)] if per_layer else styles
            block_noise = None if noise is None else list(noise[n : n + block.num_noise])
            if isinstance(block, StyledResBlock):
                x = block(x, block_styles, noise=block_noise, randomize_noise=randomize_noise)
            else:
                x, rgb = block(x, block_styles, noise=block_noise, randomize_noise=randomize_noise, rgb=rgb)
            k, n = k + block.num_styles, n + block.num_noise
        if self.to_rgb_last is not None:
            rgb = self.to_rgb_last(x, style(k))
        return ops.cast(rgb, "float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            size=self.size,
            hidden_size=self.hidden_size,
            style_dim=self.style_dim,
            n_mlp=self.n_mlp,
            lr_mlp=self.lr_mlp,
            widths=list(self.widths),
            channel_multiplier=self.channel_multiplier,
            architecture=self.architecture,
            use_fourier=self.use_fourier,
            use_embedding=self.use_embedding,
            activation=self.activation,
        )
        if (self.height, self.width) != (self.size, self.size):  # square configs stay as they were
            config.update(height=self.height, width=self.width)
        if self.num_classes:
            config.update(num_classes=self.num_classes)
        return config
