"""Smoke test: a tiny CIPS on Fashion-MNIST (offline), 16 x 16; finishes in well under 2 minutes.

    cips-train --config=configs/smoke.py --workdir=/tmp/cips_smoke
"""
from cips_tf.training.defaults import default_config


def get_config():
    c = default_config()
    c.resolution = 16
    c.batch_size = 8
    c.num_train_steps = 20
    c.seed = 0
    c.model.hidden_size = 16
    c.model.style_dim = 16
    c.model.n_mlp = 2
    c.model.widths = [32, 32, 16]
    c.discriminator.widths = [16, 32, 32]
    c.data.source = "fashion_mnist"
    c.data.split = "test"
    c.data.shuffle_buffer = 256
    c.training.log_every = 5
    c.training.checkpoint_every = 10
    c.training.sample_every = 10
    c.training.num_sample_images = 4
    c.training.keep_checkpoints = 2
    return c
