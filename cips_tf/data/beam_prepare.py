"""The dataset work of `cips_tf.data.prepare` as one Apache Beam pipeline (the optional [beam] extra).
It uses the shared parts (`processing`, `report`, `tfrecord`) and `prepare` calls it; none of them
imports Beam (only `require_beam` and `run_beam` do, when called).

    ListInputs (driver: the refs) -> Reshuffle -> ReadProcess (read, decode, validate, fit, encode:
    `processing.process_item`) -+-> KeyByShard (input index % num_shards) -> GroupByKey -> WriteShard
                             +-> Summaries -> CombineGlobally(Statistics) -> WriteStatistics

Every record lands in the shard `processing.shard_index` gives it, as in the local runner, so the
shard files hold the same records (order inside a shard aside) and the report is the same. A shard
is written under a temporary name and renamed, so a retried bundle never leaves a half shard;
shards that receive no record are created empty on the driver afterwards. The statistics go
through a small JSON file next to the shards (workers write it; the driver reads and removes it).

Runs on any Beam runner: the DirectRunner by default; Dataflow, Flink or Spark with the usual
pipeline options (`--runner=DataflowRunner --project=... --region=... --temp_location=gs://...
--sdk_container_image=<the repo's Dockerfile image> --sdk_location=container`). Workers need
cips-tf installed and must be able to read the source and write `out_dir` (e.g. gs:// paths).
Progress: Beam metrics counters `cips_dataset/{inputs,written,skipped}` (shown by the runner's
UI) and periodic log lines from each worker.
"""
import json
import os
import time
import uuid

import tensorflow as tf
from absl import logging

from cips_tf.data import processing
from cips_tf.data import report as report_lib
from cips_tf.data import tfrecord

_NAMESPACE = "cips_dataset"


def require_beam():
    """The apache_beam module; ImportError naming the extra to install when it is missing."""
    try:
        import apache_beam as beam  # pylint: disable=import-outside-toplevel  (the optional [beam] extra)
    except ImportError as e:
        raise ImportError("runner='beam' needs Apache Beam: pip install 'cips-tf[beam]' "
                          "(apache-beam==2.77.0)") from e
    return beam


def _make_fns(beam):
    class ReadProcessFn(beam.DoFn):
        """ref -> processing.Result for each input it holds."""

        def __init__(self, source, options, total):
            super().__init__()
            self.source, self.options, self.total = source, options, total
            self.inputs = beam.metrics.Metrics.counter(_NAMESPACE, "inputs")
            self.written = beam.metrics.Metrics.counter(_NAMESPACE, "written")
            self.skipped = beam.metrics.Metrics.counter(_NAMESPACE, "skipped")

        def setup(self):
            self._done, self._start, self._last = 0, time.time(), time.time()

        def process(self, ref):
            for raw in self.source.read(ref):
                result = processing.process_item(raw, self.options)
                self.inputs.inc()
                (self.written if result.ok else self.skipped).inc()
                if not result.ok:
                    logging.warning("cips-dataset[beam]: skipped %s (%s)", result.location, result.reason)
                self._done += 1
                now = time.time()
                if now - self._last >= 10.0:
                    self._last = now
                    logging.info("cips-dataset[beam]: this worker processed %d inputs (%.1f/s) of %d in all",
                                 self._done, self._done / max(now - self._start, 1e-9), self.total)
                yield result

    class StatisticsCombineFn(beam.CombineFn):
        """`report.Statistics` as a Beam combiner over `Result.summary()` dicts."""

        def __init__(self, num_shards):
            super().__init__()
            self.num_shards = num_shards

        def create_accumulator(self):
            return report_lib.Statistics(self.num_shards)

        def add_input(self, accumulator, summary):
            return accumulator.add(summary)

        def merge_accumulators(self, accumulators):
            accumulators = iter(accumulators)
            merged = next(accumulators)
            for other in accumulators:
                merged.merge(other)
            return merged

        def extract_output(self, accumulator):
            return accumulator.report()

    return ReadProcessFn, StatisticsCombineFn


def _write_shard(shard_and_records, out_dir, prefix, num_shards):
    """Writes one shard (all its records) under a temporary name, then renames it into place."""
    shard, records = shard_and_records
    path = tfrecord.shard_path(out_dir, prefix, shard, num_shards)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    count = 0
    with tf.io.TFRecordWriter(tmp) as writer:
        for record in records:
            writer.write(record)
            count += 1
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return shard, count


def _write_json(value, path):
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value))


def run_beam(source, refs, out_dir, options, pipeline_args):
    """Runs the pipeline to completion; returns the runner-independent report (`Statistics.report`)."""
    beam = require_beam()
    from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402  (the optional [beam] extra)

    ReadProcessFn, StatisticsCombineFn = _make_fns(beam)
    out_dir = os.fspath(out_dir)
    tf.io.gfile.makedirs(out_dir)
    num_shards = int(options.num_shards)
    stats_path = os.path.join(out_dir, f".{options.prefix}-statistics-{uuid.uuid4().hex}.json")
    total = source.count(refs)
    pipeline_options = PipelineOptions(list(pipeline_args))
    logging.info("cips-dataset[beam]: %d inputs in %d work items, pipeline options %s", total, len(refs),
                 pipeline_args or "(none: DirectRunner)")
    with beam.Pipeline(options=pipeline_options) as p:
        results = (
            p
            | "ListInputs" >> beam.Create(refs, reshuffle=False)
            | "Distribute" >> beam.Reshuffle()
            | "ReadProcess" >> beam.ParDo(ReadProcessFn(source, options, total))
        )
        _ = (
            results
            | "KeyByShard" >> beam.FlatMap(
                lambda r, n: [(processing.shard_index(r.index, n), r.record)] if r.ok else [], num_shards)
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.Map(_write_shard, out_dir, options.prefix, num_shards)
        )
        _ = (
            results
            | "Summaries" >> beam.Map(lambda r, n: r.summary(n), num_shards)
            | "Statistics" >> beam.CombineGlobally(StatisticsCombineFn(num_shards))
            | "WriteStatistics" >> beam.Map(_write_json, stats_path)
        )
    with tf.io.gfile.GFile(stats_path) as f:
        report = json.load(f)
    tf.io.gfile.remove(stats_path)
    for shard in range(num_shards):  # shards that received no record
        path = tfrecord.shard_path(out_dir, options.prefix, shard, num_shards)
        if not tf.io.gfile.exists(path):
            tf.io.TFRecordWriter(path).close()
    return report
