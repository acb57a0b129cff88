"""`cips-convert`: an official CIPS PyTorch checkpoint (saic-mdal/CIPS) -> Keras `.keras` files.

    cips-convert --checkpoint=official.pt --out=DIR [--lr_mlp=0.01]
    cips-convert --checkpoint=params.npz --prefix=CIPSskip/param/ --out=DIR \
        [--d_prefix=Discriminator/param/]

A `.pt` checkpoint (as written by the official train.py) must hold `g_ema`; its `d` is converted
too when present. PyTorch is needed only for `.pt` files (`pip install cips-tf[torch]`). A `.npz`
holds a state_dict as arrays (official parameter names, optionally under a key prefix), so
conversion works and is testable without PyTorch.

Writes `DIR/generator.keras` (and `DIR/discriminator.keras`) and prints the inferred architecture.
The mapping network's lr multiplier is a run-time constant that a state_dict does not record:
pass `--lr_mlp` if the model was trained with a value other than the official 0.01.
"""
import pathlib

from absl import app, flags

from cips_tf.cli import errors as cli_errors

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Official checkpoint: a .pt file (needs torch) or a .npz state_dict.",
                    required=True)
flags.DEFINE_string("out", None, "Output directory for generator.keras (and discriminator.keras).", required=True)
flags.DEFINE_float("lr_mlp", 0.01, "lr multiplier of the mapping network the checkpoint was trained with.")
flags.DEFINE_string("prefix", None, ".npz only: key prefix of the generator's parameters (e.g. 'CIPSskip/param/'); "
                    "default: every key.")
flags.DEFINE_string("d_prefix", None, ".npz only: key prefix of the discriminator's parameters; default: none is "
                    "converted.")
flags.DEFINE_integer("size", None, "Training resolution; needed only for models without a coordinate embedding.")


def _load_torch_checkpoint(path):
    try:
        import torch
    except ImportError as e:
        raise app.UsageError(
            f"{path}: reading a PyTorch .pt checkpoint needs PyTorch, which is not installed "
            "(pip install 'cips-tf[torch]' or pip install torch); alternatively save the state_dict "
            "as .npz and pass that."
        ) from e
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # older torch, or pickled non-tensor objects in the checkpoint
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
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


def convert_checkpoint(checkpoint, out, lr_mlp=0.01, prefix=None, d_prefix=None, size=None):
    """Converts and writes the models; returns `{"generator": path, ["discriminator": path]}`."""
    from cips_tf.convert.official import discriminator_from_official, generator_from_official

    checkpoint = pathlib.Path(checkpoint)
    if not checkpoint.exists():
        raise app.UsageError(f"--checkpoint={checkpoint}: no such file")
    if checkpoint.suffix == ".npz":
        g_sd, d_sd = _load_npz(checkpoint, prefix, d_prefix)
    else:
        g_sd, d_sd = _load_torch_checkpoint(checkpoint)
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
                           d_prefix=FLAGS.d_prefix, size=FLAGS.size)
    except ConversionError as e:
        raise app.UsageError(f"{FLAGS.checkpoint}: {e}") from e


def run():
    cli_errors.run(main)


if __name__ == "__main__":
    run()
