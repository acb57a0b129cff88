"""Builds the models from an ml_collections config (the `model` and `discriminator` sections)."""
import math

from cips_tf.coords import canvas_size
from cips_tf.models.discriminator import Discriminator
from cips_tf.models.generator import CIPSGenerator, paper_widths


def _widths(value, size):
    if value in (None, "official"):
        return None
    if value == "paper":
        return paper_widths(size)
    return [int(w) for w in value]


def training_canvas(config):
    """(height, width) of the training images: `config.resolution` is the shorter side and
    `config.aspect` ("W:H", default "1:1"; configs written before it are square) the shape."""
    return canvas_size(config.resolution, config.get("aspect"), field="aspect")


def discriminator_size(config):
    """The discriminator's input size: the patch size in patch mode, else the resolution."""
    if config.discriminator.get("size"):
        return int(config.discriminator.size)
    return int(config.training.patch_size) if config.training.mode == "patch" else int(config.resolution)


def generator_from_config(config, dtype=None):
    """`config.resolution`, `config.aspect` and `config.model.{hidden_size, style_dim, n_mlp, lr_mlp,
    widths, channel_multiplier, variant, num_classes}`; widths may be None / "official", "paper" or a list."""
    m = config.model
    height, width = training_canvas(config)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    if m.get("num_classes"):  # class-conditional (StyleGAN2-ADA style); 0 / absent: unconditional
        kwargs["num_classes"] = int(m.num_classes)
    return CIPSGenerator.from_variant(
        m.get("variant", "skips"),
        size=config.resolution,
        hidden_size=m.hidden_size,
        style_dim=m.style_dim,
        n_mlp=m.n_mlp,
        lr_mlp=m.lr_mlp,
        widths=_widths(m.get("widths"), config.resolution),
        channel_multiplier=m.get("channel_multiplier", 2),
        height=height,
        width=width,
        **kwargs,
    )


def discriminator_from_config(config, dtype=None, size=None):
    """`config.discriminator.{channel_multiplier, widths, mapping_layers}` (and `config.model.num_classes`
    for projection conditioning) at `size` (default `config.discriminator.size`, else
    `config.resolution`); at `config.resolution` it takes the training canvas (`config.aspect`: e.g.
    32 x 64 for resolution 32 and aspect "2:1")."""
    d = config.discriminator
    size = size or d.get("size") or config.resolution
    height, width = training_canvas(config) if int(size) == int(config.resolution) else (size, size)
    widths = d.get("widths")
    if widths not in (None, "official"):
        # Widths are listed per resolution from config.resolution down to 4; a smaller
        # discriminator (patch training) uses the tail of that list.
        needed = int(math.log2(size)) - 1
        widths = [int(w) for w in widths][-needed:]
    else:
        widths = None
    kwargs = {"dtype": dtype} if dtype is not None else {}
    if config.model.get("num_classes"):  # projection conditioning on the generator's classes
        kwargs["num_classes"] = int(config.model.num_classes)
        kwargs["mapping_layers"] = int(d.get("mapping_layers", 8))
    return Discriminator(
        size=size,
        channel_multiplier=d.get("channel_multiplier", 2),
        widths=widths,
        height=height,
        width=width,
        **kwargs,
    )
