"""Every command and Python block in README.md and docs/*.md runs.

Each shell command (continuation lines joined, comments dropped) and each Python block is looked
up in `HANDLING` by its key (`<doc>: <first line>`):

- `Run(...)`: executed as written, or with the listed replacements when the text says so or when
  the documented size cannot run in a test (each replacement must apply, so the test breaks when
  the text changes, and each states why it is there);
- `Skip(reason)`: cannot run here (a docker engine, a TF Serving server, network downloads);
- `Text(reason)`: not a command (a directory listing, a config file, a diagram).

A block that `HANDLING` does not know fails `test_every_documented_block_is_handled`, so a new
README example is either executed or skipped by name with its reason. A block read as text that
holds a project command (a console script of setup.cfg) fails, and so does a `Run` entry whose block
is not read as a command: nothing documented is silently left unrun.

Only `test_documented_block_runs` is slow (it runs the commands); the checks of the handling table
run in the fast tier, so a docs edit learns in seconds whether its blocks are known.
"""
import configparser
import dataclasses
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import extras
from doc_blocks import REPO_ROOT, all_blocks
from tiny_models import assert_labelled_class_grid, png

VENV_BIN = pathlib.Path(sys.executable).parent


@dataclasses.dataclass(frozen=True)
class Run:
    replace: tuple = ()  # ((old, new, why), ...); each `old` must occur in the command
    check: object = None  # callable(cwd, ctx) -> None with extra assertions on the outputs


@dataclasses.dataclass(frozen=True)
class Skip:
    reason: str


@dataclasses.dataclass(frozen=True)
class Text:
    reason: str


TINY_TRAIN = " --config.num_train_steps=4 --config.training.checkpoint_every=2 --config.training.sample_every=2"
SMALL = "the documented size takes minutes to hours on a CPU; the test runs it small"


def _exists(*paths):
    def check(cwd, ctx):
        for p in paths:
            full = cwd / p.format_map(ctx)
            assert full.exists(), f"{full} was not written"

    return check


def _check_generator_block(cwd, ctx):
    rgb, hi = np.asarray(ctx["namespace"]["rgb"]), np.asarray(ctx["namespace"]["hi"])
    assert rgb.shape == (4, 16, 16, 3) and hi.shape == (4, 64, 64, 3)
    # The denser grid renders the same image. The grids (linspace(-1, 1, 16) and (.., 64)) share
    # the points 5i/15 = 21j/63: pixels 0, 5, 10, 15 of the native grid are 0, 21, 42, 63 of the dense one.
    np.testing.assert_allclose(hi[:, ::21, ::21], rgb[:, ::5, ::5], atol=1e-5)


def _check_convert_block(cwd, ctx):
    g = ctx["namespace"]["g"]
    golden = np.load(REPO_ROOT / "tests" / "data_files" / "cips_official_small.npz")
    z, coords = golden["CIPSskip/z"], np.transpose(golden["CIPSskip/coords_dense"], (0, 2, 3, 1))
    out = np.asarray(g({"z": z, "coords": coords}, training=False, randomize_noise=False))
    expected = np.transpose(golden["CIPSskip/rgb_eval_dense"], (0, 2, 3, 1))
    np.testing.assert_allclose(out, expected, atol=1e-5)  # the golden tolerance


def _check_runtime_block(cwd, ctx):
    """The ONNX render equals the Keras model's (the export's tolerance, 1e-4)."""
    from cips_tf.coords import make_grid
    from cips_tf.latents import styles
    from cips_tf.loading import load_generator

    ns = ctx["namespace"]
    loaded = load_generator(cwd / "serving" / "cips" / "1")
    w = styles(loaded.generator, ns["z"], np.full([4], 0.7, np.float32), loaded.w_avg)
    expected = loaded.generator.synthesis(w, make_grid(4, loaded.generator.size), randomize_noise=False)
    np.testing.assert_allclose(ns["rgb"], np.asarray(expected), atol=1e-4)
    assert ns["images"].dtype == np.uint8 and ns["images"].shape == (4, loaded.generator.size, loaded.generator.size, 3)


def _check_runtime_generate(cwd, ctx):
    """The ONNX-rendered samples are the Keras model's (the SavedModel's, same export) within one
    uint8 level (tests/cli/generate_runtime_test.py's tolerance)."""
    from PIL import Image

    from cips_tf.loading import load_generator
    from cips_tf import latents, rendering

    flags = json.loads((cwd / "out" / "sample" / "flags.json").read_text())
    assert flags["flags"]["runtime"] == "onnx" and "/onnx/1" in flags["source"]
    loaded = load_generator(cwd / "serving" / "cips" / "1")
    w = latents.styles_from_seeds(loaded.generator, range(8), 0.7, loaded.w_avg)
    expected = rendering.to_uint8(rendering.render(loaded.generator, w)).astype(int)
    for seed in range(8):
        got = np.asarray(Image.open(cwd / "out" / "sample" / f"seed{seed:04d}.png")).astype(int)
        diff = np.abs(got - expected[seed])
        assert diff.max() <= 1 and (diff > 0).mean() <= 0.005, (seed, diff.max(), (diff > 0).mean())
    size = loaded.generator.size
    assert np.asarray(Image.open(cwd / "out" / "super_resolution" / "seed0007_cips_x4.png")).shape == (4 * size,
                                                                                                      4 * size, 3)


def _check_conditional_run(cwd, ctx):
    """The class names recorded, and the sample grid of the 32 px model: one labelled row per class."""
    from cips_tf.data.labels import FASHION_MNIST_CLASSES

    run = cwd / "runs" / "quickstart_conditional"
    assert json.loads((run / "class_names.json").read_text()) == list(FASHION_MNIST_CLASSES)
    assert_labelled_class_grid(png(run / "samples" / "step_00000004.png"), 10, 32, 64 // 32)


def _check_wide_records(cwd, ctx):
    from cips_tf.data import tfrecord  # pylint: disable=import-outside-toplevel

    report = json.loads((cwd / "wide" / "dataset_report.json").read_text())
    assert report["options"]["aspect"] == "2:1" and set(report["sizes"]) == {"32x64"}, report["sizes"]
    assert tfrecord.list_tfrecord_files(str(cwd / "wide"))


def _check_wide_sample(cwd, ctx):
    from PIL import Image  # pylint: disable=import-outside-toplevel

    width, height = Image.open(cwd / "out" / "sample" / "seed0000.png").size
    assert width == 3 * height, (width, height)


HANDLING = {
    # ---------------------------------------------------------------- README.md
    "README.md: bash scripts/quickstart.sh": Run(
        replace=(("bash scripts/quickstart.sh", "bash scripts/quickstart.sh" + TINY_TRAIN,
                  "the script passes extra arguments to cips-train (its header says so); 3,000 steps take minutes"),),
        check=_exists("qs/serving/cips/1/saved_model.pb", "qs/generated/sample", "qs/checkpoints"),
    ),
    "README.md: bash scripts/test.sh": Skip("this is the command that runs this test suite"),
    "README.md: bash scripts/test.sh --all": Skip("this is the command that runs this test suite"),
    "README.md: source .venv/bin/activate": Run(),
    "README.md: import keras": Run(
        replace=(
            ("CIPSGenerator(size=256)", "CIPSGenerator(size=16, hidden_size=16, widths=[32, 32, 16])", SMALL),
            ("make_grid(4, 256)", "make_grid(4, 16)", SMALL),
            ("make_grid(4, 1024)", "make_grid(4, 64)", "4 x 1024 x 1024 pixels at once need ~17 GB; "
                                                       "the README points to ChunkedRenderer for that"),
        ),
        check=_check_generator_block,
    ),
    "README.md: cips-convert --checkpoint=official.pt --out=converted/   # writes generator.keras (+ discriminator.keras)": Run(
        check=_exists("converted/generator.keras", "converted/discriminator.keras"),
    ),
    "README.md: import numpy as np": Run(check=_check_convert_block),
    "README.md: bazel build //...": Run(),  # in the repo root, when Bazel is installed (.ci/run installs it)
    "README.md: bazel test //tests/layers/... //tests/models/...": Run(
        replace=(("//tests/layers/... //tests/models/...", "//tests/layers:modulated_dense_test //tests/models:golden_parity_test",
                  "every target of the two packages runs under pytest in this suite already; under Bazel's "
                  "one-at-a-time runner the 18 targets took 200 s of CI's 30 min (a TF start each). Two stand in: "
                  "a layer test with its test-utils library, and the golden parity test with its data file "
                  "(bazel build //... above builds every target)"),),
    ),
    "README.md: cips-convert --checkpoint=ffhq256.pt --out=converted/ffhq256      # g_ema -> G, G_ema; d -> D": Run(
        check=_exists("converted/ffhq256/generator.keras", "converted/ffhq256/discriminator.keras"),
    ),
    "README.md: cips-train --config=configs/ffhq256.py --workdir=runs/my_faces \\": Skip(
        "fine-tunes the 256 px FFHQ model for 20k steps; tests/training/pretrained_test.py runs this recipe "
        "(cips-convert of an official-format checkpoint, then cips-train --config.init_from) for two steps"),
    "README.md: cips-train --config=configs/quickstart_conditional.py --workdir=runs/quickstart_conditional": Run(
        replace=(("runs/quickstart_conditional", "runs/quickstart_conditional" + TINY_TRAIN, SMALL),),
        check=_check_conditional_run,
    ),
    "README.md: cips-generate --model=runs/quickstart_conditional --task=sample --class=Sneaker --out=out_cond --seeds=0-7": Skip(
        "needs the conditional run of the block before it (blocks run in their own directories); "
        "tests/cli/generate_class_test.py runs --class by name on a conditional workdir"),
    "README.md: cips-train --config=configs/ffhq256.py --workdir=runs/my_classes \\": Skip(
        "a folder of the user's labelled images at 256 px; tests/training/conditional_train_test.py trains the "
        "smoke config with data.labels, and tests/data/labels_test.py reads class folders and dataset.json"),
    "README.md: cips-train --config=configs/ffhq256.py --workdir=runs/my_faces_small \\": Skip(
        "the recipe above on a small folder with ADA and FreezeD; tests/training/train_lib_test.py trains the smoke "
        "config with --config.augment.mode=ada and --config.training.freeze_d_layers"),
    "README.md: cips-generate --model=runs/quickstart --task=sample --out=out --seeds=0-31 --trunc=0.7": Run(
        replace=(("runs/quickstart", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),),
        check=_exists("out/sample"),
    ),
    "README.md: cips-generate --model=runs/quickstart --task=video --out=out --seeds=0-7 --frames_per_seed=24": Run(
        replace=(("runs/quickstart", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),),
        check=_exists("out/video"),
    ),
    "README.md: cips-generate --model=runs/quickstart --task=zoom --out=out --seeds=0-3 --zoom_center=0.3,-0.2 --zoom=16": Run(
        replace=(("runs/quickstart", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),),
        check=_exists("out/zoom"),
    ),
    "README.md: cips-project --model=runs/quickstart --target=photo.png --out=proj --steps=1000 --space=w --scale=4": Run(
        replace=(("runs/quickstart", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),
                 ("--steps=1000", "--steps=20", SMALL)),
        check=_exists("proj/projected_w.npz"),
    ),
    "docs/experiments.md: cips-generate --model=MODEL --task=video --out=out --seeds=0-7 --frames_per_seed=24 --fps=24 --trunc=0.7": Run(
        replace=(("MODEL", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),),
        check=_exists("out/video"),
    ),
    "docs/experiments.md: cips-generate --model=MODEL --task=zoom --out=out --seeds=0-3 --zoom_center=0.3,-0.2 --zoom=16 --zoom_frames=48": Run(
        replace=(("MODEL", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),),
        check=_exists("out/zoom"),
    ),
    "docs/experiments.md: cips-project --model=MODEL --target=photo.png --out=proj --steps=1000 --space=w --scale=4": Run(
        replace=(("MODEL", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),
                 ("--steps=1000", "--steps=20", SMALL)),
        check=_exists("proj/projected_w.npz"),
    ),
    "docs/experiments.md: cips-project --model=MODEL --target=a.png,b.png --out=proj --space=w+ --features=offline": Run(
        replace=(("MODEL", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),
                 ("--features=offline", "--features=offline --extractor_path={extractor} --steps=20 --scale=2",
                  SMALL + "; the session's tiny extractor stands in for the default one")),
        check=_exists("proj/a/projected_ws.npz", "proj/b/projected_ws.npz"),
    ),
    "README.md: cips-train --config=configs/ffhq256.py --workdir=runs/ffhq --config.data.path=/data/ffhq": Run(
        replace=(
            ("configs/ffhq256.py", "configs/smoke.py --config.data.source=folder",
             "FFHQ at 256 px trains for weeks; the smoke model on a folder of real images"),
            ("/data/ffhq", "{image_folder}" + TINY_TRAIN, "FFHQ is not on this machine: Fashion-MNIST PNGs"),
        ),
        check=_exists("runs/ffhq/config.json", "runs/ffhq/checkpoints"),
    ),
    "README.md: tensorboard --logdir=runs/ffhq": Run(),  # served, queried over HTTP and stopped (see _tensorboard)
    "README.md: cips-evaluate --model=runs/quickstart --metrics=fid,kid,precision_recall,spectrum --num_samples=5000 --out=eval/": Run(
        replace=(
            ("runs/quickstart", "{workdir}", "the quickstart model: a 4-step run of its config stands in"),
            ("--num_samples=5000", "--num_samples=32 --batch_size=16 --extractor_path={extractor}", SMALL),
        ),
        check=_exists("eval/metrics.json"),
    ),
    "README.md: cips-export --model=runs/ffhq256 --export_base=$PWD/serving --model_name=cips": Run(
        replace=(("runs/ffhq256", "{workdir}", "a 4-step quickstart run stands in for the FFHQ model"),),
        check=_exists("serving/cips/1/saved_model.pb", "serving/cips/1/assets.extra/tf_serving_warmup_requests",
                      "serving/cips/batching_parameters.txt"),
    ),
    "README.md: cips-export --model=runs/ffhq256 --export_base=$PWD/serving --model_name=cips --format=saved_model,onnx,openvino,litert": Run(
        replace=(("runs/ffhq256", "{workdir}", "a 4-step quickstart run stands in for the FFHQ model"),),
        check=_exists("serving/cips/1/saved_model.pb", "serving/cips/onnx/1/synthesis.onnx",
                      "serving/cips/openvino/1/synthesis.xml", "serving/cips/litert/1/synthesis.tflite"),
    ),
    "README.md: from cips_tf.export.runtimes import RuntimeGenerator": Run(check=_check_runtime_block),
    "README.md: cips-generate --model=serving/cips --runtime=onnx --task=sample,super_resolution --out=out --seeds=0-7 --trunc=0.7 --factor=4": Run(
        check=_check_runtime_generate),  # serving/ is the quickstart model's export (_prepare)
    "README.md: docker run -p 8500:8500 -p 8501:8501 \\": Skip(
        "no Docker engine on this machine kind (only the client); serving is tested by loading the "
        "export in a fresh process and replaying its warmup requests (tests/export)"),
    "README.md: model_config_list {": Text("a TF Serving models.config file, not a command"),
    "README.md: curl -s -X POST http://localhost:8501/v1/models/cips:predict \\": Skip(
        "needs a running tensorflow_model_server, which no registry here provides"),
    "README.md: import grpc, numpy as np, tensorflow as tf": Skip(
        "needs a running tensorflow_model_server (gRPC on :8500), which no registry here provides"),
    "README.md: cips_tf/layers/     one Keras layer per file (ModulatedDense, FourierFeatures, CoordinateEmbedding, ...)": Text(
        "the source layout"),
    "README.md: cips_tf/cli/, pipelines/                      entry points; neither imports the other": Text(
        "the import layering (tests/import_graph_test.py checks it)"),
    # ---------------------------------------------------------------- CONTRIBUTING.md
    "CONTRIBUTING.md: source .venv/bin/activate": Run(),
    "CONTRIBUTING.md: python -m pytest tests/coords_test.py -q": Run(),
    "CONTRIBUTING.md: python -m pytest tests/coords_test.py -q -k make_grid": Run(),
    "CONTRIBUTING.md: CIPS_SKIP_INSTALL=1 bash scripts/test.sh tests/coords_test.py -n0": Run(),
    "CONTRIBUTING.md: python -m pytest tests/docs -q -m \"not slow\"": Run(),
    # ---------------------------------------------------------------- docs/
    "docs/pipeline.md: image folder / TFDS / Fashion-MNIST": Text("a diagram"),
    "docs/pipeline.md: <root>/ExampleGen/<fp>/examples/{artifact.json, statistics.json, Split-train/train-*.tfrecord}": Text(
        "a directory listing"),
    "docs/pipeline.md: cips-pipeline --config=configs/quickstart.py --pipeline_root=runs/pipeline": Run(
        replace=(("--pipeline_root=runs/pipeline",
                  "--pipeline_root=runs/pipeline" + TINY_TRAIN + " --config.pipeline.max_examples=256"
                  " --config.pipeline.eval_num_samples=32 --config.pipeline.extractor_path={extractor}",
                  SMALL + " (3,000 steps; an extractor trained for minutes)"),),
        check=_exists("runs/pipeline/runs.jsonl", "runs/pipeline/serving/cips/1/saved_model.pb"),
    ),
    "docs/pipeline.md: cips-pipeline --config=configs/ffhq256.py --pipeline_root=runs/ffhq_pipeline \\": Skip(
        "needs the standard Inception network (--config.pipeline.extractor=inception), which cannot be "
        "downloaded here; the folder input and the FID gate run in tests/pipelines"),
    "docs/pipeline.md: cips-pipeline --config=configs/churches256.py --pipeline_root=runs/churches \\": Skip(
        "needs a prepared TFDS lsun/church_outdoor in data_dir; TFDS catalog downloads fail here"),
    # --- non-square images (issue 22) -------------------------------------------------------------
    "README.md: cips-dataset --source=/data/wide_photos --dest=/data/wide --crop=none --aspect=2:1 --resolution=256": Run(
        replace=(("/data/wide_photos", "{image_folder}", "a folder of Fashion-MNIST PNGs stands in for the user's"),
                 ("/data/wide", "wide", "a path inside the test's directory"),
                 ("--resolution=256", "--resolution=32", SMALL)),
        check=_check_wide_records,
    ),
    "README.md: cips-train --config=configs/ffhq256.py --workdir=runs/wide --config.aspect=2:1 --config.data.source=tfrecord --config.data.path=/data/wide": Run(
        replace=(("configs/ffhq256.py", "configs/smoke.py", "FFHQ at 256 px trains for weeks; the smoke model at "
                                                            "16 x 32"),
                 ("/data/wide", "shards" + TINY_TRAIN, "shards that cips-dataset wrote from Fashion-MNIST PNGs")),
        check=_exists("runs/wide/checkpoints", "runs/wide/samples"),
    ),
    "README.md: cips-generate --model=runs/wide --task=sample --out=out --seeds=0-7 --aspect=3:1": Run(
        replace=(("runs/wide", "{workdir}", "the (square) quickstart model stands in: a square model renders 3:1 by "
                                            "extending x"),),
        check=_check_wide_sample,
    ),
    # --- cips-dataset, Beam and Kubeflow (issue 13) ---------------------------------------------
    "README.md: cips-dataset --source=/data/images --dest=/data/shards --resolution=256 --shards=64": Run(
        replace=(("/data/images", "{image_folder}", "a folder of Fashion-MNIST PNGs stands in for the user's"),
                 ("/data/shards", "shards", "a path inside the test's directory")),
        check=_exists("shards/dataset_report.json", "shards/data-00063-of-00064.tfrecord"),
    ),
    "README.md: cips-train --config=configs/ffhq256.py --workdir=runs/mine --config.data.source=tfrecord --config.data.path=/data/shards": Run(
        replace=(("configs/ffhq256.py", "configs/smoke.py", "FFHQ at 256 px trains for weeks"),
                 ("/data/shards", "shards" + TINY_TRAIN, "shards that cips-dataset wrote from Fashion-MNIST PNGs")),
        check=_exists("runs/mine/checkpoints"),
    ),
    "docs/pipeline.md: cips-dataset --source=/data/images --dest=/data/shards --resolution=256 --shards=64 --runner=beam \\": Run(
        replace=(("/data/images", "{image_folder}", "a folder of Fashion-MNIST PNGs stands in for the user's"),
                 ("/data/shards", "shards", "a path inside the test's directory")),
        check=_exists("shards/dataset_report.json"),
    ),
    "docs/pipeline.md: cips-dataset --source=gs://BUCKET/lsun_bedroom_images --dest=gs://BUCKET/cips/bedroom256 \\": Skip(
        "needs a Google Cloud project (Dataflow) and the network; the same pipeline runs on the DirectRunner in "
        "tests/data/beam_prepare_test.py"),
    "docs/pipeline.md: cips-dataset --source=/shared/images --dest=/shared/shards --resolution=256 --shards=256 --runner=beam \\": Skip(
        "needs a Flink cluster and a container engine"),
    "docs/pipeline.md: cips-train --config=configs/ffhq256.py --workdir=runs/bedroom \\": Skip(
        "reads gs://BUCKET (no cloud here); training on cips-dataset shards runs in README's cips-train command"),
    "docs/pipeline.md: cips-pipeline --config=configs/quickstart.py --pipeline_root=runs/pipeline_beam \\": Run(
        replace=(("--pipeline_root=runs/pipeline_beam",
                  "--pipeline_root=runs/pipeline_beam" + TINY_TRAIN + " --config.pipeline.max_examples=256"
                  " --config.pipeline.eval_num_samples=32 --config.pipeline.extractor_path={extractor}",
                  SMALL + " (3,000 steps; an extractor trained for minutes)"),),
        check=_exists("runs/pipeline_beam/runs.jsonl", "runs/pipeline_beam/serving/cips/1/saved_model.pb"),
    ),
    "docs/pipeline.md: cips-pipeline --config=configs/quickstart.py --compile=kubeflow --image=cips-tf:latest \\": Run(
        replace=(("--output=docs/kubeflow_pipeline.yaml", "--output=kubeflow_pipeline.yaml",
                  "the sandbox has no docs/; the check compares the output with the committed file"),),
        check=lambda cwd, ctx: _same_kfp_spec(cwd / "kubeflow_pipeline.yaml", REPO_ROOT / "docs" / "kubeflow_pipeline.yaml"),
    ),
    "docs/pipeline.md: docker build -t REGISTRY/cips-tf:TAG . && docker push REGISTRY/cips-tf:TAG": Skip(
        "no Docker engine on this machine kind (only the client), and no registry to push to"),
    "docs/pipeline.md: cips-pipeline --config=configs/ffhq256.py --compile=kubeflow --output=pipeline.yaml \\": Run(
        check=_exists("pipeline.yaml")),
    "docs/pipeline.md: cips-pipeline --config=configs/ffhq256.py --compile=kubeflow --output=pipeline.yaml --pvc=cips-shared \\": Run(
        check=_exists("pipeline.yaml")),
    "docs/pipeline.md: python3 -c \"from google.cloud import aiplatform as ai; ai.init(project='PROJECT', location='REGION'); \\": Skip(
        "submits to Vertex AI: needs a Google Cloud project, google-cloud-aiplatform and the network"),
    "docs/pipeline.md: python3 -c \"import kfp; kfp.Client(host='https://KFP_HOST/pipeline').create_run_from_pipeline_package('pipeline.yaml', arguments={})\"": Skip(
        "submits to a Kubeflow Pipelines cluster; the compiled components run under kfp.local in "
        "tests/pipelines/kubeflow_test.py"),
    "docs/pipeline.md: from google_cloud_pipeline_components.v1.custom_job import create_custom_training_job_from_component": Skip(
        "needs google-cloud-pipeline-components and Vertex AI; the chief logic is tested in "
        "tests/pipelines/kubeflow_test.py"),
}


def _same_kfp_spec(written, committed):
    """The committed spec is the documented command's output, whole (the compiled-in config included)."""
    assert written.read_text() == committed.read_text(), f"{committed} is stale: regenerate it with the documented command"

# The experiments page: one command per task, all on the stand-in model.
_EXPERIMENTS = {
    "cips-generate --model=MODEL --task=sample --out=out --seeds=0-15 --psi=0.7": "sample",
    "cips-generate --model=MODEL --task=interpolate --out=out --seeds=3,7,11 --steps=8 --space=w": "interpolate",
    'cips-generate --model=MODEL --task=style_mix --out=out --seeds=0-3 --seeds_b=100-103 --mix_groups="4-5;2-3;1"': "style_mix",
    "cips-generate --model=MODEL --task=super_resolution --out=out --seeds=0-3 --factor=4": "super_resolution",
    "cips-generate --model=MODEL --task=foveated --out=out --seeds=0-3 --fractions=0.05,0.25,0.5,1.0 --gaze=0,0 --std_frac=0.4": "foveated",
    "cips-generate --model=MODEL --task=panorama --out=out --seeds=0-3": "panorama",
    "cips-generate --model=MODEL --task=blend --out=out --seeds=0-1 --seeds_b=100-101": "blend",
    "cips-generate --model=MODEL --task=encodings --out=out --seeds=0-3": "encodings",
    "cips-generate --model=MODEL --task=neighbours --out=out --seeds=0-7 --k=5 --dataset=fashion_mnist": "neighbours",
    "cips-generate --model=MODEL --task=neighbours --out=out --seeds=0-7 --k=5 --features=classifier --extractor=EXTRACTOR_DIR --overwrite": "neighbours",
}
for _cmd, _task in _EXPERIMENTS.items():
    _replace = [("MODEL", "{workdir}", "the quickstart model: a 4-step run of its config stands in")]
    if "EXTRACTOR_DIR" in _cmd:
        _replace.append(("EXTRACTOR_DIR", "{extractor}", "a placeholder: the session's tiny offline extractor"))
        _replace.append(("--overwrite", "--overwrite --num_reference=5000",
                         "the classifier's features of all 60,000 training images took 40 s of a 30-minute CI; "
                         "5,000 still give every sample its k neighbours through the same code"))
    HANDLING[f"docs/experiments.md: {_cmd}"] = Run(replace=tuple(_replace), check=_exists(f"out/{_task}"))


# ------------------------------------------------------------------------------------ the blocks
@dataclasses.dataclass(frozen=True)
class Item:
    key: str
    kind: str  # "shell" | "python" | "text"
    text: str
    where: str


def _shell_commands(text):
    """Commands of a shell block: continuation lines joined, comments and blank lines dropped."""
    commands, current = [], []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current.append(line)
        if not line.endswith("\\"):
            commands.append(current)
            current = []
    if current:
        commands.append(current)
    return commands


def _items():
    items = []
    for block in all_blocks():
        where = f"{block.doc}:{block.line}"
        if block.lang == "python":
            items.append(Item(block.key, "python", block.text, where))
            continue
        commands = _shell_commands(block.text)
        is_shell = block.lang in ("sh", "bash", "shell") or (
            commands and all(c[0].split()[0] in _COMMAND_WORDS for c in commands)
        )
        if not is_shell:
            items.append(Item(block.key, "text", block.text, where))
            continue
        for command in commands:
            items.append(Item(f"{block.doc}: {command[0].strip()}", "shell", "\n".join(command), where))
    return items


def _console_scripts():
    """The project's commands: every console script setup.cfg installs."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO_ROOT / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].splitlines()
    return {line.split("=")[0].strip() for line in lines if line.strip()}


PROJECT_COMMANDS = _console_scripts()
_COMMAND_WORDS = PROJECT_COMMANDS | {"bash", "source", "tensorboard", "docker", "curl", "python", "python3", "pip", "bazel"}
ITEMS = _items()


def test_every_documented_block_is_handled():
    unknown = [f"{i.where}  {i.key!r}" for i in ITEMS if i.key not in HANDLING]
    assert not unknown, "README/docs blocks this test does not know (add them to HANDLING):\n" + "\n".join(unknown)
    stale = sorted(set(HANDLING) - {i.key for i in ITEMS})
    assert not stale, "HANDLING entries for blocks no longer in the docs:\n" + "\n".join(stale)


def test_every_handling_entry_gives_its_reason():
    for key, handling in HANDLING.items():
        if isinstance(handling, (Skip, Text)):
            assert handling.reason.strip(), f"{key!r}: a Skip or Text entry says why"
        else:
            assert all(why.strip() for _, _, why in handling.replace), f"{key!r}: every replacement says why"


def test_text_blocks_are_not_commands():
    for item in ITEMS:
        if isinstance(HANDLING.get(item.key), Text):
            assert item.kind == "text", f"{item.where}: {item.key!r} is a command; run it or skip it with a reason"


def test_blocks_read_as_text_hold_no_project_command():
    """The other direction: a block the parser reads as text must not start a line with cips-... ."""
    assert "cips-project" in PROJECT_COMMANDS and "cips-train" in PROJECT_COMMANDS
    for item in ITEMS:
        if item.kind == "text":
            words = {line.split()[0] for line in item.text.splitlines() if line.strip()}
            assert not words & PROJECT_COMMANDS, (
                f"{item.where}: {item.key!r} is read as text but runs {sorted(words & PROJECT_COMMANDS)}; "
                "give the block a sh fence or add its first word to _COMMAND_WORDS")


def test_every_run_entry_is_runnable():
    kinds = {item.key: item.kind for item in ITEMS}
    not_run = [f"{key!r} ({kinds.get(key)})" for key, handling in HANDLING.items()
               if isinstance(handling, Run) and kinds.get(key) not in ("shell", "python")]
    assert not not_run, "Run entries whose block is not read as a command (so never run):\n" + "\n".join(not_run)


# ------------------------------------------------------------------------------------ fixtures
class _Context(dict):
    """The `ctx` fixture's values, built on a block's first use of one (`context["workdir"]`, or a
    `{workdir}` in a replacement or a checked path: `format_map`). While one xdist worker builds
    them (a ~1 min quickstart run and the tiny extractor, under a file lock), the other worker's
    blocks that need none of them run instead of waiting on the lock."""

    def __init__(self, request):
        super().__init__()
        self._request = request

    def __missing__(self, key):
        for name, value in self._request.getfixturevalue("ctx").items():
            self.setdefault(name, value)
        if key not in self:
            raise KeyError(key)
        return self[key]


@pytest.fixture(scope="session")
def ctx(shared_artifacts, tiny_extractor):
    """What the documented commands refer to: a trained workdir, a folder of real images, an extractor.
    Built once per test run and shared by the xdist workers (blocks only read it)."""
    with shared_artifacts("docs_ctx") as (root, missing):
        workdir, image_folder = root / "workdir", root / "images"
        if missing:
            # The quickstart model (docs/experiments.md shows its outputs), trained for 4 steps.
            _run_cli(["cips-train", "--config=configs/quickstart.py", f"--workdir={workdir}",
                      "--config.num_train_steps=4", "--config.training.checkpoint_every=2",
                      "--config.training.sample_every=2"], cwd=REPO_ROOT)
            image_folder.mkdir()
            from PIL import Image

            from cips_tf.data import fashion_mnist

            images, _ = fashion_mnist.load_fashion_mnist("test")
            for k in range(48):
                Image.fromarray(images[k]).save(image_folder / f"{k:03d}.png")
    return {"workdir": str(workdir), "image_folder": str(image_folder), "extractor": str(tiny_extractor)}


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CIPS_SKIP_INSTALL"] = "1"  # scripts/install.sh already ran for this suite; never reinstall in a test
    for key in [k for k in env if k.startswith("PYTEST_")]:
        del env[key]  # a documented pytest command is a run of its own, not part of this one (xdist worker ids)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _run_cli(argv, cwd):
    proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def _apply(text, handling, context):
    for old, new, why in handling.replace:
        assert why, f"replacement {old!r} needs a reason"
        assert old in text, f"the documented text no longer contains {old!r}: update HANDLING"
        text = text.replace(old, new.format_map(context))
    return text


def _sandbox(tmp_path):
    """A working directory like the repo root (configs/, scripts/ and the sources are linked in)."""
    for name in ("configs", "scripts", "cips_tf", "pipelines", "tests", "setup.cfg", "pyproject.toml", "README.md"):
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    (tmp_path / ".venv").symlink_to(VENV_BIN.parent)
    return tmp_path


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _tensorboard(command, cwd):
    """Serve as documented, on a free port; the run's scalars must be listed over HTTP."""
    port = _free_port()
    proc = subprocess.Popen(command.split() + [f"--port={port}"], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 600  # a hang guard
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/data/runs", timeout=5) as r:
                    runs = r.read().decode()
                if "train" in runs or "." in runs:
                    return
            except OSError:
                pass
            assert proc.poll() is None, f"tensorboard exited: {proc.stdout.read()[-3000:]}"
            time.sleep(2)
        raise AssertionError("tensorboard did not list the run within 600 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _prepare(key, cwd, context):
    """Inputs a documented command expects to find in its working directory."""
    if "--target=photo.png" in key:
        shutil.copy(pathlib.Path(context["image_folder"]) / "000.png", cwd / "photo.png")  # a real photo stand-in
    if "--target=a.png,b.png" in key:
        for k, name in enumerate(("a.png", "b.png")):
            shutil.copy(pathlib.Path(context["image_folder"]) / f"{k:03d}.png", cwd / name)
    if key.startswith("README.md: cips-convert"):
        torch = extras.require("torch")  # reading a .pt checkpoint needs PyTorch
        golden = np.load(REPO_ROOT / "tests" / "data_files" / "cips_official_small.npz")

        def state_dict(prefix):
            return {k[len(prefix):]: torch.from_numpy(np.array(golden[k])) for k in golden.files if k.startswith(prefix)}

        torch.save({"g_ema": state_dict("CIPSskip/param/"), "d": state_dict("Discriminator/param/")},
                   cwd / ("ffhq256.pt" if "ffhq256.pt" in key else "official.pt"))
    if key == "README.md: import numpy as np":
        golden = np.load(REPO_ROOT / "tests" / "data_files" / "cips_official_small.npz")
        prefix = "CIPSskip/param/"
        np.savez(cwd / "official_state_dict.npz",
                 **{k[len(prefix):]: golden[k] for k in golden.files if k.startswith(prefix)})
    if key.startswith("README.md: from cips_tf.export.runtimes") or "--runtime=onnx" in key:
        for extra in ("onnx", "openvino", "litert"):
            extras.require(extra)
        _run_cli([str(VENV_BIN / "cips-export"), f"--model={context['workdir']}", "--export_base=serving",
                  "--format=saved_model,onnx", "--nowarmup", "--w_avg_samples=64"], cwd=cwd)
    if "--format=saved_model,onnx,openvino,litert" in key:
        for extra in ("onnx", "openvino", "litert"):
            extras.require(extra)
    if "--compile=kubeflow" in key:
        extras.require("kfp")
        if "--pvc" in key:
            extras.require("kfp", "kfp.kubernetes")  # --pvc needs kfp-kubernetes
    if "--runner=beam" in key or "pipeline_beam" in key:
        extras.require("beam")
    if key.startswith("README.md: cips-train") and "tfrecord" in key:
        from cips_tf.data import prepare  # pylint: disable=import-outside-toplevel
        from cips_tf.data import processing  # pylint: disable=import-outside-toplevel
        from cips_tf.data import sources  # pylint: disable=import-outside-toplevel

        prepare.prepare_dataset(sources.FolderSource(context["image_folder"]), cwd / "shards",
                                processing.Options(resolution=16, num_shards=2))
    if key == "README.md: tensorboard --logdir=runs/ffhq":
        shutil.copytree(context["workdir"], cwd / "runs" / "ffhq")


RUNNABLE = [i for i in ITEMS if isinstance(HANDLING.get(i.key), Run) and i.kind in ("shell", "python")]


@pytest.mark.slow
@pytest.mark.parametrize("item", [  # the Bazel blocks share the workspace's server: one worker, one at a time
    pytest.param(i, marks=pytest.mark.xdist_group("bazel")) if i.text.startswith("bazel ") else i for i in RUNNABLE],
    ids=[i.key for i in RUNNABLE])
def test_documented_block_runs(item, request, tmp_path, monkeypatch):
    handling = HANDLING[item.key]
    cwd = _sandbox(tmp_path)
    context = _Context(request)
    _prepare(item.key, cwd, context)
    text = _apply(item.text, handling, context)
    if item.kind == "python":
        monkeypatch.chdir(cwd)  # relative paths in the block are relative to the repo root
        namespace = {"__name__": "__docs__"}
        exec(compile(text, item.where, "exec"), namespace)
        context["namespace"] = namespace
    elif item.key == "README.md: tensorboard --logdir=runs/ffhq":
        _tensorboard(text, cwd)
    elif text.startswith("bazel "):
        extras.require_command("bazel")
        try:
            _run_cli(["bash", "-c", text], cwd=REPO_ROOT)  # the workspace is the repo itself
        finally:
            subprocess.run(["bazel", "shutdown"], cwd=REPO_ROOT, env=_env(), capture_output=True, timeout=120)
    else:
        env_prefix = f"WORKDIR={cwd / 'qs'} " if "scripts/quickstart.sh" in text else ""
        _run_cli(["bash", "-euo", "pipefail", "-c", env_prefix + text], cwd=cwd)
    if handling.check:
        handling.check(cwd, context)


@pytest.mark.parametrize("item", [i for i in ITEMS if isinstance(HANDLING.get(i.key), Skip)],
                         ids=lambda i: i.key)
def test_documented_block_that_cannot_run_here(item):
    pytest.skip(HANDLING[item.key].reason)


def _documented_names():
    import re

    names = set()
    for doc in {b.doc for b in all_blocks()} | {"README.md"}:
        text = (REPO_ROOT / doc).read_text()
        names |= set(re.findall(r"\b(?:cips_tf|pipelines)(?:\.[A-Za-z_][A-Za-z0-9_]*)+", text))
    return sorted(names)


@pytest.mark.parametrize("name", _documented_names())
def test_documented_dotted_name_resolves(name):
    """Every `cips_tf.a.b.C` the docs mention imports (a module, or an attribute of one)."""
    import importlib
    import importlib.util

    parts = name.split(".")
    if name.startswith("cips_tf.cli."):  # entry points define absl flags at import: find, don't import
        assert importlib.util.find_spec(name) is not None, f"{name}: no such module"
        return
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            assert hasattr(obj, attr), f"{name}: {'.'.join(parts[:cut])} has no attribute {attr!r}"
            obj = getattr(obj, attr)
        return
    raise AssertionError(f"{name}: no importable prefix")
