"""ExampleGen with `pipeline.example_gen_runner='beam'` (Apache Beam DirectRunner) against the local
runner: the same shards and statistics. Skipped without the [beam] extra."""
import json
import pathlib
import sys

import pytest

import extras

extras.require("beam")  # example_gen_runner='beam'

import tensorflow as tf  # noqa: E402

from pipelines import config as config_lib  # noqa: E402
from pipelines import example_gen  # noqa: E402
from pipelines import runner  # noqa: E402
from tiny_models import smoke_config  # noqa: E402

pytestmark = pytest.mark.slow  # the slow tier: Beam pipelines

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "data"))
from data_test_utils import make_messy_folder  # noqa: E402  pylint: disable=wrong-import-position


def _run(folder, root, example_gen_runner):
    config = config_lib.with_pipeline_defaults(smoke_config())
    config.pipeline.input_source, config.pipeline.input_path = "folder", str(folder)
    config.pipeline.num_shards, config.pipeline.example_gen_runner = 3, example_gen_runner
    config.pipeline.example_gen_beam_args = "--direct_num_workers=2 --direct_running_mode=multi_threading"
    config_lib.validate(config)
    return runner.run_pipeline((example_gen.COMPONENT,), config, root).artifacts["ExampleGen"]["examples"]


def test_example_gen_beam_runner_writes_the_local_runners_shards_and_statistics(tmp_path):
    expected, bad = make_messy_folder(tmp_path / "images")
    local, beamed = _run(tmp_path / "images", tmp_path / "local", "local"), _run(tmp_path / "images", tmp_path / "beam",
                                                                                 "beam")
    stats = [json.loads((a.path / example_gen.STATISTICS_FILE).read_text()) for a in (local, beamed)]
    assert [s.pop("run")["runner"] for s in stats] == ["local", "beam"]
    assert stats[0] == stats[1] and stats[0]["num_examples"] == len(expected) and stats[0]["num_skipped"] == len(bad)
    assert local.properties == beamed.properties
    for shard in range(3):
        contents = [sorted(r.numpy() for r in tf.data.TFRecordDataset(str(
            example_gen.split_dir(a) / f"train-{shard:05d}-of-00003.tfrecord"))) for a in (local, beamed)]
        assert contents[0] == contents[1]
