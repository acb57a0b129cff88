"""Official PyTorch CIPS checkpoints (saic-mdal/CIPS) -> cips_tf Keras models.

A `state_dict` here maps official parameter names (e.g. "linears.0.conv.weight") to numpy arrays:
the `g_ema` / `d` entries of an official `.pt` checkpoint (converted with `.numpy()`), or the
`G/param/...` entries of the golden test vectors. The architecture is inferred from the names and
shapes alone. The official layers keep raw parameters and apply their equalized-learning-rate
scales at run time, as cips_tf's layers do, so weights are copied (transposed to NHWC / [in, out]
layouts), never rescaled.
"""
import re

import numpy as np

from cips_tf.layers.equalized_conv2d import blur_kernel_2d
from cips_tf.models.discriminator import Discriminator
from cips_tf.models.generator import CIPSGenerator


class ConversionError(ValueError):
    """A state_dict that does not describe an official CIPS generator or discriminator."""


def _np(value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _strip_prefix(state_dict, prefix):
    if prefix is None:
        return {k: _np(v) for k, v in state_dict.items()}
    return {k[len(prefix):]: _np(v) for k, v in state_dict.items() if k.startswith(prefix)}


class _Assigner:
    """Copies arrays into Keras variables, checking shapes and that every parameter is used."""

    def __init__(self, state_dict, what):
        self.state_dict = state_dict
        self.what = what
        self.used = set()

    def take(self, name):
        if name not in self.state_dict:
            raise ConversionError(f"{self.what}: parameter {name!r} missing from the state_dict")
        self.used.add(name)
        return self.state_dict[name]

    def assign(self, variable, value, name):
        value = np.asarray(value, dtype=np.float32)
        if tuple(variable.shape) == () and value.size == 1:
            value = value.reshape(())
        if tuple(value.shape) != tuple(variable.shape):
            raise ConversionError(
                f"{self.what}: {name!r} has shape {tuple(value.shape)}, the Keras variable "
                f"{variable.path} wants {tuple(variable.shape)}"
            )
        variable.assign(value)

    def check_all_used(self, ignore=()):
        unused = sorted(k for k in self.state_dict if k not in self.used and not any(k.endswith(s) for s in ignore))
        if unused:
            raise ConversionError(f"{self.what}: parameters not mapped to any layer: {unused[:10]}")


# ---------------------------------------------------------------------------------------------
# Generator


def _infer_generator_config(sd, size, lr_mlp):
    keys = set(sd)
    if "linears.1.conv1.conv.weight" in keys:
        architecture = "res"
    elif "to_rgbs.0.conv.weight" in keys:
        architecture = "skips"
    elif "conv1.conv.weight" in keys and "to_rgb_last.conv.weight" in keys:
        architecture = "base"
    else:
        raise ConversionError(
            "generator: cannot tell the architecture (expected 'to_rgbs.0.*' for CIPSskip or "
            "'linears.1.conv1.*' for CIPSres)"
        )
    use_fourier = "lff.ffm.conv.weight" in keys
    use_embedding = "emb.input" in keys
    if use_fourier:
        hidden_size = sd["lff.ffm.conv.weight"].shape[0]
    elif use_embedding:
        hidden_size = sd["emb.input"].shape[1]
    else:
        raise ConversionError("generator: neither Fourier features ('lff.*') nor embeddings ('emb.input') found")
    if use_embedding:
        emb = sd["emb.input"]
        if emb.shape[2] != emb.shape[3]:
            raise ConversionError(f"generator: 'emb.input' must be square, got {emb.shape}")
        if size is not None and size != emb.shape[2]:
            raise ConversionError(f"generator: size={size} given but 'emb.input' is {emb.shape[2]} wide")
        size = emb.shape[2]
    elif size is None:
        raise ConversionError("generator: no coordinate embedding to read the size from; pass size=")
    mlp = sorted(int(m.group(1)) for k in keys if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
    if not mlp or mlp != list(range(1, len(mlp) + 1)):
        raise ConversionError(f"generator: mapping layers 'style.<i>.weight' must be numbered 1..n, got {mlp}")
    style_dim = sd["style.1.weight"].shape[1]
    if architecture == "res":
        first = "linears.0"
        n_blocks = len({int(m.group(1)) for k in keys if (m := re.match(r"linears\.(\d+)\.conv1\.", k))})
        widths = [sd[f"linears.{i + 1}.conv1.conv.weight"].shape[1] for i in range(n_blocks)]
    else:
        first = "conv1"
        n_linear = len({int(m.group(1)) for k in keys if (m := re.match(r"linears\.(\d+)\.conv\.weight", k))})
        if n_linear % 2:
            raise ConversionError(f"generator: expected an even number of 'linears.<i>', got {n_linear}")
        widths = [sd[f"linears.{2 * i}.conv.weight"].shape[1] for i in range(n_linear // 2)]
    first_width = sd[f"{first}.conv.weight"].shape[1]
    if not widths or first_width != widths[0]:
        raise ConversionError(f"generator: first layer width {first_width} differs from block widths {widths}")
    activation = "lrelu" if f"{first}.activate.bias" in keys else "sin"
    return dict(
        size=int(size),
        hidden_size=int(hidden_size),
        style_dim=int(style_dim),
        n_mlp=len(mlp),
        lr_mlp=lr_mlp,
        widths=[int(w) for w in widths],
        architecture=architecture,
        use_fourier=use_fourier,
        use_embedding=use_embedding,
        activation=activation,
    )


def _assign_modulated(a, layer, prefix, to_rgb=False):
    w = a.take(f"{prefix}.conv.weight")  # [1, out, in, 1, 1]
    a.assign(layer.kernel, w[0, :, :, 0, 0].T, f"{prefix}.conv.weight")
    a.assign(layer.modulation.kernel, a.take(f"{prefix}.conv.modulation.weight").T, f"{prefix}.conv.modulation.weight")
    a.assign(layer.modulation.bias, a.take(f"{prefix}.conv.modulation.bias"), f"{prefix}.conv.modulation.bias")
    if to_rgb:
        a.assign(layer.bias, a.take(f"{prefix}.bias").reshape(-1), f"{prefix}.bias")
        return
    a.assign(layer.noise_strength, a.take(f"{prefix}.noise.weight").reshape(()), f"{prefix}.noise.weight")
    bias_name = f"{prefix}.activate.bias" if layer.activation == "lrelu" else f"{prefix}.bias"
    a.assign(layer.bias, a.take(bias_name).reshape(-1), bias_name)


def generator_from_official(state_dict, prefix=None, size=None, lr_mlp=0.01, dtype=None):
    """Builds a `CIPSGenerator` equal to an official CIPSskip / CIPSres with these parameters.

    Args:
        state_dict: official parameter name -> array (numpy or torch).
        prefix: keep only names starting with it and strip it (e.g. "CIPSskip/param/").
        size: needed only for models without coordinate embeddings.
        lr_mlp: the mapping network's lr multiplier (a run-time constant, not in the state_dict).
        dtype: optional Keras dtype policy for the new model.
    """
    sd = _strip_prefix(state_dict, prefix)
    config = _infer_generator_config(sd, size, lr_mlp)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    g = CIPSGenerator(**config, **kwargs)
    a = _Assigner(sd, "generator")
    if g.fourier is not None:
        a.assign(g.fourier.kernel, a.take("lff.ffm.conv.weight")[:, :, 0, 0].T, "lff.ffm.conv.weight")
        a.assign(g.fourier.bias, a.take("lff.ffm.conv.bias"), "lff.ffm.conv.bias")
    if g.embedding is not None:
        a.assign(g.embedding.table, a.take("emb.input")[0].transpose(1, 2, 0), "emb.input")
    for i, layer in enumerate(g.mapping.dense_layers):
        a.assign(layer.kernel, a.take(f"style.{i + 1}.weight").T, f"style.{i + 1}.weight")
        a.assign(layer.bias, a.take(f"style.{i + 1}.bias"), f"style.{i + 1}.bias")
    if g.architecture == "res":
        _assign_modulated(a, g.conv1, "linears.0")
        for i, block in enumerate(g.blocks):
            p = f"linears.{i + 1}"
            _assign_modulated(a, block.conv1, f"{p}.conv1")
            _assign_modulated(a, block.conv2, f"{p}.conv2")
            if block.skip is not None:
                a.assign(block.skip.kernel, a.take(f"{p}.skip.0.weight")[:, :, 0, 0].T, f"{p}.skip.0.weight")
    else:
        _assign_modulated(a, g.conv1, "conv1")
        for i, block in enumerate(g.blocks):
            _assign_modulated(a, block.conv1, f"linears.{2 * i}")
            _assign_modulated(a, block.conv2, f"linears.{2 * i + 1}")
            if block.rgb is not None:
                _assign_modulated(a, block.rgb, f"to_rgbs.{i}", to_rgb=True)
    if g.to_rgb_last is not None:
        _assign_modulated(a, g.to_rgb_last, "to_rgb_last", to_rgb=True)
    a.check_all_used()
    return g


# ---------------------------------------------------------------------------------------------
# Discriminator


def _conv_kernel(w):
    """[out, in, kh, kw] -> [kh, kw, in, out]."""
    return w.transpose(2, 3, 1, 0)


def discriminator_from_official(state_dict, prefix=None, dtype=None):
    """Builds a `Discriminator` equal to an official StyleGAN2/CIPS `Discriminator` with these parameters."""
    sd = _strip_prefix(state_dict, prefix)
    if "convs.0.0.weight" not in sd or "final_linear.1.weight" not in sd:
        raise ConversionError("discriminator: expected 'convs.0.0.weight' and 'final_linear.1.weight'")
    n_blocks = len({int(m.group(1)) for k in sd if (m := re.match(r"convs\.(\d+)\.conv1\.", k))})
    input_channels = sd["convs.0.0.weight"].shape[1]
    widths = [sd["convs.0.0.weight"].shape[0]] + [sd[f"convs.{i + 1}.conv2.1.weight"].shape[0] for i in range(n_blocks)]
    size = 2 ** (n_blocks + 2)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    d = Discriminator(size=size, widths=widths, input_channels=input_channels, **kwargs)
    a = _Assigner(sd, "discriminator")

    def conv(layer, prefix, index, bias_index=None):
        a.assign(layer.kernel, _conv_kernel(a.take(f"{prefix}.{index}.weight")), f"{prefix}.{index}.weight")
        if bias_index is not None:
            a.assign(layer.bias, a.take(f"{prefix}.{bias_index}.bias"), f"{prefix}.{bias_index}.bias")

    conv(d.from_rgb, "convs.0", 0, 1)
    for i, block in enumerate(d.blocks):
        p = f"convs.{i + 1}"
        conv(block.conv1, f"{p}.conv1", 0, 1)
        conv(block.conv2, f"{p}.conv2", 1, 2)
        conv(block.skip, f"{p}.skip", 1)
    conv(d.final_conv, "final_conv", 0, 1)
    for layer, name in ((d.final_dense, "final_linear.0"), (d.final_out, "final_linear.1")):
        a.assign(layer.kernel, a.take(f"{name}.weight").T, f"{name}.weight")
        a.assign(layer.bias, a.take(f"{name}.bias"), f"{name}.bias")
    # The blur FIR kernels are fixed buffers; check they are the [1, 3, 3, 1] filter cips_tf uses.
    for name in [k for k in sd if k.endswith(".kernel")]:
        a.used.add(name)
        if not np.allclose(sd[name], blur_kernel_2d(), atol=1e-7):
            raise ConversionError(f"discriminator: blur buffer {name!r} is not the [1, 3, 3, 1] filter")
    a.check_all_used()
    return d
