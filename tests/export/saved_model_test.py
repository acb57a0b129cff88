"""Tests of cips_tf.export.saved_model: signatures against the Keras model in a fresh process,
saved_model_cli, warmup records, the pixel limit, load_generator and version numbering.

uint8 outputs are compared with the NumPy quantization of the Keras model's float output. The
serving graph and eager Keras run the same ops but may fuse/reorder them differently (oneDNN,
grappler), so floats differ by ~1e-6; quantization truncates at integers of `x * 127.5 + 128`, so a
pixel whose scaled value lies within that error of an integer may land one level off. Hence: at
most 1 level anywhere, and exactly equal wherever the scaled reference is > 0.01 from an integer
(i.e. unless the float outputs differ by more than 0.01 / 127.5 ~ 8e-5).
"""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cips_tf.coords import make_grid, make_grid_np
from cips_tf.export import saved_model as sm
from cips_tf.latents import truncate, z_from_seed
from export_test_utils import (
    SIZE,
    STYLE_DIM,
    quantize_np,
    run_python,
    tiny_generator,
    tiny_w_avg,
)

LIMIT = 3 * SIZE * SIZE  # max_pixels of the shared export: three training-size images
MAX_BATCH = 4  # max_batch of the shared export

_FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

path, inputs_path, out_path = sys.argv[1:4]
assert "cips_tf" not in sys.modules
loaded = tf.saved_model.load(path)
sig = loaded.signatures
x = {k: tf.constant(v) for k, v in np.load(inputs_path).items()}
out = {
    "serving_default": sig["serving_default"](z=x["z3"], truncation_psi=x["psi3"])["images"],
    "from_seed": sig["from_seed"](seed=x["seeds"], truncation_psi=x["psi3"])["images"],
    "render": sig["render"](z=x["z2"], truncation_psi=x["psi2"], coords=x["coords"])["images"],
    "mapping": sig["mapping"](z=x["z3"])["w"],
    "synthesis": sig["synthesis"](w=x["w3"], coords=x["coords_full"])["images"],
    "w_avg": loaded.w_avg,
}
out = {k: v.numpy() for k, v in out.items()}
report = {"dtypes": {k: v.dtype.name for k, v in out.items()}, "errors": {}, "warmup": []}
big = tf.zeros([4, 16, 16, 2])  # 4 * 16 * 16 = 1024 pixels > LIMIT, N = MAX_BATCH
many = 1000  # latents in one small request: > MAX_BATCH
for name, kwargs in [
    ("render", dict(z=tf.zeros([4, 16]), truncation_psi=tf.ones([4]), coords=big)),
    ("synthesis", dict(w=tf.zeros([4, 16]), coords=big)),
    ("serving_default", dict(z=tf.zeros([4, 16]), truncation_psi=tf.ones([4]))),
    ("from_seed", dict(seed=tf.range(4, dtype=tf.int64), truncation_psi=tf.ones([4]))),
    ("serving_default_many", dict(z=tf.zeros([many, 16]), truncation_psi=tf.ones([many]))),
    ("from_seed_many", dict(seed=tf.range(many, dtype=tf.int64), truncation_psi=tf.ones([many]))),
    ("mapping_many", dict(z=tf.zeros([many, 16]))),
    ("render_many", dict(z=tf.zeros([many, 16]), truncation_psi=tf.ones([many]), coords=tf.zeros([many, 1, 1, 2]))),
    ("synthesis_many", dict(w=tf.zeros([many, 16]), coords=tf.zeros([many, 1, 1, 2]))),
    ("render_batch", dict(z=tf.zeros([2, 16]), truncation_psi=tf.ones([2]), coords=tf.zeros([1, 4, 4, 2]))),
    ("serving_default_batch", dict(z=tf.zeros([2, 16]), truncation_psi=tf.ones([1]))),
    ("from_seed_batch", dict(seed=tf.constant([1, 2], tf.int64), truncation_psi=tf.ones([3]))),
]:
    try:
        sig[name.replace("_batch", "").replace("_many", "")](**kwargs)
        report["errors"][name] = None
    except tf.errors.InvalidArgumentError as e:
        report["errors"][name] = e.message
report["nonfinite"] = {}
nan, inf = float("nan"), float("inf")
small = tf.zeros([1, 4, 4, 2])
for signature, bad_input, kwargs in [
    ("serving_default", "z", dict(z=tf.fill([1, 16], nan), truncation_psi=tf.ones([1]))),
    ("serving_default", "truncation_psi", dict(z=tf.zeros([1, 16]), truncation_psi=tf.constant([nan]))),
    ("from_seed", "truncation_psi", dict(seed=tf.constant([1], tf.int64), truncation_psi=tf.constant([inf]))),
    ("render", "z", dict(z=tf.fill([1, 16], -inf), truncation_psi=tf.ones([1]), coords=small)),
    ("render", "coords", dict(z=tf.zeros([1, 16]), truncation_psi=tf.ones([1]), coords=small + nan)),
    ("mapping", "z", dict(z=tf.fill([1, 16], inf))),
    ("synthesis", "w", dict(w=tf.fill([1, 16], nan), coords=small)),
    ("synthesis", "coords", dict(w=tf.zeros([1, 16]), coords=small + inf)),
]:
    try:
        sig[signature](**kwargs)
        report["nonfinite"][f"{signature}:{bad_input}"] = None
    except tf.errors.InvalidArgumentError as e:
        report["nonfinite"][f"{signature}:{bad_input}"] = e.message
for record in tf.data.TFRecordDataset(path + "/assets.extra/tf_serving_warmup_requests"):
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    feeds = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    result = sig[request.model_spec.signature_name](**feeds)
    report["warmup"].append({
        "model": request.model_spec.name,
        "signature": request.model_spec.signature_name,
        "outputs": {k: [list(v.shape), v.dtype.name] for k, v in result.items()},
    })
np.savez(out_path, **out)
with open(out_path + ".json", "w") as f:
    json.dump(report, f)
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    generator = tiny_generator()
    w_avg = tiny_w_avg()
    base = tmp_path_factory.mktemp("export_base")
    path = sm.export_generator(generator, w_avg, base, "cips", max_pixels=LIMIT, max_batch=MAX_BATCH)
    return generator, w_avg, path


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.RandomState(0)
    return {
        "z3": rng.randn(3, STYLE_DIM).astype(np.float32),
        "psi3": np.array([0.5, 1.0, 0.7], np.float32),
        "seeds": np.array([0, 7, 123456789], np.int64),
        "z2": rng.randn(2, STYLE_DIM).astype(np.float32),
        "psi2": np.array([0.3, 1.0], np.float32),
        # a denser, non-square patch grid: 2 * 12 * 20 = 480 <= LIMIT
        "coords": np.tile(make_grid_np(12, 20, x_range=(-0.5, 1.0), y_range=(-1.0, 0.25))[None], [2, 1, 1, 1]),
        "w3": rng.randn(3, STYLE_DIM).astype(np.float32),
        "coords_full": np.tile(make_grid_np(SIZE, SIZE)[None], [3, 1, 1, 1]),  # exactly LIMIT pixels
    }


@pytest.fixture(scope="module")
def fresh_run(exported, inputs, tmp_path_factory):
    """Loads the export in a fresh Python process (no cips_tf import) and runs every signature."""
    _, _, path = exported
    work = tmp_path_factory.mktemp("fresh")
    np.savez(work / "inputs.npz", **inputs)
    run_python(_FRESH_PROCESS, path, work / "inputs.npz", work / "out.npz", cwd=work)
    outputs = dict(np.load(work / "out.npz"))
    report = json.loads((work / "out.npz.json").read_text())
    return outputs, report


def _assert_uint8_matches(actual, reference_float):
    expected = quantize_np(reference_float)
    assert actual.dtype == np.uint8 and actual.shape == expected.shape
    assert len(np.unique(expected)) > 10, "degenerate reference: the comparison would prove little"
    diff = np.abs(actual.astype(np.int32) - expected.astype(np.int32))
    assert diff.max() <= 1, f"max difference {diff.max()} levels"
    scaled = np.asarray(reference_float) * 127.5 + 128.0
    far = np.abs(scaled - np.round(scaled)) > 1e-2
    np.testing.assert_array_equal(actual[far], expected[far])


def _keras_images(generator, w_avg, z, psi, coords):
    w = truncate(generator.mapping(tf.constant(z)), tf.constant(w_avg), tf.constant(psi))
    return generator({"w": w, "coords": tf.constant(coords)}, training=False, randomize_noise=False).numpy()


def test_export_fresh_process_serving_default_matches_keras(exported, inputs, fresh_run):
    generator, w_avg, _ = exported
    outputs, report = fresh_run
    grid = make_grid(3, SIZE).numpy()
    reference = _keras_images(generator, w_avg, inputs["z3"], inputs["psi3"], grid)
    assert report["dtypes"]["serving_default"] == "uint8"
    assert outputs["serving_default"].shape == (3, SIZE, SIZE, 3)
    _assert_uint8_matches(outputs["serving_default"], reference)


@pytest.mark.slow  # the fast tier keeps the fresh-process serving_default parity
def test_export_fresh_process_serving_default_psi_one_equals_untruncated_call(exported, inputs, fresh_run):
    generator, _, _ = exported
    outputs, _ = fresh_run
    untruncated = generator(
        {"z": tf.constant(inputs["z3"][1:2]), "coords": make_grid(1, SIZE)}, training=False, randomize_noise=False
    ).numpy()
    _assert_uint8_matches(outputs["serving_default"][1:2], untruncated)  # psi3[1] == 1


def test_export_fresh_process_from_seed_matches_keras_on_z_from_seed(exported, inputs, fresh_run):
    generator, w_avg, _ = exported
    outputs, _ = fresh_run
    z = z_from_seed(inputs["seeds"], STYLE_DIM).numpy()
    reference = _keras_images(generator, w_avg, z, inputs["psi3"], make_grid(3, SIZE).numpy())
    _assert_uint8_matches(outputs["from_seed"], reference)


def test_export_fresh_process_render_patch_grid_matches_keras(exported, inputs, fresh_run):
    generator, w_avg, _ = exported
    outputs, _ = fresh_run
    reference = _keras_images(generator, w_avg, inputs["z2"], inputs["psi2"], inputs["coords"])
    assert outputs["render"].shape == (2, 12, 20, 3)
    _assert_uint8_matches(outputs["render"], reference)


def test_export_fresh_process_mapping_matches_keras_within_1e5(exported, inputs, fresh_run):
    generator, w_avg, _ = exported
    outputs, report = fresh_run
    assert report["dtypes"]["mapping"] == "float32"
    np.testing.assert_allclose(outputs["mapping"], generator.mapping(tf.constant(inputs["z3"])).numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(outputs["w_avg"], w_avg)


def test_export_fresh_process_synthesis_at_pixel_limit_matches_keras(exported, inputs, fresh_run):
    generator, _, _ = exported
    outputs, _ = fresh_run
    reference = generator(
        {"w": tf.constant(inputs["w3"]), "coords": tf.constant(inputs["coords_full"])},
        training=False,
        randomize_noise=False,
    ).numpy()
    _assert_uint8_matches(outputs["synthesis"], reference)


def _assertion_line(message):
    """The one line of an InvalidArgument message that says what failed (TF Serving returns the
    same status text): `assertion failed: [<our message>] [Condition x <= y ...] ... [<value>] ...`."""
    lines = [line for line in message.splitlines() if line.startswith("assertion failed:")]
    assert len(lines) == 1, message
    return lines[0]


@pytest.mark.parametrize("signature", ["render", "synthesis", "serving_default", "from_seed"])
def test_export_oversize_request_rejected_naming_the_limit(fresh_run, signature):
    _, report = fresh_run
    message = report["errors"][signature]
    assert message is not None, f"{signature} accepted 4 * 16 * 16 = 1024 > {LIMIT} pixels"
    first = _assertion_line(message)
    assert f"max_pixels={LIMIT}" in first and "too many pixels" in first and "--max_pixels" in first


@pytest.mark.parametrize("signature", ["serving_default", "from_seed", "mapping", "render", "synthesis"])
def test_export_request_of_1000_latents_rejected_naming_max_batch(fresh_run, signature):
    _, report = fresh_run
    message = report["errors"][f"{signature}_many"]
    assert message is not None, f"{signature} accepted a batch of 1000 > max_batch={MAX_BATCH}"
    first = _assertion_line(message)
    assert f"max_batch={MAX_BATCH}" in first and "[1000]" in first and "batch too large" in first and "--max_batch" in first


@pytest.mark.parametrize("signature", ["render", "serving_default", "from_seed"])
def test_export_mismatched_batch_sizes_rejected(fresh_run, signature):
    _, report = fresh_run
    assert "must have the same batch size N" in (report["errors"][f"{signature}_batch"] or "")


@pytest.mark.parametrize("case", ["serving_default:z", "serving_default:truncation_psi", "from_seed:truncation_psi",
                                  "render:z", "render:coords", "mapping:z", "synthesis:w", "synthesis:coords"])
def test_export_nonfinite_input_rejected_with_invalid_argument_naming_it(fresh_run, case):
    _, report = fresh_run
    message = report["nonfinite"][case]
    assert message is not None, f"{case}: a NaN/inf input was accepted"
    assert f"input {case.split(':')[1]} must be finite" in message


def test_warmup_requests_replay_in_fresh_process_for_every_signature(fresh_run):
    _, report = fresh_run
    assert sorted(r["signature"] for r in report["warmup"]) == sorted(sm.SIGNATURES)
    for record in report["warmup"]:
        assert record["model"] == "cips"
        key = "w" if record["signature"] == "mapping" else "images"
        shape, dtype = record["outputs"][key]
        assert shape[0] == 1 and dtype == ("float32" if key == "w" else "uint8")


def test_warmup_file_parses_as_prediction_logs_matching_signatures(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    _, _, path = exported
    loaded_inputs = {
        "serving_default": {"z", "truncation_psi"},
        "from_seed": {"seed", "truncation_psi"},
        "render": {"z", "truncation_psi", "coords"},
        "mapping": {"z"},
        "synthesis": {"w", "coords"},
    }
    records = list(tf.data.TFRecordDataset(str(path / sm.WARMUP_FILE)))
    assert len(records) == len(sm.SIGNATURES)
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert set(request.inputs) == loaded_inputs[request.model_spec.signature_name]
        for tensor in request.inputs.values():
            assert tf.make_ndarray(tensor).shape[0] == 1


def _saved_model_cli():
    exe = shutil.which("saved_model_cli")
    return [exe] if exe else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


def test_saved_model_cli_show_all_lists_every_signature(exported):
    _, _, path = exported
    proc = subprocess.run(
        _saved_model_cli() + ["show", "--all", "--dir", str(path)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr
    for name in sm.SIGNATURES:
        assert f"signature_def['{name}']" in proc.stdout
    assert f"shape: (-1, {SIZE}, {SIZE}, 3)" in proc.stdout
    assert "DT_UINT8" in proc.stdout and "DT_INT64" in proc.stdout
    assert "shape: (-1, -1, -1, 2)" in proc.stdout  # coords: batch first, any grid


def test_export_layout_complete_version_and_no_tmp_dirs(exported):
    _, _, path = exported
    assert path.name == "1" and path.parent.name == "cips"
    for rel in ["saved_model.pb", "variables/variables.index", sm.WARMUP_FILE, sm.METADATA_FILE,
                "assets.extra/cips_generator.keras", "assets.extra/w_avg.npy"]:
        assert (path / rel).exists(), rel
    assert sorted(p.name for p in path.parent.iterdir()) == ["1", sm.BATCHING_FILE]
    metadata = json.loads((path / sm.METADATA_FILE).read_text())
    assert metadata["max_pixels"] == LIMIT and metadata["max_batch"] == MAX_BATCH and metadata["resolution"] == SIZE


def test_export_batching_parameters_fit_the_limits_and_parse(exported):
    import re

    _, _, path = exported
    text = (path / sm.BATCHING_ASSET).read_text()
    assert (path.parent / sm.BATCHING_FILE).read_text() == text  # the server-level copy
    # BatchingParameters text format (tensorflow_serving/servables/tensorflow/session_bundle_config.proto,
    # not in the tensorflow-serving-api wheel): every line a comment or `<field> { value: <int> }`.
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    params = dict(re.fullmatch(r"(\w+) \{ value: (\d+) \}", line).groups() for line in lines)
    assert set(params) == {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"}
    # A merged batch must pass the in-graph limits: min(MAX_BATCH = 4, LIMIT // SIZE^2 = 3) = 3.
    assert int(params["max_batch_size"]) == 3
    assert int(params["batch_timeout_micros"]) == 0
    assert int(params["num_batch_threads"]) >= 1 and int(params["max_enqueued_batches"]) >= 1


def test_load_generator_exported_path_matches_original(exported):
    from cips_tf.loading import load_generator

    generator, w_avg, path = exported
    loaded = load_generator(path)
    np.testing.assert_array_equal(loaded.w_avg, w_avg)
    assert loaded.generator.get_config()["widths"] == generator.get_config()["widths"]
    z, grid = tf.constant(np.random.RandomState(3).randn(2, STYLE_DIM).astype(np.float32)), make_grid(2, SIZE)
    a = generator({"z": z, "coords": grid}, training=False, randomize_noise=False)
    b = loaded.generator({"z": z, "coords": grid}, training=False, randomize_noise=False)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_export_versions_auto_increment_explicit_and_collisions(tmp_path):
    generator, w_avg = tiny_generator(), tiny_w_avg()
    (tmp_path / "cips" / "not_a_version").mkdir(parents=True)
    first = sm.export_generator(generator, w_avg, tmp_path, "cips", warmup=False)
    assert first.name == "1"
    explicit = sm.export_generator(generator, w_avg, tmp_path, "cips", version=7, warmup=False)
    assert explicit.name == "7"
    with pytest.raises(FileExistsError, match="7"):
        sm.export_generator(generator, w_avg, tmp_path, "cips", version=7, warmup=False)
    assert sm.existing_versions(tmp_path / "cips") == [1, 7]
    assert not [p for p in (tmp_path / "cips").iterdir() if p.name.startswith(".")]


def test_export_auto_version_taken_concurrently_bumps(tmp_path, monkeypatch):
    real_commit = sm._commit
    calls = []

    def racing_commit(tmp_dir, final_dir):
        if not calls:  # another exporter finishes this version between our choice and our rename
            (final_dir / "variables").mkdir(parents=True)
        calls.append(final_dir.name)
        real_commit(tmp_dir, final_dir)

    monkeypatch.setattr(sm, "_commit", racing_commit)
    path = sm.export_generator(tiny_generator(), tiny_w_avg(), tmp_path, "cips", warmup=False)
    assert calls == ["1", "2"] and path.name == "2"
    assert json.loads((path / sm.METADATA_FILE).read_text())["version"] == 2


def test_clean_stale_tmp_dirs_keeps_fresh_dirs_of_other_pods_and_removes_old_ones(tmp_path):
    import os
    import time

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # An exporter in another pod: its PID means nothing here (here it is a dead one), its files are fresh.
    other_pod = tmp_path / f".tmp-3-{dead.pid}"
    (other_pod / "variables").mkdir(parents=True)
    abandoned = tmp_path / ".tmp-4-0123456789abcdef0123456789abcdef"
    (abandoned / "variables").mkdir(parents=True)
    (abandoned / "variables" / "variables.index").write_text("x")
    old = time.time() - sm.STALE_TMP_SECONDS - 60
    for p in [abandoned / "variables" / "variables.index", abandoned / "variables", abandoned]:
        os.utime(p, (old, old))
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / ".tmp-5-link").symlink_to(outside)  # never followed, never removed through
    os.utime(outside, (old, old))
    removed = sm.clean_stale_tmp_dirs(tmp_path)
    assert removed == [abandoned] and not abandoned.exists()
    assert other_pod.exists() and outside.exists()


def test_export_concurrent_exporter_with_the_same_pid_keeps_both_versions(tmp_path):
    # Two pods often run their exporters as the same PID (1): a second export that starts while the
    # first one writes (same process here, so the same PID and the same automatic version) must not
    # touch the first one's temporary directory.
    seen = {}

    def write_and_race(tmp_dir):
        (tmp_dir / "mine.txt").write_text("first")
        seen["second"] = sm.publish_version(tmp_path / "cips", lambda d: (d / "mine.txt").write_text("second"))
        assert (tmp_dir / "mine.txt").read_text() == "first"

    first = sm.publish_version(tmp_path / "cips", write_and_race)
    assert {first.name, seen["second"].name} == {"1", "2"}
    assert (first / "mine.txt").read_text() == "first" and (seen["second"] / "mine.txt").read_text() == "second"
    assert sorted(p.name for p in (tmp_path / "cips").iterdir()) == ["1", "2"]


def test_export_invalid_arguments_raise(tmp_path):
    generator = tiny_generator()
    with pytest.raises(ValueError, match="w_avg"):
        sm.export_generator(generator, np.zeros(3, np.float32), tmp_path, "cips", warmup=False)
    with pytest.raises(ValueError, match="max_pixels"):
        sm.export_generator(generator, tiny_w_avg(), tmp_path, "cips", max_pixels=0, warmup=False)
    with pytest.raises(ValueError, match="max_pixels=255 is below one 16 x 16 image"):
        sm.export_generator(generator, tiny_w_avg(), tmp_path, "cips", max_pixels=SIZE * SIZE - 1, warmup=False)
    with pytest.raises(ValueError, match="max_batch"):
        sm.export_generator(generator, tiny_w_avg(), tmp_path, "cips", max_batch=0, warmup=False)
    with pytest.raises(ValueError, match="version"):
        sm.export_generator(generator, tiny_w_avg(), tmp_path, "cips", version=0, warmup=False)
    with pytest.raises(ValueError, match="model_name"):
        sm.export_generator(generator, tiny_w_avg(), tmp_path, "../x", warmup=False)
    assert sm.existing_versions(tmp_path / "cips") == []
    assert not [p for p in (tmp_path / "cips").iterdir()]


def test_export_quantization_matches_stylegan_quantization():
    # The export uses the project's one quantizer, fid.quantize_images.
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.001, 0.99, 1.0, 3.0], np.float32)
    np.testing.assert_array_equal(sm.quantize_images(tf.constant(x)).numpy(), quantize_np(x))
    np.testing.assert_array_equal(quantize_np(x), [0, 0, 64, 128, 128, 254, 255, 255])
