"""Quickstart: a small CIPS-skips on Fashion-MNIST (70k real images, offline), 32 x 32, CPU-sized.

Trains for a wall-clock budget (`training.time_budget`, 8m15s), not a step count, so that
`bash scripts/quickstart.sh` (install, training, export, samples) stays within 10 minutes on a fast
machine of our kind and within 15 on the slowest, while a fast machine gets every step it can.
bf16 compute where the CPU runs it natively (`mixed_precision="auto"`). The recipe is the official
one at small widths with a higher learning rate, 3e-3 (official: 2e-3): in 8.5 minutes it reached
offline FID 47.7 against 59.9 at 2e-3 and 55.5 with batch 8 (README.md, "Quality per minute";
`benchmarks/quality_per_minute.py --variants=default,lr3e-3,batch8 --minutes=8.5` measures it). A
StyleGAN2-ADA-style recipe (EMA ramp-up, mapping depth 2, lr 2.5e-3) learned faster for the first
500 steps but was behind from 750 on:
    cips-train --config=configs/quickstart.py --workdir=runs/quickstart
"""
from cips_tf.training.defaults import default_config


def get_config():
    c = default_config()
    c.resolution = 32
    c.batch_size = 16
    c.num_train_steps = 1_000_000  # the budget ends the run; set a step count to stop earlier
    c.seed = 0
    c.model.hidden_size = 64
    c.model.style_dim = 64
    c.model.n_mlp = 4
    c.model.widths = [96, 96, 96, 96]
    c.discriminator.widths = [48, 96, 96, 96]
    c.optimizer.learning_rate = 3e-3  # official 2e-3; see the docstring
    c.ema.half_life_kimg = 2.0  # a short run: average over the last ~2k images
    c.data.source = "fashion_mnist"
    c.data.split = "train"
    c.data.random_flip = True
    c.training.time_budget = "8m15s"  # a fresh machine: ~66 s install + budget + ~25 s export and samples, under 10 min
    c.training.mixed_precision = "auto"  # mixed_bfloat16 where bf16 is native, else float32
    c.training.log_every = 100
    c.training.checkpoint_every = 1000
    c.training.checkpoint_every_secs = 120.0  # a killed quickstart loses at most 2 minutes
    c.training.sample_every = 1000
    c.training.keep_checkpoints = 2
    return c
