"""End-to-end tests of `cips-dataset` (cips_tf/cli/dataset.py): a messy folder -> shards + report,
then a short training run on the result. The CLI runs in a subprocess (absl flags are global)."""
import json
import pathlib
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "data"))
from data_test_utils import make_messy_folder  # noqa: E402  pylint: disable=wrong-import-position

import extras  # noqa: E402
import tiny_models  # noqa: E402
from tiny_models import smoke_config  # noqa: E402


def run_cli(*args, check=True):
    proc = tiny_models.run_cli("cips_tf.cli.dataset", *args)
    if check:
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    base = tmp_path_factory.mktemp("dataset_cli")
    expected, bad = make_messy_folder(base / "images")
    proc = run_cli(f"--source={base / 'images'}", f"--dest={base / 'shards'}", "--resolution=16", "--shards=2")
    return base, expected, bad, proc


def test_dataset_cli_writes_shards_report_and_lists_skipped_files(prepared):
    base, expected, bad, proc = prepared
    report = json.loads((base / "shards" / "dataset_report.json").read_text())
    assert report["num_examples"] == len(expected) and report["num_skipped"] == len(bad)
    assert [s["path"] for s in report["skipped"]] == [str(base / "images" / n) for n in bad]
    assert sorted(p.name for p in (base / "shards").glob("*.tfrecord")) == [
        "data-00000-of-00002.tfrecord", "data-00001-of-00002.tfrecord"]
    for name in bad:
        assert f"skipped {base / 'images' / name}: " in proc.stdout
    assert f"{len(expected)} of {len(expected) + len(bad)} images written to 2 shards" in proc.stdout
    assert "inputs (100.0%)" in proc.stderr  # progress lines with rate and ETA


@pytest.mark.slow  # fast tier under 10 min: ~18 s of training
def test_dataset_cli_training_runs_on_the_result(prepared, tmp_path):
    from cips_tf.training import train_lib

    config = smoke_config()
    config.data.source, config.data.path = "tfrecord", str(prepared[0] / "shards")
    config.num_train_steps, config.training.strategy = 2, "default"
    config.training.sample_every, config.training.checkpoint_every = 0, 2
    result = train_lib.train_and_evaluate(config, tmp_path)
    assert result["step"] == 2 and np.isfinite(list(result["metrics"].values())).all()


@pytest.mark.slow  # four CLI runs; the fast tier keeps errors_test's missing-source case
def test_dataset_cli_bad_source_and_existing_dest_fail_with_clear_errors(prepared, tmp_path):
    base = prepared[0]
    def error_line(proc):  # the CLIs' one policy (cips_tf.entry_point): one line, no traceback
        lines = [line for line in proc.stderr.splitlines() if "dataset.py: error: " in line]
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        return lines[0]

    proc = run_cli(f"--source={tmp_path / 'missing.zip'}", f"--dest={tmp_path / 'out'}", check=False)
    assert proc.returncode == 2 and "missing.zip: zip file not found" in error_line(proc)  # user error
    proc = run_cli(f"--source={base / 'images'}", f"--dest={base / 'shards'}", check=False)
    assert proc.returncode == 2 and "already holds 2 shard file(s)" in error_line(proc)
    proc = run_cli(f"--source={base / 'images'}", f"--dest={tmp_path / 'strict'}", "--noskip_bad_images", check=False)
    assert proc.returncode == 1 and "corrupt.png: bad image" in error_line(proc)  # a run failure
    (tmp_path / "bad.zip").write_bytes(b"not a zip")  # a source the library rejects (ValueError)
    proc = run_cli(f"--source={tmp_path / 'bad.zip'}", f"--dest={tmp_path / 'x'}", check=False)
    assert proc.returncode == 2 and "bad.zip: not a readable zip file" in error_line(proc)
    assert not list((tmp_path / "strict").glob("*.tfrecord"))


@pytest.mark.slow  # a Beam pipeline
def test_dataset_cli_beam_runner_matches_the_local_report(prepared, tmp_path):
    extras.require("beam")  # --runner=beam
    base = prepared[0]
    run_cli(f"--source={base / 'images'}", f"--dest={tmp_path}", "--resolution=16", "--shards=2", "--runner=beam",
            "--beam_pipeline_args=--direct_num_workers=2,--direct_running_mode=multi_threading")
    local = json.loads((base / "shards" / "dataset_report.json").read_text())
    beamed = json.loads((tmp_path / "dataset_report.json").read_text())
    assert beamed.pop("run")["beam_pipeline_args"] == ["--direct_num_workers=2", "--direct_running_mode=multi_threading"]
    local.pop("run")
    assert beamed == local
