"""Prepares training data: an image folder, a zip file or a prepared TFDS dataset -> TFRecord shards.

Usage:
  cips-dataset --source=SRC --dest=DIR [--resolution=256] [--crop=center|none] [--aspect=W:H] [--max_images=N]
               [--shards=16] [--runner=local|beam] [--beam_pipeline_args=--runner=DataflowRunner,...]
               [--split=train] [--tfds_data_dir=DIR] [--image_key=image] [--report=PATH]
               [--noskip_bad_images] [--overwrite] [--num_workers=N]
               [--max_image_pixels=67108864] [--max_aspect_ratio=16]
               [--max_member_bytes=268435456] [--max_zip_bytes=68719476736]

SRC is an image folder (read recursively; jpg/png/webp/bmp/gif/tiff, any mode), a .zip file of
images, or the name of a TFDS dataset already prepared in --tfds_data_dir (nothing is downloaded).
Writes DIR/data-SSSSS-of-NNNNN.tfrecord (train with `--config.data.source=tfrecord
--config.data.path=DIR`) and a JSON report (default DIR/dataset_report.json): counts, every
skipped file with its reason, and the mode, format and size histograms. Bad files (corrupt,
truncated, unreadable) are skipped and reported; with --noskip_bad_images the run fails naming
the first one and keeps no shard.

Non-square data: --crop=none --aspect=W:H --resolution=R stores every image's largest central
window of aspect W:H (a centre crop, never a letterbox) resized to R on the SHORTER side: e.g.
--resolution=32 --aspect=2:1 stores 32 x 64 (height x width) images; train on them with the same
`--config.aspect=2:1 --config.resolution=32` (README "Non-square images").

Limits on untrusted inputs (each refused file is a bad file: skipped and reported, or the run stops
naming it and the flag that lifts the limit):
  --max_image_pixels  an image whose header declares more pixels is refused before decoding
                      (default 2**26 = 67108864, 8192 x 8192)
  --max_aspect_ratio  an image longer than this many times its width (or wider) is refused (16)
  --max_member_bytes  a zip member larger than this uncompressed is refused from its header, and
                      no member is read past it (default 256 MiB)
  --max_zip_bytes     the image members of a zip larger than this in all stop the run (64 GiB)
A folder is read without leaving it: symlinks to folders are not followed, symlinked files only
when they resolve inside the folder, each file once; what is left out is logged and listed in the
report's `left_out`.

--runner=beam runs the same work as an Apache Beam pipeline (needs `pip install 'cips-tf[beam]'`);
--beam_pipeline_args are its pipeline options, comma-separated, e.g.
  --beam_pipeline_args=--runner=DataflowRunner,--project=P,--region=R,--temp_location=gs://B/tmp
Both runners write the same records into the same shards and the same report.
"""
import os

from absl import app, flags, logging

from cips_tf import entry_point
from cips_tf.data import images as images_lib
from cips_tf.data import prepare
from cips_tf.data import processing
from cips_tf.data import report as report_lib
from cips_tf.data import sources
from cips_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("source", None, "Image folder, .zip file, or prepared TFDS dataset name.", required=True)
flags.DEFINE_string("dest", None, "Output directory of the TFRecord shards (any tf.io.gfile path).", required=True)
flags.DEFINE_integer("resolution", None, "Stored size (shorter side, or the square with --crop=center); "
                     "default: the native size.", lower_bound=1)
flags.DEFINE_enum("crop", "center", list(processing.CROPS), "center: square images (center crop); none: keep the "
                  "aspect ratio (the reader crops at training time).")
flags.DEFINE_string("aspect", None, "With --crop=none: width:height to centre-crop every image to (e.g. 2:1); "
                    "--resolution then names the shorter side (32 and 2:1: 32 x 64). Default: keep each "
                    "image's own aspect.")
flags.DEFINE_integer("max_images", 0, "Read at most the first N inputs (sorted order); 0: all.", lower_bound=0)
flags.DEFINE_integer("shards", 16, "Number of TFRecord shards.", lower_bound=1)
flags.DEFINE_enum("labels", "none", ["none", "folder", "dataset.json"],
                  "Class labels stored in each record (folder sources): class subfolders (class/xxx.png) or "
                  "StyleGAN's dataset.json in the folder; the class names go to the report (train with "
                  "data.labels='tfrecord').")
flags.DEFINE_enum("runner", "local", list(prepare.RUNNERS), "local: this process; beam: an Apache Beam pipeline.")
flags.DEFINE_list("beam_pipeline_args", [], "Beam pipeline options (comma-separated), with --runner=beam.")
flags.DEFINE_string("split", "train", "TFDS split (TFDS sources).")
flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir holding the prepared dataset (TFDS sources).")
flags.DEFINE_string("image_key", "image", "TFDS image feature (TFDS sources).")
flags.DEFINE_string("report", None, "Where the JSON report goes (default DEST/dataset_report.json).")
flags.DEFINE_boolean("skip_bad_images", True, "Skip and report bad files; --noskip_bad_images fails on the first.")
flags.DEFINE_boolean("overwrite", False, "Replace shards already in --dest.")
flags.DEFINE_integer("num_workers", None, "Threads of the local runner (default: min(4, CPUs)).", lower_bound=1)
flags.DEFINE_integer("max_image_pixels", images_lib.MAX_IMAGE_PIXELS, "Images whose header declares more pixels "
                     "are refused (bad files) before decoding.", lower_bound=1)
flags.DEFINE_float("max_aspect_ratio", images_lib.MAX_ASPECT_RATIO, "Images more elongated than this (longer / "
                   "shorter side) are refused (bad files).", lower_bound=1)
flags.DEFINE_integer("max_member_bytes", sources.MAX_MEMBER_BYTES, "Zip members larger than this uncompressed are "
                     "refused (bad files); no member is read past it.", lower_bound=1)
flags.DEFINE_integer("max_zip_bytes", sources.MAX_ZIP_BYTES, "A zip whose image members hold more than this "
                     "uncompressed in all is refused.", lower_bound=1)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.beam_pipeline_args and FLAGS.runner != "beam":
        raise app.UsageError("--beam_pipeline_args needs --runner=beam")
    logging.set_verbosity(logging.INFO)
    try:
        source = sources.source_from_spec(FLAGS.source, split=FLAGS.split, data_dir=FLAGS.tfds_data_dir,
                                          image_key=FLAGS.image_key, max_member_bytes=FLAGS.max_member_bytes,
                                          max_zip_bytes=FLAGS.max_zip_bytes, labels=FLAGS.labels)
        options = processing.Options(resolution=FLAGS.resolution, crop=FLAGS.crop, aspect=FLAGS.aspect or None,
                                  max_images=FLAGS.max_images,
                                  num_shards=FLAGS.shards, skip_bad_images=FLAGS.skip_bad_images,
                                  max_image_pixels=FLAGS.max_image_pixels, max_aspect_ratio=FLAGS.max_aspect_ratio)
        report = prepare.prepare_dataset(source, FLAGS.dest, options, runner=FLAGS.runner,
                                         beam_pipeline_args=FLAGS.beam_pipeline_args, num_workers=FLAGS.num_workers,
                                         overwrite=FLAGS.overwrite)
    except images_lib.BadImageError:
        raise  # a RunError: one line, exit code 1 (cips_tf.entry_point)
    except (ValueError, ImportError) as e:  # an option or source the library rejects, a missing extra
        raise UserError(str(e)) from e  # one line, exit code 2; missing paths (OSError) are user errors already
    path = report_lib.write_report(report, FLAGS.report or os.path.join(FLAGS.dest, report_lib.REPORT_FILE))
    for item in report["left_out"][:10]:
        print(f"left out {item['path']}: {item['reason']}")
    if report["num_left_out"] > 10:
        print(f"... {report['num_left_out']} paths left out in all (the report lists them)")
    for item in report["skipped"]:
        print(f"skipped {item['path']}: {item['reason']}")
    print(f"{report['num_examples']} of {report['num_inputs']} images written to {report['num_shards']} shards in "
          f"{FLAGS.dest} ({report['num_skipped']} skipped, {report['run']['seconds']:.1f}s); report: {path}")
    return 0


def run():
    """Console-script entry point (`cips-dataset`)."""
    entry_point.run(main)


if __name__ == "__main__":
    run()
