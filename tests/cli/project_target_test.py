"""`cips-project`'s target reading (`load_target`): the checked reader of the data pipelines (issue 17).

In a subprocess: importing cips_tf.cli.project defines its absl flags, which would collide with other
entry points imported in the same test worker."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]

_LOAD = """
import json, sys
from absl import app
from cips_tf.cli import project
from cips_tf.data import images
out = {"defaults": [project.FLAGS["max_image_pixels"].default, project.FLAGS["max_aspect_ratio"].default],
       "library": [images.MAX_IMAGE_PIXELS, images.MAX_ASPECT_RATIO]}
for path in sys.argv[1:]:
    try:
        target = project.load_target(path, 16)
        out[path] = [list(target.shape), float(target.min()), float(target.max())]
    except app.UsageError as e:
        out[path] = str(e)
print(json.dumps(out))
"""


def test_load_target_refuses_oversized_headers_and_reads_large_images_reduced(tmp_path):
    Image.fromarray(np.zeros((1, 20000, 3), np.uint8)).save(tmp_path / "strip.png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (900, 600, 3), dtype=np.uint8)).save(tmp_path / "photo.jpg")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    paths = [str(tmp_path / "strip.png"), str(tmp_path / "photo.jpg")]
    proc = subprocess.run([sys.executable, "-c", _LOAD, *paths], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["defaults"] == out["library"]  # the flags' literal defaults follow the library's
    assert out[paths[0]].startswith(f"--target: {paths[0]}: bad image: 20000x1 image has an aspect ratio above the "
                                    "limit of 16:1") and "--max_aspect_ratio" in out[paths[0]]
    shape, low, high = out[paths[1]]
    assert shape == [16, 16, 3] and -1.0 <= low < high <= 1.0
