"""FFHQ at 256 px, the paper's main setting (Sec. 4.1, Table 1): CIPS-skips, official widths.

Prepare FFHQ as TFRecord shards (cips-pipeline ExampleGen or cips_tf.data.convert_image_folder)
or as an image folder and point `data.path` at it:
    cips-train --config=configs/ffhq256.py --workdir=runs/ffhq --config.data.path=/data/ffhq
"""
from cips_tf.training.defaults import default_config


def get_config():
    c = default_config()
    c.resolution = 256
    c.batch_size = 32  # official: 4 per GPU x 8 GPUs
    c.num_train_steps = 1_200_000
    c.data.source = "folder"
    c.data.path = "/data/ffhq"
    c.data.random_flip = True
    c.training.checkpoint_every = 5000
    c.training.sample_every = 5000
    c.training.log_every = 100
    return c
