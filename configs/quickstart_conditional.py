"""Conditional quickstart: configs/quickstart.py with Fashion-MNIST's class labels (class-conditional
CIPS, StyleGAN2-ADA style: a label embedding joins z in the mapping network, D uses projection).

The sample grid (DIR/samples/, TensorBoard "samples/g_ema") has one row per class, labelled with the
class name, the same 8 seeds in every row. Render a class afterwards by index or name:
    cips-train --config=configs/quickstart_conditional.py --workdir=runs/quickstart_conditional
    cips-generate --model=runs/quickstart_conditional --task=sample --class=Sneaker --out=runs/cond_samples
"""
import importlib.util
import pathlib

from cips_tf.data.labels import FASHION_MNIST_CLASSES


def _quickstart():
    spec = importlib.util.spec_from_file_location("quickstart_config", pathlib.Path(__file__).with_name("quickstart.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def get_config():
    c = _quickstart()
    c.data.labels = "fashion_mnist"
    c.model.num_classes = len(FASHION_MNIST_CLASSES)  # 10
    c.training.num_sample_images = 8 * c.model.num_classes  # 8 seeds per class row
    return c
