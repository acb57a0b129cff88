"""Parameter counts of the official 256 configurations (train.py defaults)."""
import gc

import pytest

from cips_tf.models.discriminator import Discriminator
from cips_tf.models.generator import CIPSGenerator, official_widths


@pytest.mark.slow
@pytest.mark.parametrize("variant,expected", [("skips", 44_317_092), ("res", 43_027_858)])
def test_generator_official_256_param_count_matches(variant, expected):
    g = CIPSGenerator.from_variant(variant, size=256)
    assert g.count_params() == expected
    del g
    gc.collect()


@pytest.mark.slow
def test_discriminator_official_256_param_count_matches():
    d = Discriminator(256)
    assert d.count_params() == 28_864_129


def test_official_widths_256_match_official_tables():
    assert official_widths(256) == [512, 512, 512, 512, 512, 256, 128]
    assert official_widths(256, "res") == [512, 512, 512, 512, 512, 256, 128]
    assert official_widths(1024) == [512, 512, 512, 512, 512, 256, 128, 64, 32]
    assert official_widths(1024, "res") == [512, 512, 512, 512, 512, 256, 128, 128, 64]
