"""The standard FID feature network: Inception `inception-2015-12-05`, pool_3 (2048-d).

Every published FID (TTUR, TF-GAN, StyleGAN, clean-fid, the CIPS paper) uses the *2015 TensorFlow
Inception graph*, not `keras.applications.InceptionV3`. They differ in:
  * weights: the 2015-12-05 ImageNet checkpoint (1008 output classes) vs Keras's later retrained
    weights (1000 classes); features, and so FID, differ by several points;
  * preprocessing: the graph resizes internally (legacy `ResizeBilinear`, no half-pixel centres)
    to 299 x 299 and maps pixels with `(x - 128) / 128`; Keras expects callers to resize and uses
    `x / 127.5 - 1`;
  * a few graph details (e.g. the padding of some pooling layers) that make it impossible to port
    the weights into the Keras architecture unchanged.
So a Keras InceptionV3 "FID" is not comparable with published numbers; only this graph is.

Weights cannot be downloaded at run time here. Give a local copy explicitly, as any of:
  1. the tarball `inception-2015-12-05.tgz` (from INCEPTION_TGZ_URL below) — read in place;
  2. `classify_image_graph_def.pb` extracted from it, or a directory containing that file;
     (the TTUR / StyleGAN / clean-fid "legacy_tensorflow" graph; we feed `ExpandDims:0` with
     float pixels in [0, 255] at their native size and read `pool_3:0`, exactly as TTUR does);
  3. a directory with TF-GAN's TF-Hub module `tfgan/eval/inception/1` (INCEPTION_TFHUB_URL,
     downloaded with `?tf-hub-format=compressed` and untarred; needs `tensorflow_hub`), or any
     SavedModel whose signature takes [B, 299, 299, 3] images in [-1, 1] and returns `pool_3`; we
     resize with `tf.image.resize(bilinear)` first, as TF-GAN's examples do.
The path comes from the `path` argument or the `CIPS_INCEPTION_PATH` environment variable.

Only known files count as the standard network: the SHA-256 of what `path` names (a file: its
bytes; a directory: `sha256_of`, over every file's relative path and bytes) must be one of
`KNOWN_SHA256`. Any other file (a retrained graph, a truncated download, a look-alike planted in a
shared cache) is refused with one line naming its digest; `allow_unknown=True`
(`cips-evaluate --allow_unknown_extractor`) loads it anyway, and every number computed with it is
labelled non-standard (`standard: False`, metric names ending in `_offline`).

Where the digests come from: each entry of `KNOWN_SHA256` is the `sha256sum` of a file downloaded
from its official URL (INCEPTION_TGZ_URL; the `classify_image_graph_def.pb` inside it, as TTUR,
StyleGAN and clean-fid read it; the TF-Hub module INCEPTION_TFHUB_URL?tf-hub-format=compressed,
untarred, digested with `sha256_of`). Google publishes no SHA-256 for these files, and NVIDIA's
`inception-2015-12-05.pkl` and pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` are PyTorch
translations, formats this module does not read; so the digests are recorded from a verified
download with `python -m cips_tf.metrics.inception --sha256 PATH` (one entry per format).
"""
import argparse
import hashlib
import os
import pathlib
import tarfile

import tensorflow as tf

from cips_tf import fileio
from cips_tf.metrics import fid as fid_lib

__all__ = [
    "GRAPH_FILENAME",
    "INCEPTION_ENV_VAR",
    "INCEPTION_TFHUB_URL",
    "INCEPTION_TGZ_URL",
    "InceptionFeatureExtractor",
    "InceptionWeightsNotFoundError",
    "KNOWN_SHA256",
    "UnknownExtractorError",
    "load_inception",
    "read_inception_graph_def",
    "sha256_of",
]

# {sha256 hex: what the file is} of the files accepted as the standard FID network (see the module
# docstring for where each digest comes from). Digests are never guessed: until one is recorded
# from a verified download, that format needs allow_unknown=True and is labelled non-standard.
KNOWN_SHA256 = {}

INCEPTION_TGZ_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
INCEPTION_TFHUB_URL = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"
INCEPTION_ENV_VAR = "CIPS_INCEPTION_PATH"
GRAPH_FILENAME = "classify_image_graph_def.pb"
INPUT_TENSOR = "ExpandDims:0"
OUTPUT_TENSOR = "pool_3:0"
HUB_IMAGE_SIZE = 299
FEATURE_DIM = 2048

_HOW_TO = (
    "The standard FID Inception network (inception-2015-12-05, pool_3) is not bundled and cannot be "
    "downloaded at run time. On a machine with network access download\n"
    f"  {INCEPTION_TGZ_URL}\n"
    f"(or TF-GAN's TF-Hub module {INCEPTION_TFHUB_URL}?tf-hub-format=compressed, untarred into a directory), "
    "copy it here, and pass its path (the .tgz, the extracted classify_image_graph_def.pb, or the directory) "
    f"as `path=` / --inception_path, or set {INCEPTION_ENV_VAR}. Without it, use the offline extractor "
    "(cips_tf.metrics.feature_extractor), whose numbers are labelled non-standard."
)


class InceptionWeightsNotFoundError(FileNotFoundError):
    """The Inception graph/weights were not given or not found; the message says how to get them."""


class UnknownExtractorError(ValueError):
    """The Inception path is not one of the known standard files (its SHA-256 is not in KNOWN_SHA256)."""


def sha256_of(path):
    """SHA-256 hex of a file's bytes; of a directory: over each file's relative path and bytes (sorted,
    symlinks not followed, so a link cannot swap content in after the check)."""
    path = pathlib.Path(path)
    if not path.is_dir():
        return _file_digest(path).hexdigest()
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            f = pathlib.Path(root) / name
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
            h.update(_file_digest(f).digest())
    return h.hexdigest()


def _file_digest(path):
    h = hashlib.sha256()
    with fileio.open_nofollow(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h


def _verify(path, allow_unknown):
    """`(standard, digest)`: standard True when `path` is a known standard file; False when unknown
    but allowed."""
    digest = sha256_of(path)
    if digest in KNOWN_SHA256:
        return True, digest
    if not allow_unknown:
        raise UnknownExtractorError(
            f"Inception path {path}: SHA-256 {digest} is not a known inception-2015-12-05 file (the standard FID "
            "network); pass --allow_unknown_extractor (allow_unknown=True) to use it anyway, labelled non-standard"
        )
    return False, digest


def _resolve_path(path):
    if path is None:
        path = os.environ.get(INCEPTION_ENV_VAR)
    if not path:
        raise InceptionWeightsNotFoundError(f"No Inception path given. {_HOW_TO}")
    path = pathlib.Path(path).expanduser()
    if not path.exists():
        raise InceptionWeightsNotFoundError(f"Inception path {path} does not exist. {_HOW_TO}")
    return path


def read_inception_graph_def(path):
    """Reads the frozen `GraphDef` from a .pb file, a directory holding one, or the .tgz tarball.

    Raises:
      InceptionWeightsNotFoundError: nothing usable at `path`.
      ValueError: the file is not a GraphDef with the expected input and pool_3 nodes.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / GRAPH_FILENAME
        if not path.exists():
            raise InceptionWeightsNotFoundError(f"{path} not found. {_HOW_TO}")
    if path.name.endswith((".tgz", ".tar.gz", ".tar")):
        with tarfile.open(path) as tar:
            members = [m for m in tar.getmembers() if m.name.split("/")[-1] == GRAPH_FILENAME]
            if not members:
                raise InceptionWeightsNotFoundError(f"{path} holds no {GRAPH_FILENAME}. {_HOW_TO}")
            data = tar.extractfile(members[0]).read()
    else:
        data = path.read_bytes()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError, a private class
        raise ValueError(f"{path}: not a serialized GraphDef ({e})") from e
    names = {node.name for node in graph_def.node}
    for tensor in (INPUT_TENSOR, OUTPUT_TENSOR):
        if tensor.split(":")[0] not in names:
            raise ValueError(f"{path}: GraphDef has no node {tensor.split(':')[0]!r}; is it {GRAPH_FILENAME}?")
    return graph_def


class InceptionFeatureExtractor:
    """pool_3 features (float32 [B, 2048]) of the standard FID Inception network.

    Call it with float images in [-1, 1], [B, H, W, 3] (or uint8 pixels); it quantizes them to
    uint8 as StyleGAN does (see `fid.quantize_images`) and applies the network's own
    preprocessing. Build it with `load_inception(path)`.

    Attributes:
      name: extractor name used in cache keys and results.
      standard: True: numbers are comparable with published FID.
      metric_suffix: "" (metrics are reported as plain "fid", "kid", ...).
      feature_dim: 2048.
    """

    name = "inception-2015-12-05-pool3"
    standard = True
    metric_suffix = ""
    feature_dim = FEATURE_DIM

    def __init__(self, fn, input_kind, standard=True, digest=None):
        self._fn = fn
        self._input_kind = input_kind  # "graph": float [0, 255] native size; "hub": [-1, 1] 299 x 299
        if not standard:  # an unverified file: its numbers are not comparable with published FID
            # The digest keeps caches of real statistics apart per file (and from the standard one's).
            self.name = f"inception-2015-12-05-pool3-unverified-{(digest or 'unknown')[:12]}"
            self.standard = False
            self.metric_suffix = "_offline"

    def __call__(self, images):
        pixels = fid_lib.quantize_images(images)  # [B, H, W, 3] uint8
        if self._input_kind == "graph":
            x = tf.cast(pixels, tf.float32)
        else:
            x = fid_lib.resize_images(fid_lib.dequantize_images(pixels), (HUB_IMAGE_SIZE, HUB_IMAGE_SIZE))
        out = self._fn(x)
        if isinstance(out, dict):
            out = out["pool_3"]
        return tf.reshape(out, [-1, FEATURE_DIM])  # pool_3 is [B, 1, 1, 2048] in the graph


def _graph_function(graph_def):
    def imported(images):
        (pool3,) = tf.graph_util.import_graph_def(
            graph_def, input_map={INPUT_TENSOR: images}, return_elements=[OUTPUT_TENSOR], name="inception"
        )
        return pool3

    return tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])


def _saved_model_function(path):
    if (path / "tfhub_module.pb").exists():
        try:
            import tensorflow_hub as hub  # optional: the [metrics] extra
        except ImportError as e:
            raise ImportError(f"{path} is a TF-Hub module; loading it needs `pip install tensorflow-hub`") from e
        module = hub.load(str(path))
    else:
        module = tf.saved_model.load(str(path))
    if callable(module):
        return module
    return module.signatures["serving_default"]


def load_inception(path=None, allow_unknown=False):
    """Loads the standard FID Inception network from a local path (see the module docstring).

    Args:
      path: the .tgz, the .pb, a directory holding the .pb, or a TF-Hub/SavedModel directory;
        None reads `$CIPS_INCEPTION_PATH`.
      allow_unknown: load a file whose SHA-256 is not in KNOWN_SHA256, labelled non-standard.

    Returns:
      An `InceptionFeatureExtractor`.

    Raises:
      InceptionWeightsNotFoundError: immediately, when no usable path is given, with the download
        URL and how to pass the file.
      UnknownExtractorError: the file is not a known standard one and `allow_unknown` is False.
    """
    path = _resolve_path(path)
    if path.is_dir() and ((path / "saved_model.pb").exists() or (path / "tfhub_module.pb").exists()):
        return InceptionFeatureExtractor(_saved_model_function(path), "hub", *_verify(path, allow_unknown))
    if path.is_dir():
        path = path / GRAPH_FILENAME  # the digest is the graph file's, however it is named
        if not path.exists():
            raise InceptionWeightsNotFoundError(f"{path} not found. {_HOW_TO}")
    graph_def = read_inception_graph_def(path)  # a file that is no Inception graph fails as such first
    return InceptionFeatureExtractor(_graph_function(graph_def), "graph", *_verify(path, allow_unknown))


def main(argv=None):
    """`python -m cips_tf.metrics.inception --sha256 PATH`: prints the digest KNOWN_SHA256 compares."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--sha256", required=True, metavar="PATH")
    args = parser.parse_args(argv)
    digest = sha256_of(args.sha256)
    print(f"{digest}  {args.sha256}  ({'known: ' + KNOWN_SHA256[digest] if digest in KNOWN_SHA256 else 'unknown'})")


if __name__ == "__main__":
    main()
