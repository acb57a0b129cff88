"""End-to-end tests of `cips-generate` (cips_tf/cli/generate.py) on a tiny saved workdir.

The CLI runs in a subprocess: absl flags are process-global, and other CLI modules define flags
with the same names.
"""
import json

import numpy as np
import pytest

from cips_tf.models.generator import CIPSGenerator
from cips_tf.loading import load_generator
import tiny_models
from tiny_models import TINY, make_workdir, png


def run_cli(*args):
    return tiny_models.run_cli("cips_tf.cli.generate", *args)


@pytest.fixture(scope="module")
def tiny_model():
    return CIPSGenerator(size=16, **TINY)


@pytest.fixture(scope="module")
def tiny_workdir(tiny_model, tmp_path_factory):
    return make_workdir(tmp_path_factory.mktemp("workdir"), tiny_model)


@pytest.fixture(scope="module")
def all_tasks_out(tiny_workdir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    refs = tmp_path_factory.mktemp("refs") / "refs.npy"
    np.save(refs, np.random.RandomState(0).randint(0, 256, (30, 28, 28), dtype=np.uint8))
    result = run_cli(
        f"--model={tiny_workdir}", f"--out={out}", "--task=sample,interpolate,style_mix,super_resolution,foveated,"
        "panorama,blend,encodings,neighbours,compare", "--seeds=0-1", "--psi=0.7", "--w_avg_samples=64", "--steps=3",
        "--factor=2", "--fractions=0.25,1.0", "--panorama_width=40", "--k=3", f"--dataset={refs}",
        "--chunk_pixels=1000",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_generate_writes_every_task_output(all_tasks_out):
    out = all_tasks_out
    expected = {
        "sample": ["samples.png", "seed0000.png", "seed0001.png", "w.npy"],
        "interpolate": ["frame0000.png", "frame0002.png", "strip.png", "w.npy"],
        "style_mix": ["style_mix.png", "style_mix.json"],
        "super_resolution": ["seed0000_native.png", "seed0000_cips_x2.png", "seed0000_lanczos_x2.png"],
        "foveated": ["foveated.png", "mask_p025.png", "mask_p025.npy", "seed0001_p100.png"],
        "panorama": ["seed0000.png", "seed0000_wrapped.png", "panoramas.png"],
        "blend": ["mask.png", "seed0000_a.png", "seed0000_blend.png", "blend.png"],
        "encodings": ["zeroed.png", "seed0000_no_both.png", "spectrum_fourier.png", "pca_embedding_table.png"],
        "neighbours": ["neighbours.png", "indices.npy", "neighbours.json"],
        "compare": ["samples.png", "real.png", "samples_vs_real.png"],
    }
    for task, files in expected.items():
        for name in files:
            assert (out / task / name).exists(), f"{task}/{name} missing"
        assert json.loads((out / task / "flags.json").read_text())["task"] == task
    assert len(list(out.glob("w_avg-*.npy"))) == 1  # the workdir has no w_avg: estimated, stored under its key


def test_generate_outputs_have_the_documented_shapes(all_tasks_out):
    out = all_tasks_out
    assert png(out / "sample" / "seed0000.png").shape == (16, 16, 3)
    assert png(out / "super_resolution" / "seed0000_cips_x2.png").shape == (32, 32, 3)
    assert png(out / "panorama" / "seed0000.png").shape == (16, 40, 3)
    assert png(out / "style_mix" / "style_mix.png").shape == (2 * 16, 5 * 16, 3)  # A, B, 3 mixes
    assert np.load(out / "neighbours" / "indices.npy").shape == (2, 3)
    assert json.loads((out / "neighbours" / "neighbours.json").read_text())["features"] == "pixels"


def test_generate_invariants_hold_in_written_files(all_tasks_out):
    out = all_tasks_out
    # interpolation endpoints are the samples; full-coverage foveation is the sample; k-th mix column...
    np.testing.assert_array_equal(png(out / "interpolate" / "frame0000.png"), png(out / "sample" / "seed0000.png"))
    np.testing.assert_array_equal(png(out / "interpolate" / "frame0002.png"), png(out / "sample" / "seed0001.png"))
    np.testing.assert_array_equal(png(out / "foveated" / "seed0001_p100.png"), png(out / "sample" / "seed0001.png"))
    np.testing.assert_array_equal(png(out / "super_resolution" / "seed0000_native.png"),
                                  png(out / "sample" / "seed0000.png"))
    assert np.load(out / "foveated" / "mask_p025.npy").sum() == 64


def test_generate_is_deterministic_and_reads_cylindrical_runs(tiny_model, all_tasks_out, tmp_path):
    cyl = make_workdir(tmp_path / "cyl", tiny_model, mode="cylindrical")  # same weights as tiny_workdir
    restored = load_generator(cyl).generator
    # Every weight round-trips through the workdir checkpoint (list-held layers included).
    for a, b in zip(tiny_model.trainable_weights, restored.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    out = tmp_path / "out"
    result = run_cli(f"--model={cyl}", f"--out={out}", "--task=sample,blend", "--seeds=0-1", "--psi=0.7",
                     "--w_avg_samples=64", "--panorama_width=40")
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(png(out / "sample" / "samples.png"), png(all_tasks_out / "sample" / "samples.png"))
    assert png(out / "blend" / "seed0000_blend.png").shape == (16, 40, 3)  # blended on the panorama grid


def test_generate_unknown_task_fails_with_usage(tiny_workdir, tmp_path):
    result = run_cli(f"--model={tiny_workdir}", f"--out={tmp_path}", "--task=paint")
    assert result.returncode != 0
    assert "unknown task" in result.stderr


def test_generate_task_functions_run_on_plain_options(tmp_path):
    from cips_tf.synthesis import tasks  # in-process: the tasks read no flags, only their options
    from cips_tf.loading import LoadedGenerator
    from cips_tf import latents

    g = CIPSGenerator(size=16, **TINY)
    ctx = tasks.Context(LoadedGenerator(g, None, None, "memory"), tmp_path, tasks.options(seeds="3,5", ncols=2))
    tasks.task_sample(ctx)
    np.testing.assert_allclose(np.load(tmp_path / "w.npy"), latents.styles_from_seeds(g, [3, 5]), atol=1e-6)
    assert np.load(tmp_path / "seeds.npy").tolist() == [3, 5]
    assert png(tmp_path / "seed0005.png").shape == (16, 16, 3)
    with pytest.raises(ValueError, match="unknown option"):
        tasks.options(colour="red")


def test_generate_compare_puts_the_upscaled_samples_beside_real_test_images(all_tasks_out, tiny_workdir):
    from cips_tf import latents, rendering, showcase
    from cips_tf.data.fashion_mnist import load_fashion_mnist

    out = all_tasks_out / "compare"
    samples = png(out / "samples.png")
    assert samples.shape == (16 * 4, 2 * 16 * 4, 3)  # 2 seeds in one row, 16 px, upscaled 4x
    np.testing.assert_array_equal(samples, showcase.upscale(png(all_tasks_out / "sample" / "samples.png"), 4))
    real = png(out / "real.png")
    first = load_fashion_mnist("test")[0][:2]  # the workdir's data: the Fashion-MNIST test split, in order
    resized = rendering.to_uint8(next(__import__("cips_tf.data", fromlist=["x"]).iterate_numpy(
        load_generator(tiny_workdir).config.data, resolution=16, batch_size=2, training=False, num_batches=1)))
    np.testing.assert_array_equal(real, showcase.upscale(latents.tile_images(resized), 4))
    assert first.shape == (2, 28, 28)
    both = png(out / "samples_vs_real.png")
    assert both.shape[1] > samples.shape[1] + real.shape[1] and both.shape[0] > samples.shape[0]


def test_generate_existing_task_outputs_need_overwrite(tiny_workdir, tmp_path):
    out = tmp_path / "out"
    (out / "sample").mkdir(parents=True)
    (out / "sample" / "samples.png").write_bytes(b"mine")
    result = run_cli(f"--model={tiny_workdir}", f"--out={out}", "--task=sample", "--seeds=0-1")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "already holds" in last and "cips-generate --overwrite" in last
    assert (out / "sample" / "samples.png").read_bytes() == b"mine"
    result = run_cli(f"--model={tiny_workdir}", f"--out={out}", "--task=sample", "--seeds=0-1", "--overwrite")
    assert result.returncode == 0, result.stderr[-3000:]
    assert png(out / "sample" / "samples.png").shape[-1] == 3


def test_generate_w_avg_cache_is_keyed_by_the_model_and_never_follows_a_symlink(tmp_path):
    import os

    from cips_tf.synthesis import tasks  # in-process: the tasks read no flags, only their options
    from cips_tf.loading import LoadedGenerator

    models = [CIPSGenerator(size=16, **TINY) for _ in range(2)]  # different random weights
    opts = tasks.options(psi=0.7, w_avg_samples=64)
    w_avgs = [tasks.Context(LoadedGenerator(g, None, None, "memory"), tmp_path, opts).w_avg for g in models]
    assert not np.allclose(w_avgs[0], w_avgs[1])  # the second model did not reuse the first one's cache
    cached = sorted(tmp_path.glob("w_avg-*.npy"))
    assert len(cached) == 2 and not (tmp_path / "w_avg.npy").exists()
    again = tasks.Context(LoadedGenerator(models[0], None, None, "memory"), tmp_path, opts).w_avg
    np.testing.assert_array_equal(again, w_avgs[0])  # the same model reuses its own
    # A cache replaced by a symlink is refused, its target never read.
    os.unlink(cached[0])
    (tmp_path / "elsewhere.npy").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere.npy", cached[0])
    refused = 0
    for g in models:
        try:
            tasks.Context(LoadedGenerator(g, None, None, "memory"), tmp_path, opts).w_avg
        except FileExistsError as e:
            assert "symlink" in str(e)
            refused += 1
    assert refused == 1 and (tmp_path / "elsewhere.npy").read_bytes() == b"x"
