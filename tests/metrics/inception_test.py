"""Tests of cips_tf.metrics.inception, offline: error paths and loading of stand-in graphs.

The real inception-2015-12-05 weights cannot be downloaded here, so the loaders are exercised with
tiny graphs that have the same interface: a frozen GraphDef with the real graph's `DecodeJpeg`
front end, `ExpandDims` input and `pool_3` output, and a SavedModel returning {"pool_3": ...}.
"""
import io
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from cips_tf.metrics import fid
from cips_tf.metrics import inception

_PROJECTION = np.random.default_rng(0).normal(size=[3, inception.FEATURE_DIM]).astype(np.float32)


def _stand_in_graph_def(size=8):
    """GraphDef shaped like classify_image_graph_def.pb: JPEG -> ExpandDims -> resize -> ... -> pool_3."""
    graph = tf.Graph()
    with graph.as_default():
        contents = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        decoded = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
        expanded = tf.expand_dims(tf.cast(decoded, tf.float32, name="Cast"), 0, name="ExpandDims")
        resized = tf.compat.v1.image.resize_bilinear(expanded, [size, size], name="ResizeBilinear")
        normalized = (resized - 128.0) / 128.0
        conv = tf.nn.conv2d(normalized, tf.constant(_PROJECTION[None, None]), 1, "VALID")
        tf.nn.avg_pool2d(conv, size, 1, "VALID", name="pool_3")  # [B, 1, 1, 2048]
    return graph.as_graph_def()


def _stand_in_features(images, size=8):
    """Oracle for the stand-in graph on `size` x `size` inputs (its resize is then the identity)."""
    pixels = fid.quantize_images(images).numpy().astype(np.float64)
    return (((pixels - 128.0) / 128.0).mean(axis=(1, 2)) @ _PROJECTION).astype(np.float32)


def test_load_inception_no_path_raises_with_download_url(monkeypatch):
    monkeypatch.delenv(inception.INCEPTION_ENV_VAR, raising=False)
    with pytest.raises(inception.InceptionWeightsNotFoundError) as info:
        inception.load_inception()
    message = str(info.value)
    assert inception.INCEPTION_TGZ_URL in message
    assert inception.INCEPTION_ENV_VAR in message and "offline extractor" in message


def test_load_inception_missing_path_raises_naming_it(tmp_path):
    with pytest.raises(inception.InceptionWeightsNotFoundError, match="does not exist"):
        inception.load_inception(tmp_path / "nowhere.pb")


def test_load_inception_directory_without_graph_raises(tmp_path):
    with pytest.raises(inception.InceptionWeightsNotFoundError, match=inception.GRAPH_FILENAME):
        inception.load_inception(tmp_path)


def test_load_inception_tarball_without_graph_raises(tmp_path):
    path = tmp_path / "inception-2015-12-05.tgz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("readme.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(inception.InceptionWeightsNotFoundError, match="holds no"):
        inception.load_inception(path)


def test_read_inception_graph_def_garbage_file_raises(tmp_path):
    path = tmp_path / "classify_image_graph_def.pb"
    path.write_bytes(b"\xff\xff not a protobuf")
    with pytest.raises(ValueError):
        inception.read_inception_graph_def(path)


def test_read_inception_graph_def_wrong_graph_raises_naming_node(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        tf.constant(1.0, name="something_else")
    path = tmp_path / "other.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(ValueError, match="ExpandDims"):
        inception.read_inception_graph_def(path)


def test_load_inception_env_var_pb_file_gives_pool3_features(tmp_path, monkeypatch):
    path = tmp_path / inception.GRAPH_FILENAME
    path.write_bytes(_stand_in_graph_def().SerializeToString())
    monkeypatch.setenv(inception.INCEPTION_ENV_VAR, str(path))
    # The stand-in is accepted as standard once its digest is registered like the real file's.
    monkeypatch.setitem(inception.KNOWN_SHA256, inception.sha256_of(path), "stand-in classify_image_graph_def.pb")
    extractor = inception.load_inception()
    images = np.random.default_rng(1).uniform(-1, 1, size=[5, 8, 8, 3]).astype(np.float32)
    got = extractor(images).numpy()
    assert got.shape == (5, 2048)
    np.testing.assert_allclose(got, _stand_in_features(images), rtol=1e-4, atol=1e-4)
    assert extractor.standard and extractor.metric_suffix == "" and extractor.feature_dim == 2048


def test_load_inception_tarball_reads_graph_in_place(tmp_path):
    data = _stand_in_graph_def().SerializeToString()
    path = tmp_path / "inception-2015-12-05.tgz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"inception-2015-12-05/{inception.GRAPH_FILENAME}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    extractor = inception.load_inception(path, allow_unknown=True)
    assert not extractor.standard  # an unknown file: its numbers are labelled non-standard
    images = np.random.default_rng(2).uniform(-1, 1, size=[3, 8, 8, 3]).astype(np.float32)
    np.testing.assert_allclose(extractor(images).numpy(), _stand_in_features(images), rtol=1e-4, atol=1e-4)
    # Other sizes are resized by the graph itself, batch size is free.
    assert extractor(np.zeros([2, 16, 16, 3], np.float32)).shape == (2, 2048)


class _HubStandIn(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def __call__(self, images):
        mean = tf.reduce_mean(images, axis=[1, 2])  # [B, 3]
        return {"pool_3": tf.matmul(mean, tf.constant(_PROJECTION))}


def test_load_inception_saved_model_dir_resizes_to_299_in_unit_range(tmp_path):
    tf.saved_model.save(_HubStandIn(), str(tmp_path / "hub"))
    extractor = inception.load_inception(tmp_path / "hub", allow_unknown=True)
    images = np.random.default_rng(3).uniform(-1, 1, size=[2, 8, 8, 3]).astype(np.float32)
    got = extractor(images).numpy()
    resized = tf.image.resize(fid.dequantize_images(fid.quantize_images(images)), (299, 299)).numpy()
    want = resized.mean(axis=(1, 2)) @ _PROJECTION
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_load_inception_unknown_file_is_refused_naming_digest_and_flag(tmp_path):
    path = tmp_path / inception.GRAPH_FILENAME
    path.write_bytes(_stand_in_graph_def().SerializeToString())
    with pytest.raises(inception.UnknownExtractorError) as e:
        inception.load_inception(path)
    message = str(e.value)
    assert inception.sha256_of(path) in message and "--allow_unknown_extractor" in message and str(path) in message
    extractor = inception.load_inception(path, allow_unknown=True)
    assert not extractor.standard and extractor.metric_suffix == "_offline" and "unverified" in extractor.name


def test_sha256_of_directory_covers_every_file(tmp_path):
    (tmp_path / "hub" / "variables").mkdir(parents=True)
    (tmp_path / "hub" / "saved_model.pb").write_bytes(b"graph")
    (tmp_path / "hub" / "variables" / "variables.index").write_bytes(b"index")
    before = inception.sha256_of(tmp_path / "hub")
    (tmp_path / "hub" / "variables" / "variables.index").write_bytes(b"indey")
    assert inception.sha256_of(tmp_path / "hub") != before
    import hashlib

    (tmp_path / "f.pb").write_bytes(b"abc")
    assert inception.sha256_of(tmp_path / "f.pb") == hashlib.sha256(b"abc").hexdigest()  # a file: its plain digest
