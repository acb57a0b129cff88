"""Quickstart: a small CIPS-skips on Fashion-MNIST (70k real images, offline), 32 x 32, CPU-sized.

600 steps, sized so that `bash scripts/quickstart.sh` stays within 15 minutes on the slower machines
of our kind (a 64-76 GFLOP/s matmul peak; README.md gives the measured figures):
    cips-train --config=configs/quickstart.py --workdir=runs/quickstart
"""
from cips_tf.training.defaults import default_config


def get_config():
    c = default_config()
    c.resolution = 32
    c.batch_size = 16
    c.num_train_steps = 600
    c.seed = 0
    c.model.hidden_size = 64
    c.model.style_dim = 64
    c.model.n_mlp = 4
    c.model.widths = [96, 96, 96, 96]
    c.discriminator.widths = [48, 96, 96, 96]
    c.optimizer.learning_rate = 2e-3
    c.ema.half_life_kimg = 2.0  # a short run: average over the last ~2k images
    c.data.source = "fashion_mnist"
    c.data.split = "train"
    c.data.random_flip = True
    c.training.log_every = 50
    c.training.checkpoint_every = 500
    c.training.sample_every = 500
    c.training.keep_checkpoints = 2
    return c
