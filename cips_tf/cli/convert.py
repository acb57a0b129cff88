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
import argparse
import pathlib
import pickle
import re

from absl import app, flags

from cips_tf import entry_point
from cips_tf.cli import outputs
from cips_tf.errors import UserError

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


# Types the official train.py pickles besides tensors and containers: its argparse.Namespace `args`.
SAFE_GLOBALS = (argparse.Namespace,)


class UntrustedCheckpointError(UserError):
    """The safe loader refused a .pt file (it needs a type that could run code)."""


def _blocking_types(torch, path, error):
    """The globals `torch.load(weights_only=True)` refused, as 'module.name' strings."""
    try:
        names = list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # legacy (non-zip) format, or an older torch: read them from the error
        names = []
    names = [n for n in names if n not in {f"{t.__module__}.{t.__qualname__}" for t in SAFE_GLOBALS}]
    if not names:
        names = re.findall(r"GLOBAL ([\w.]+)", str(error)) or re.findall(r"global[s]? ([\w.]+)", str(error))
    return sorted(set(names))


def _torch_load(torch, path, trust):
    """`torch.load` with `weights_only=True` (plus SAFE_GLOBALS); full unpickling only when `trust`."""
    if trust:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        names = _blocking_types(torch, path, e)
        what = f"type {', '.join(names)}" if names else f"content ({_first_line(e)})"
        raise UntrustedCheckpointError(
            f"--checkpoint={path}: refused to unpickle {what}, which could run code; pass --trust_checkpoint "
            "to load the file fully if you trust it as much as a program"
        ) from None


def _first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(error).__name__


def _load_torch_checkpoint(path, trust=False):
    try:
        import torch
    except ImportError as e:
        raise app.UsageError(
            f"{path}: reading a PyTorch .pt checkpoint needs PyTorch, which is not installed "
            "(pip install 'cips-tf[torch]' or pip install torch); alternatively save the state_dict "
            "as .npz and pass that."
        ) from e
    ckpt = _torch_load(torch, path, trust)
    if not isinstance(ckpt, dict):
        raise app.UsageError(f"{path}: expected a dict checkpoint, got {type(ckpt).__name__}")
    if "g_ema" not in ckpt:
        raise app.UsageError(f"{path}: no 'g_ema' entry (keys: {sorted(ckpt)[:10]})")
    return ckpt["g_ema"], ckpt.get("d")


def _load_npz(path, prefix, d_prefix):
    import numpy as np

    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    g_sd = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)} if prefix else arrays
    if not g_sd:
        raise app.UsageError(f"{path}: no keys start with --prefix={prefix!r}")
    d_sd = None
    if d_prefix:
        d_sd = {k[len(d_prefix):]: v for k, v in arrays.items() if k.startswith(d_prefix)}
        if not d_sd:
            raise app.UsageError(f"{path}: no keys start with --d_prefix={d_prefix!r}")
    return g_sd, d_sd


def describe_generator(g):
    parts = [
        f"CIPSGenerator: architecture={g.architecture}",
        f"size={g.size}",
        f"hidden_size={g.hidden_size}",
        f"style_dim={g.style_dim}",
        f"n_mlp={g.n_mlp}",
        f"lr_mlp={g.lr_mlp}",
        f"widths={g.widths}",
        f"fourier={g.use_fourier}",
        f"embedding={g.use_embedding}",
        f"activation={g.activation}",
        f"params={g.count_params():,}",
    ]
    return ", ".join(parts)


def describe_discriminator(d):
    return f"Discriminator: size={d.size}, widths={d.widths}, input_channels={d.input_channels}, " \
           f"params={d.count_params():,}"


OUTPUTS = ("generator.keras", "discriminator.keras")


def convert_checkpoint(checkpoint, out, lr_mlp=0.01, prefix=None, d_prefix=None, size=None, trust=False,
                       overwrite=False):
    """Converts and writes the models; returns `{"generator": path, ["discriminator": path]}`."""
    from cips_tf.convert.official import discriminator_from_official, generator_from_official

    checkpoint = pathlib.Path(checkpoint)
    if not checkpoint.exists():
        raise app.UsageError(f"--checkpoint={checkpoint}: no such file")
    outputs.refuse_overwrite(out, OUTPUTS, "cips-convert", overwrite)
    if checkpoint.suffix == ".npz":
        g_sd, d_sd = _load_npz(checkpoint, prefix, d_prefix)
    else:
        g_sd, d_sd = _load_torch_checkpoint(checkpoint, trust)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    g = generator_from_official(g_sd, size=size, lr_mlp=lr_mlp)
    print(describe_generator(g))
    paths = {"generator": out / "generator.keras"}
    g.save(paths["generator"])
    if d_sd is not None:
        d = discriminator_from_official(d_sd)
        print(describe_discriminator(d))
        paths["discriminator"] = out / "discriminator.keras"
        d.save(paths["discriminator"])
    for name, path in paths.items():
        print(f"wrote {name}: {path}")
    return paths


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from cips_tf.convert.official import ConversionError

    try:
        convert_checkpoint(FLAGS.checkpoint, FLAGS.out, lr_mlp=FLAGS.lr_mlp, prefix=FLAGS.prefix,
                           d_prefix=FLAGS.d_prefix, size=FLAGS.size, trust=FLAGS.trust_checkpoint,
                           overwrite=FLAGS.overwrite)
    except ConversionError as e:
        raise app.UsageError(f"{FLAGS.checkpoint}: {e}") from e


def run():
    entry_point.run(main)


if __name__ == "__main__":
    run()
