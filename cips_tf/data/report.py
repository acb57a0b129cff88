"""The report of a dataset preparation: `Statistics` (counts, every skipped file with its reason,
size / mode / format histograms; mergeable: the local runner adds to one, Beam combines many),
`Progress` (periodic log lines) and `write_report` (the JSON file `cips-dataset` writes,
`REPORT_FILE` beside the shards). The whole report is described in `cips_tf.data.prepare`.
"""
import collections
import datetime
import json
import os
import time
import uuid

import tensorflow as tf
from absl import logging

REPORT_FILE = "dataset_report.json"


class Statistics:
    """Counts and histograms over `Result.summary()` dicts; `merge` makes it a Beam combiner."""

    _HISTOGRAMS = ("modes", "formats", "input_sizes", "sizes")

    def __init__(self, num_shards):
        self.num_shards = int(num_shards)
        self.num_inputs = 0
        self.skipped = []
        self.histograms = {k: collections.Counter() for k in self._HISTOGRAMS}
        self.per_shard = [0] * self.num_shards

    def add(self, summary):
        self.num_inputs += 1
        if summary["reason"] is not None:
            self.skipped.append({"path": summary["location"], "reason": summary["reason"]})
            return self
        for key, field in (("modes", "mode"), ("formats", "format"), ("input_sizes", "input_size"),
                           ("sizes", "size")):
            self.histograms[key][str(summary[field])] += 1
        self.per_shard[summary["shard"]] += 1
        return self

    def merge(self, other):
        self.num_inputs += other.num_inputs
        self.skipped.extend(other.skipped)
        for key in self._HISTOGRAMS:
            self.histograms[key].update(other.histograms[key])
        self.per_shard = [a + b for a, b in zip(self.per_shard, other.per_shard)]
        return self

    @property
    def num_examples(self):
        return sum(self.per_shard)

    def report(self):
        """The runner-independent part of the report (sorted, so equal inputs give equal dicts)."""
        return {
            "num_inputs": self.num_inputs,
            "num_examples": self.num_examples,
            "num_skipped": len(self.skipped),
            "skipped": sorted(self.skipped, key=lambda s: (s["path"], s["reason"])),
            **{k: dict(sorted(v.items())) for k, v in self.histograms.items()},
            "num_shards": self.num_shards,
            "examples_per_shard": list(self.per_shard),
        }


class Progress:
    """Logs 'n/total inputs (rate/s, ETA ...), written, skipped' at most every `interval` seconds."""

    def __init__(self, total, label, interval=10.0):
        self.total, self.label, self.interval = total, label, interval
        self.start = self.last = time.time()
        self.done = self.skipped = 0

    def update(self, result):
        self.done += 1
        self.skipped += 0 if result.ok else 1
        if not result.ok:
            logging.warning("%s: skipped %s (%s); %d skipped so far", self.label, result.location, result.reason,
                            self.skipped)
        now = time.time()
        if now - self.last >= self.interval or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = datetime.timedelta(seconds=int((self.total - self.done) / max(rate, 1e-9)))
            logging.info("%s: %d/%d inputs (%.1f%%) | %.1f images/s | %d written, %d skipped | ETA %s", self.label,
                         self.done, self.total, 100.0 * self.done / max(self.total, 1), rate,
                         self.done - self.skipped, self.skipped, eta)


def write_report(report, path):
    """Writes the report as indented JSON (any gfile path; via a temporary name)."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"  # unique on shared storage too (a PID is not)
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return path
