"""`cips-convert`: an official CIPS PyTorch checkpoint (saic-mdal/CIPS) -> Keras `.keras` files.

    cips-convert --checkpoint=official.pt --out=DIR [--lr_mlp=0.01] [--trust_checkpoint] [--overwrite]
    cips-convert --checkpoint=params.npz --prefix=CIPSskip/param/ --out=DIR \
        [--d_prefix=Discriminator/param/]

A `.pt` checkpoint (as written by the official train.py) must hold `g_ema`; its `d` is converted
too when present. PyTorch is needed only for `.pt` files (`pip install cips-tf[torch]`). A `.npz`
holds a state_dict as arrays (official parameter names, optionally under a key prefix), so
conversion works and is testable without PyTorch.

A `.pt` file is a pickle, and unpickling can run code: it is loaded with
`torch.load(weights_only=True)`, which accepts tensors, plain containers and the few extra types the
official checkpoint holds (`argparse.Namespace`, its `args`). A file that needs anything else is
refused with one line naming the blocking type; `--trust_checkpoint` loads it fully (only for files
you trust as much as code you run).

Writes `DIR/generator.keras` (and `DIR/discriminator.keras`) and prints the inferred architecture.
The mapping network's lr multiplier is a run-time constant that a state_dict does not record:
pass `--lr_mlp` if the model was trained with a value other than the official 0.01. Existing
outputs in DIR are kept (the run fails) unless `--overwrite` is given.
"""
import pathlib

from absl import app, flags

from cips_tf import entry_point, outputs
from cips_tf.convert import checkpoint as checkpoint_lib
from cips_tf.convert.official import ConversionError

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Official checkpoint: a .pt file (needs torch) or a .npz state_dict.",
                    required=True)
flags.DEFINE_string("out", None, "Output directory for generator.keras (and discriminator.keras).", required=True)
flags.DEFINE_float("lr_mlp", 0.01, "lr multiplier of the mapping network the checkpoint was trained with.")
flags.DEFINE_string("prefix", None, ".npz only: key prefix of the generator's parameters (e.g. 'CIPSskip/param/'); "
                    "default: every key.")
flags.DEFINE_string("d_prefix", None, ".npz only: key prefix of the discriminator's parameters; default: none is "
                    "converted.")
flags.DEFINE_boolean("trust_checkpoint", False, ".pt only: unpickle the file fully (it can run code) when the safe "
                     "loader refuses it; only for files you trust.")
flags.DEFINE_boolean("overwrite", False, "Replace generator.keras / discriminator.keras already in --out.")
flags.DEFINE_integer("size", None, "Training resolution; needed only for models without a coordinate embedding.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not pathlib.Path(FLAGS.checkpoint).exists():
        raise app.UsageError(f"--checkpoint={pathlib.Path(FLAGS.checkpoint)}: no such file")
    outputs.refuse_overwrite(FLAGS.out, checkpoint_lib.OUTPUTS, "cips-convert", FLAGS.overwrite)
    try:
        checkpoint_lib.convert_checkpoint(FLAGS.checkpoint, FLAGS.out, lr_mlp=FLAGS.lr_mlp, prefix=FLAGS.prefix,
                                          d_prefix=FLAGS.d_prefix, size=FLAGS.size, trust=FLAGS.trust_checkpoint,
                                          report=print)
    except ConversionError as e:
        raise app.UsageError(f"{FLAGS.checkpoint}: {e}") from e


def run():
    """Console-script entry point."""
    entry_point.run(main)


if __name__ == "__main__":
    run()
