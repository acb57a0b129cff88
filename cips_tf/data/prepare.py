"""Dataset preparation: an image folder, a zip file or a prepared TFDS dataset -> TFRecord shards.

The one implementation of the dataset work behind `cips-dataset` and the pipeline's ExampleGen,
whichever runner executes it. This module runs it and writes the report; its parts live beside it:

    sources.py                  the four sources and `source_from_spec`
    processing.py               `Options`, `RawItem`, `process_item`, `shard_index`
    report.py                   `Statistics`, `Progress`, `write_report`, `REPORT_FILE`

    source.list_refs(), source.read(ref)  on the driver, then wherever the runner puts the work
    processing.process_item     one input -> one record (or the reason it is skipped), in the shard
                                `processing.shard_index` gives it, whichever the runner
    report.Statistics           mergeable counts and histograms (a Beam CombineFn wraps it)

`prepare_dataset(..., runner="local")` runs it in this process (a thread pool) and
`runner="beam"` as one Apache Beam pipeline (`cips_tf.data.beam_prepare`: DirectRunner here,
Dataflow / Flink / Spark through pipeline options). Both write the same records into the same
shards (the order inside a shard aside) and the same report (apart from its `run` section).

Output: `<out_dir>/<prefix>-SSSSS-of-NNNNN.tfrecord` (the format of `cips_tf.data.tfrecord`, what
`data.source='tfrecord'` reads) and the report (a dict; `cips-dataset` writes it as JSON):

    {"source": {...}, "options": {...}, "num_inputs", "num_examples", "num_skipped",
     "skipped": [{"path", "reason"}, ...] (every one, sorted by path),
     "modes": {"RGB": n, "L": n, "P": n, ...}      input modes of the written images
     "formats": {"PNG": n, ...}, "input_sizes": {"HxW": n}, "sizes": {"HxW": n} (as stored),
     "num_shards", "examples_per_shard", "files",
     "left_out": [{"path", "reason"}, ...]  paths the listing did not read (symlinks that leave
                                            the folder or repeat a file), "num_left_out",
     "run": {"runner", "seconds", ...}}

Untrusted inputs stay bounded: an image whose header declares more than `max_image_pixels` pixels
or an aspect ratio above `max_aspect_ratio` is refused before it is decoded (a bad file like any
other: skipped and reported, or the run stops naming it); large images are decoded reduced (JPEG
draft, integer box reduce) and center-cropped before the resize, so the resize allocates a small
multiple of the output; a zip member larger than `max_member_bytes` is refused from its header and
read with a cap in case the header lies; folders are listed without leaving them
(`images.scan_image_files`).
"""
import concurrent.futures
import os
import time

import tensorflow as tf
from absl import logging

from cips_tf.data import beam_prepare
from cips_tf.data import images as images_lib
from cips_tf.data import processing
from cips_tf.data import report as report_lib
from cips_tf.data import sources
from cips_tf.data import tfrecord

RUNNERS = ("local", "beam")


def existing_shards(out_dir, prefix):
    pattern = os.path.join(os.fspath(out_dir), f"{prefix}-*-of-*{tfrecord.SUFFIX}*")
    return sorted(tf.io.gfile.glob(pattern))


def _run_local(source, refs, out_dir, options, num_workers):
    stats = report_lib.Statistics(options.num_shards)
    progress = report_lib.Progress(source.count(refs), "cips-dataset[local]")
    num_workers = max(1, int(num_workers or min(4, os.cpu_count() or 1)))

    def _process_ref(ref):
        return [processing.process_item(raw, options) for raw in source.read(ref)]

    def _records():
        with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
            window = 64 * num_workers
            for begin in range(0, len(refs), window):  # bounded: at most `window` refs in flight
                for results in pool.map(_process_ref, refs[begin:begin + window]):
                    for result in results:
                        stats.add(result.summary(options.num_shards))
                        progress.update(result)
                        if result.ok:
                            yield processing.shard_index(result.index, options.num_shards), result.record

    tfrecord.write_records(_records(), out_dir, options.num_shards, prefix=options.prefix, sharded=True)
    return stats.report()


def prepare_dataset(source, out_dir, options, *, runner="local", beam_pipeline_args=(), num_workers=None,
                    overwrite=False):
    """Runs the dataset work; returns the report dict (see the module docstring).

    Args:
      source: a FolderSource, ZipSource, TfdsSource or FashionMnistSource.
      out_dir: where the shards go (any `tf.io.gfile` path; created).
      options: `Options`.
      runner: 'local' (this process, a thread pool of `num_workers`) or 'beam' (Apache Beam with
        `beam_pipeline_args`, e.g. ['--runner=DataflowRunner', '--project=...']).
      overwrite: replace existing `<prefix>-*-of-*.tfrecord` shards in `out_dir`; otherwise they are
        an error (mixing two runs' shards would silently change the dataset).

    Raises:
      ValueError / FileNotFoundError naming the bad option, source or file; `images.BadImageError`
      naming the first bad file when `options.skip_bad_images` is False (nothing is kept then).
    """
    options.validate()
    if runner not in RUNNERS:
        raise ValueError(f"runner must be one of {RUNNERS}, got {runner!r}")
    if runner == "beam":
        beam_prepare.require_beam()  # before any work: a clear error when the [beam] extra is missing
    out_dir = os.fspath(out_dir)
    old = existing_shards(out_dir, options.prefix)
    if old:
        if not overwrite:
            raise FileExistsError(f"{out_dir} already holds {len(old)} shard file(s) ({os.path.basename(old[0])} ...): "
                                  "choose an empty destination or overwrite them (cips-dataset --overwrite)")
        for path in old:
            tf.io.gfile.remove(path)
    start = time.time()
    class_names = source.class_names() if hasattr(source, "class_names") else None  # label errors before any work
    if hasattr(source, "scan"):
        refs, left_out = source.scan(int(options.max_images))
    else:
        refs, left_out = source.list_refs(int(options.max_images)), []
    for path, reason in left_out[:10]:
        logging.warning("cips-dataset: left out %s (%s)", path, reason)
    if len(left_out) > 10:
        logging.warning("cips-dataset: ... %d paths left out in all (see the report's left_out)", len(left_out))
    total = source.count(refs)
    logging.info("cips-dataset: %d inputs from %s -> %s (%d shards, resolution %s, crop %s, aspect %s, runner %s)",
                 total, source.describe(), out_dir, options.num_shards, options.resolution, options.crop,
                 options.aspect or "kept", runner)
    if runner == "local":
        report = _run_local(source, refs, out_dir, options, num_workers)
        run = {"runner": "local", "num_workers": num_workers or min(4, os.cpu_count() or 1)}
    else:
        report = beam_prepare.run_beam(source, refs, out_dir, options, list(beam_pipeline_args))
        run = {"runner": "beam", "beam_pipeline_args": list(beam_pipeline_args)}
    files = [tfrecord.shard_path(out_dir, options.prefix, i, options.num_shards) for i in range(options.num_shards)]
    run["seconds"] = round(time.time() - start, 3)
    report = {"source": source.describe(), "options": options.to_json(), **report,
              "files": [os.path.basename(f) for f in files], "num_left_out": len(left_out),
              "left_out": [{"path": p, "reason": r} for p, r in left_out], "run": run,
              **({"class_names": class_names} if class_names else {})}
    logging.info("cips-dataset: %d of %d inputs written, %d skipped, in %.1fs (%.1f inputs/s)", report["num_examples"],
                 report["num_inputs"], report["num_skipped"], run["seconds"],
                 report["num_inputs"] / max(run["seconds"], 1e-9))
    if report["skipped"] and not options.skip_bad_images:
        for path in files:
            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        first = report["skipped"][0]
        raise images_lib.BadImageError(first["path"], f"{first['reason']} ({report['num_skipped']} bad file(s) in "
                                                      "all; no shard kept)")
    return report


def convert_image_folder(folder, out_dir, *, num_shards, resolution=None, resize_shorter_side=True,
                         skip_bad_images=True, prefix="data", runner="local", beam_pipeline_args=()):
    """An image folder -> TFRecord shards (centre-cropped squares at `resolution`, or native size).

    Returns the `prepare_dataset` report, with `num_files` (image files found) added.
    """
    crop = "center" if resolution is not None else "none"
    options = processing.Options(resolution=resolution, crop=crop, resize_shorter_side=resize_shorter_side,
                      num_shards=num_shards, prefix=prefix, skip_bad_images=skip_bad_images)
    report = prepare_dataset(sources.FolderSource(os.fspath(folder)), out_dir, options, runner=runner,
                             beam_pipeline_args=beam_pipeline_args)
    report["num_files"] = report["num_inputs"]
    return report
