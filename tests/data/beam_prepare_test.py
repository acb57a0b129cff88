"""The Apache Beam runner of cips_tf.data.prepare (DirectRunner) against the local runner.

Skipped when Apache Beam is not installed (the optional [beam] extra); CI installs it.
"""
import pytest

# Beam jobs are the slow tier's (CONTRIBUTING.md), as Kubeflow's are.
pytestmark = pytest.mark.slow
beam = pytest.importorskip("apache_beam", reason="runner='beam' needs the [beam] extra: pip install 'cips-tf[beam]'")

import tensorflow as tf  # noqa: E402

from cips_tf.data import prepare  # noqa: E402
from cips_tf.data import processing  # noqa: E402
from cips_tf.data import sources  # noqa: E402
from cips_tf.data import tfrecord  # noqa: E402
from data_test_utils import make_messy_folder  # noqa: E402


def shard_contents(out_dir, num_shards):
    """Per shard: the sorted serialized records (the order inside a shard is the runner's)."""
    return [sorted(r.numpy() for r in tf.data.TFRecordDataset(tfrecord.shard_path(out_dir, "data", i, num_shards)))
            for i in range(num_shards)]


@pytest.mark.parametrize("pipeline_args", [
    [],
    ["--direct_num_workers=2", "--direct_running_mode=multi_threading"],
    # worker processes: records must be equal bytes across processes (deterministic serialization)
    ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
])
def test_beam_and_local_runs_on_a_messy_folder_give_identical_records_and_reports(tmp_path, pipeline_args):
    expected, bad = make_messy_folder(tmp_path / "images")
    source = sources.FolderSource(str(tmp_path / "images"))
    options = processing.Options(resolution=16, num_shards=3)
    local = prepare.prepare_dataset(source, tmp_path / "local", options)
    beamed = prepare.prepare_dataset(source, tmp_path / "beam", options, runner="beam",
                                     beam_pipeline_args=pipeline_args)
    assert local.pop("run")["runner"] == "local" and beamed.pop("run")["runner"] == "beam"
    assert beamed == local
    assert local["num_examples"] == len(expected) and local["num_skipped"] == len(bad)
    records = shard_contents(tmp_path / "local", 3)
    assert shard_contents(tmp_path / "beam", 3) == records
    assert [len(r) for r in records] == local["examples_per_shard"]
    assert not [p.name for p in (tmp_path / "beam").iterdir() if not p.name.endswith(tfrecord.SUFFIX)]


def test_beam_runner_writes_empty_shards_and_handles_array_sources(tmp_path):
    options = processing.Options(resolution=20, max_images=3, num_shards=5)
    source = sources.FashionMnistSource("test")
    local = prepare.prepare_dataset(source, tmp_path / "local", options)
    beamed = prepare.prepare_dataset(source, tmp_path / "beam", options, runner="beam")
    local.pop("run"), beamed.pop("run")
    assert beamed == local and local["examples_per_shard"] == [1, 1, 1, 0, 0]
    assert shard_contents(tmp_path / "beam", 5) == shard_contents(tmp_path / "local", 5)


def test_beam_runner_without_skip_fails_naming_the_bad_file(tmp_path):
    _, bad = make_messy_folder(tmp_path / "images")
    with pytest.raises(ValueError, match=bad[0]):
        prepare.prepare_dataset(sources.FolderSource(str(tmp_path / "images")), tmp_path / "out",
                                processing.Options(resolution=16, skip_bad_images=False), runner="beam")
    assert not list((tmp_path / "out").glob("*.tfrecord*"))
