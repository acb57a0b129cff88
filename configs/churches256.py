"""LSUN Churches at 256 px (paper Table 1: FID 2.92): CIPS-skips, official widths.

    cips-train --config=configs/churches256.py --workdir=runs/churches --config.data.path=/data/churches
"""
from cips_tf.training.defaults import default_config


def get_config():
    c = default_config()
    c.resolution = 256
    c.batch_size = 32
    c.num_train_steps = 1_200_000
    c.data.source = "folder"
    c.data.path = "/data/lsun_churches"
    c.data.random_flip = True
    c.training.checkpoint_every = 5000
    c.training.sample_every = 5000
    c.training.log_every = 100
    return c
