"""cips-tf: Keras 3 / TensorFlow implementation of CIPS (Anokhin et al., CVPR 2021)."""
from cips_tf._tf_start import quiet_start as _quiet_start

_quiet_start()
