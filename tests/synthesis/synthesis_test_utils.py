"""Tiny generators for the synthesis tests."""
from cips_tf.models.generator import CIPSGenerator

TINY = dict(size=16, hidden_size=16, style_dim=16, n_mlp=2, widths=[32, 32, 16])


def tiny_generator(variant="skips", **overrides):
    """A 16 px generator (CIPS-skips unless `variant` says otherwise) that renders in milliseconds."""
    return CIPSGenerator.from_variant(variant, **{**TINY, **overrides})
