"""Official PyTorch CIPS checkpoints (saic-mdal/CIPS) -> cips_tf Keras models.

    from cips_tf.convert import generator_from_official, discriminator_from_official
"""
from cips_tf.convert.official import ConversionError, discriminator_from_official, generator_from_official

__all__ = ["ConversionError", "discriminator_from_official", "generator_from_official"]
