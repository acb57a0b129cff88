"""Reading official CIPS checkpoints (saic-mdal/CIPS) safely: `.pt` files and `.npz` state_dicts.

A `.pt` checkpoint (as written by the official train.py) must hold `g_ema`; its `d` is returned
too when present. PyTorch is needed only for `.pt` files. A `.pt` file is a pickle, and unpickling
can run code: it is loaded with `torch.load(weights_only=True)`, which accepts tensors, plain
containers and the few extra types the official checkpoint holds (`argparse.Namespace`, its
`args`); a file that needs anything else is refused with one line naming the blocking type
(`UntrustedCheckpointError`), unless `trust=True` loads it fully. A `.npz` holds a state_dict as
arrays (official parameter names, optionally under a key prefix). `convert_checkpoint` turns
either into Keras models (`cips_tf.convert.official`) and saves them.
"""
import argparse
import pathlib
import pickle
import re

import numpy as np

from cips_tf.convert.official import discriminator_from_official, generator_from_official
from cips_tf.errors import UserError

OUTPUTS = ("generator.keras", "discriminator.keras")


class CheckpointError(UserError):
    """A checkpoint that cannot be converted (missing entries, no PyTorch for a .pt file)."""


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


def load_torch_checkpoint(path, trust=False):
    """`(g_ema state_dict, d state_dict or None)` of an official `.pt` checkpoint (PyTorch needed)."""
    try:
        import torch  # pylint: disable=g-import-not-at-top  (optional: the [torch] extra)
    except ImportError as e:
        raise CheckpointError(
            f"{path}: reading a PyTorch .pt checkpoint needs PyTorch, which is not installed "
            "(pip install 'cips-tf[torch]' or pip install torch); alternatively save the state_dict "
            "as .npz and pass that."
        ) from e
    ckpt = _torch_load(torch, path, trust)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(ckpt).__name__}")
    if "g_ema" not in ckpt:
        raise CheckpointError(f"{path}: no 'g_ema' entry (keys: {sorted(ckpt)[:10]})")
    return ckpt["g_ema"], ckpt.get("d")


def load_npz(path, prefix=None, d_prefix=None):
    """`(generator state_dict, discriminator state_dict or None)` of a `.npz` of official parameter
    names: the keys under `prefix` (all without one) and under `d_prefix` (none without one)."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    g_sd = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)} if prefix else arrays
    if not g_sd:
        raise CheckpointError(f"{path}: no keys start with --prefix={prefix!r}")
    d_sd = None
    if d_prefix:
        d_sd = {k[len(d_prefix):]: v for k, v in arrays.items() if k.startswith(d_prefix)}
        if not d_sd:
            raise CheckpointError(f"{path}: no keys start with --d_prefix={d_prefix!r}")
    return g_sd, d_sd


def describe_generator(g):
    """One line: the inferred architecture of a converted generator."""
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
    """One line: the inferred architecture of a converted discriminator."""
    return f"Discriminator: size={d.size}, widths={d.widths}, input_channels={d.input_channels}, " \
           f"params={d.count_params():,}"


def convert_checkpoint(checkpoint, out, lr_mlp=0.01, prefix=None, d_prefix=None, size=None, trust=False,
                       report=None):
    """Converts the checkpoint and saves `out/generator.keras` (and `out/discriminator.keras`);
    `report(line)` (e.g. `print`) receives each model's architecture and each written path.

    Returns `{"generator": path, ["discriminator": path]}`.
    """
    report = report or (lambda line: None)
    checkpoint = pathlib.Path(checkpoint)
    if checkpoint.suffix == ".npz":
        g_sd, d_sd = load_npz(checkpoint, prefix, d_prefix)
    else:
        g_sd, d_sd = load_torch_checkpoint(checkpoint, trust)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    g = generator_from_official(g_sd, size=size, lr_mlp=lr_mlp)
    report(describe_generator(g))
    paths = {"generator": out / "generator.keras"}
    g.save(paths["generator"])
    if d_sd is not None:
        d = discriminator_from_official(d_sd)
        report(describe_discriminator(d))
        paths["discriminator"] = out / "discriminator.keras"
        d.save(paths["discriminator"])
    for name, path in paths.items():
        report(f"wrote {name}: {path}")
    return paths
