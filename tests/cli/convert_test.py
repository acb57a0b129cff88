"""End-to-end tests of `cips-convert` (cips_tf/cli/convert.py) on .npz state_dicts.

The CLI runs in a subprocess: absl flags are process-global, and other CLI modules define flags
with the same names.
"""
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from cips_tf.convert.official import discriminator_from_official, generator_from_official
import extras

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = REPO_ROOT / "tests" / "data_files" / "cips_official_small.npz"


def run_cli(*args, extra_path=None):
    path = [str(p) for p in (extra_path, REPO_ROOT) if p] + [os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONPATH=os.pathsep.join(path))
    return subprocess.run([sys.executable, "-m", "cips_tf.cli.convert", *args], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=900)


def _nhwc(a):
    return np.asarray(a).transpose(0, 2, 3, 1)


@pytest.mark.slow  # the fast tier converts an official .pt through the CLI; the npz path is tests/convert's
def test_convert_cli_npz_with_prefixes_writes_equal_keras_models(tmp_path, golden):
    result = run_cli(f"--checkpoint={GOLDEN}", "--prefix=CIPSres/param/", "--d_prefix=Discriminator/param/",
                     f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "architecture=res" in result.stdout and "size=8" in result.stdout and "widths=[32, 32, 32]" in result.stdout
    assert "Discriminator: size=16" in result.stdout

    g = keras.saving.load_model(tmp_path / "generator.keras")
    want_g = generator_from_official(golden, prefix="CIPSres/param/")
    inputs = {"z": golden["CIPSres/z"], "coords": _nhwc(golden["CIPSres/coords_random"])}
    got = np.asarray(g(inputs, training=False, randomize_noise=False))
    np.testing.assert_allclose(got, np.asarray(want_g(inputs, training=False, randomize_noise=False)), atol=1e-6)
    np.testing.assert_allclose(got, _nhwc(golden["CIPSres/rgb_eval_random"]), atol=1e-5)

    d = keras.saving.load_model(tmp_path / "discriminator.keras")
    want_d = discriminator_from_official(golden, prefix="Discriminator/param/")
    x = _nhwc(golden["Discriminator/x_batch4"])
    np.testing.assert_allclose(np.asarray(d(x)), np.asarray(want_d(x)), atol=1e-6)


def test_convert_cli_plain_npz_state_dict_writes_generator_only(tmp_path, golden):
    sd_path = tmp_path / "g_ema.npz"
    prefix = "CIPSskip/param/"
    np.savez(sd_path, **{k[len(prefix):]: v for k, v in golden.items() if k.startswith(prefix)})
    result = run_cli(f"--checkpoint={sd_path}", f"--out={tmp_path / 'out'}", "--lr_mlp=0.01")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "architecture=skips" in result.stdout
    assert not (tmp_path / "out" / "discriminator.keras").exists()
    g = keras.saving.load_model(tmp_path / "out" / "generator.keras")
    out = g({"z": golden["CIPSskip/z"], "coords": _nhwc(golden["CIPSskip/coords_native"])}, training=True,
            randomize_noise=False, direct_embedding=True)
    np.testing.assert_allclose(np.asarray(out), _nhwc(golden["CIPSskip/rgb_train_native"]), atol=1e-5)


def test_convert_cli_wrong_prefix_fails_with_message(tmp_path):
    result = run_cli(f"--checkpoint={GOLDEN}", "--prefix=nope/", f"--out={tmp_path}")
    assert result.returncode != 0 and "nope/" in result.stderr


def test_convert_cli_unmapped_parameter_fails_naming_it(tmp_path, golden):
    prefix = "CIPSskip/param/"
    sd = {k[len(prefix):]: v for k, v in golden.items() if k.startswith(prefix)}
    sd["linears.9.stray.weight"] = np.zeros(2, np.float32)
    np.savez(tmp_path / "bad.npz", **sd)
    result = run_cli(f"--checkpoint={tmp_path / 'bad.npz'}", f"--out={tmp_path / 'out'}")
    assert result.returncode != 0 and "linears.9.stray.weight" in result.stderr


def test_convert_cli_pt_without_torch_fails_with_clear_message(tmp_path):
    # A shadow `torch` package that fails to import stands in for a machine without PyTorch.
    (tmp_path / "no_torch" / "torch").mkdir(parents=True)
    (tmp_path / "no_torch" / "torch" / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    (tmp_path / "official.pt").write_bytes(b"not really a checkpoint")
    result = run_cli(f"--checkpoint={tmp_path / 'official.pt'}", f"--out={tmp_path / 'out'}",
                     extra_path=tmp_path / "no_torch")
    assert result.returncode != 0 and "needs PyTorch" in result.stderr


def test_convert_cli_official_pt_checkpoint_with_torch_equals_golden(tmp_path, golden):
    torch = extras.require("torch")  # scripts/test.sh installs torch==2.13.0 (CPU) for this test
    # An official train.py checkpoint: {"g": ..., "d": ..., "g_ema": ..., "g_optim": ..., "d_optim": ...}.
    def state_dict(prefix):
        return {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in golden.items() if k.startswith(prefix)}

    ckpt = {"g_ema": state_dict("CIPSskip/param/"), "d": state_dict("Discriminator/param/"), "args": None}
    torch.save(ckpt, tmp_path / "official.pt")
    result = run_cli(f"--checkpoint={tmp_path / 'official.pt'}", f"--out={tmp_path / 'out'}")
    assert result.returncode == 0, result.stderr[-3000:]
    g = keras.saving.load_model(tmp_path / "out" / "generator.keras")
    inputs = {"z": golden["CIPSskip/z"], "coords": _nhwc(golden["CIPSskip/coords_dense"])}
    np.testing.assert_allclose(np.asarray(g(inputs, training=False, randomize_noise=False)),
                               _nhwc(golden["CIPSskip/rgb_eval_dense"]), atol=1e-5)
    d = keras.saving.load_model(tmp_path / "out" / "discriminator.keras")
    np.testing.assert_allclose(np.asarray(d(_nhwc(golden["Discriminator/x_batch4"]))),
                               golden["Discriminator/logits_batch4"], atol=1e-5)


class _WritesFile:
    """Unpickling this object calls `open(path, "w")`: it would create `path` (the harmless stand-in
    for any code a crafted checkpoint could run)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def write_code_running_pt(path, marker):
    """A `.pt` file (torch's legacy pickle format, no torch needed to write it) whose full unpickling
    creates `marker`."""
    import pickle

    pathlib.Path(path).write_bytes(pickle.dumps({"g_ema": _WritesFile(marker)}, protocol=2))


def test_convert_cli_code_running_pt_is_refused_without_trust_checkpoint(tmp_path):
    extras.require("torch")
    marker = tmp_path / "pwned.txt"
    write_code_running_pt(tmp_path / "evil.pt", marker)
    result = run_cli(f"--checkpoint={tmp_path / 'evil.pt'}", f"--out={tmp_path / 'out'}")
    assert result.returncode != 0
    assert not marker.exists()  # the pickle's code never ran
    last = result.stderr.strip().splitlines()[-1]
    assert "io.open" in last and "--trust_checkpoint" in last and "evil.pt" in last, result.stderr[-2000:]
    assert not (tmp_path / "out" / "generator.keras").exists()


def test_convert_cli_trust_checkpoint_unpickles_fully(tmp_path):
    extras.require("torch")
    marker = tmp_path / "ran.txt"
    write_code_running_pt(tmp_path / "trusted.pt", marker)
    result = run_cli(f"--checkpoint={tmp_path / 'trusted.pt'}", f"--out={tmp_path / 'out'}", "--trust_checkpoint")
    assert marker.exists()  # the user said so: full unpickling (then the content is rejected)
    assert result.returncode != 0


def test_convert_cli_official_pt_with_argparse_namespace_loads_safely(tmp_path, golden):
    torch = extras.require("torch")
    import argparse

    prefix = "CIPSskip/param/"
    g_ema = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in golden.items() if k.startswith(prefix)}
    # The official train.py saves its argparse.Namespace under "args".
    torch.save({"g_ema": g_ema, "args": argparse.Namespace(size=8, lr=0.002)}, tmp_path / "official.pt")
    result = run_cli(f"--checkpoint={tmp_path / 'official.pt'}", f"--out={tmp_path / 'out'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "generator.keras").exists()


@pytest.mark.slow  # one CLI's --overwrite refusal (generate_test) stays in the fast tier
def test_convert_cli_existing_out_needs_overwrite(tmp_path, golden):
    sd_path = tmp_path / "g_ema.npz"
    prefix = "CIPSskip/param/"
    np.savez(sd_path, **{k[len(prefix):]: v for k, v in golden.items() if k.startswith(prefix)})
    out = tmp_path / "out"
    out.mkdir()
    (out / "generator.keras").write_text("mine")
    result = run_cli(f"--checkpoint={sd_path}", f"--out={out}")
    assert result.returncode != 0 and "--overwrite" in result.stderr.strip().splitlines()[-1]
    assert (out / "generator.keras").read_text() == "mine"
    result = run_cli(f"--checkpoint={sd_path}", f"--out={out}", "--overwrite")
    assert result.returncode == 0, result.stderr[-3000:]
    keras.saving.load_model(out / "generator.keras")
