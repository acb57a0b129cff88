"""FID of a class-conditional generator per class and overall (cips_tf.metrics.protocol)."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cips_tf import data as data_lib
from cips_tf import latents
from cips_tf.metrics import fid, protocol
from cips_tf.models.generator import CIPSGenerator
from tiny_models import TINY

from .evaluate_test import _ProjectionExtractor as _Projection


def _ProjectionExtractor():  # evaluate_test's stand-in, at this file's 16 x 16 x 3 images and 5 dims
    return _Projection(pixels=16 * 16 * 3, dim=5)

NAMES = ["a", "b"]


@pytest.fixture(scope="module")
def conditional():
    tf.keras.utils.set_random_seed(3)
    return CIPSGenerator(size=16, num_classes=2, **TINY)


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("classes")
    rng = np.random.default_rng(0)
    for c, name in enumerate(NAMES):
        (root / name).mkdir()
        for i in range(6 + 2 * c):  # 6 of a, 8 of b
            image = np.clip(rng.normal(60 + 120 * c, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / name / f"{i:02d}.png")
    cfg = data_lib.default_config()
    cfg.source, cfg.path, cfg.labels = "folder", str(root), "folder"
    return cfg


def test_sample_fn_label_pool_gives_each_seed_its_pool_class(conditional):
    pool = np.array([1, 0, 1])
    fn = protocol.make_sample_fn(conditional, batch_size=4, first_seed=10, labels=pool, noise=False)
    images = fn(4, 10)  # seeds 10..13 -> pool[0], pool[1], pool[2], pool[0]
    for j, label in enumerate([1, 0, 1, 1]):
        one = protocol.make_sample_fn(conditional, batch_size=1, first_seed=10 + j, labels=label, noise=False)(1, 10 + j)
        # batch 4 against batch 1: float32 sums in another order (the unclipped RGB reaches ~13), so
        # relative; a wrong class differs by whole units
        np.testing.assert_allclose(images[j], one[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="class-conditional.*labels"):
        protocol.make_sample_fn(conditional, batch_size=4)


def test_real_labels_follow_evaluation_order(labelled_folder):
    labels = protocol.real_labels(labelled_folder)
    assert labels.tolist() == [0] * 6 + [1] * 8
    batches = protocol.real_image_batches(labelled_folder, 16, 5)
    assert np.concatenate([l for _, l in batches.as_numpy_iterator()]).tolist() == labels.tolist()


def test_per_class_fid_compares_each_class_with_its_own_real_images(conditional, labelled_folder):
    extractor = _ProjectionExtractor()
    results = protocol.evaluate_per_class(conditional, labelled_folder, extractor, num_samples=7, batch_size=4,
                                          class_names=NAMES)
    assert sorted(results) == NAMES
    assert (results["a"]["num_real"], results["b"]["num_real"]) == (6, 7)  # class a has only 6
    # Oracle: the class's real files and the class's renders through the same extractor.
    for name, c in (("a", 0), ("b", 1)):
        files = sorted((pathlib_root(labelled_folder) / name).iterdir())[: results[name]["num_real"]]
        real = np.stack([np.asarray(Image.open(f)) for f in files]).astype(np.float32) / 127.5 - 1.0
        r = extractor(real)
        fake = protocol.make_sample_fn(conditional, 4, 0, labels=c)
        n = results[name]["num_fake"]
        f = np.concatenate([extractor(fake(4, s)) for s in range(0, -(-n // 4))])[:n]
        expected = fid.frechet_distance(r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False))
        assert results[name]["fid_offline"] == pytest.approx(expected, rel=1e-3, abs=1e-3)


def pathlib_root(cfg):
    import pathlib

    return pathlib.Path(cfg.path)


def test_cips_evaluate_reports_overall_and_per_class_fid(conditional, labelled_folder, tmp_path):
    from cips_tf.metrics import report  # the library call cips-evaluate makes (no flags in this process)
    from cips_tf.loading import LoadedGenerator

    loaded = LoadedGenerator(conditional, None, None, "memory", class_names=NAMES)
    summary, _ = report.evaluate(loaded, tmp_path, labelled_folder, _ProjectionExtractor(), ("fid",),
                                       num_samples=8, num_real=8, batch_size=4)
    assert np.isfinite(summary["metrics"]["fid8_offline"]["value"])
    assert sorted(summary["per_class"]) == NAMES
    assert summary["per_class"]["a"]["num_real"] == 6 and summary["per_class"]["b"]["num_real"] == 8
