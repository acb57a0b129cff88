"""SavedModel export of a class-conditional generator: the class input (`class_index`) round-trips through
tf.saved_model.load, is required and range-checked, and the class names are recorded."""
import json

import numpy as np
import pytest
import tensorflow as tf

from cips_tf import latents
from cips_tf.coords import make_grid
from cips_tf.export import saved_model
from cips_tf.export.runtimes import FormatError, export_formats
from cips_tf.models.generator import CIPSGenerator
from cips_tf.loading import load_generator

TINY = dict(size=8, hidden_size=8, style_dim=8, n_mlp=2, widths=[16, 8])
NAMES = ["cat", "dog", "emu"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tf.keras.utils.set_random_seed(2)
    g = CIPSGenerator(num_classes=3, **TINY)
    w_avg = latents.estimate_w_avg(g, num_samples=30, batch_size=30)
    path = saved_model.export_generator(g, w_avg, tmp_path_factory.mktemp("export"), "cond", warmup=False,
                                        class_names=NAMES)
    return g, w_avg, path


def test_conditional_export_round_trip_with_class(exported):
    g, w_avg, path = exported
    loaded = tf.saved_model.load(str(path))
    z = latents.z_from_seed([4, 4], 8)
    psi = tf.constant([1.0, 1.0])
    inputs = {"z": z, "truncation_psi": psi, "class_index": tf.constant([0, 2], tf.int64)}
    assert sorted(loaded.signatures["serving_default"].structured_input_signature[1]) == ["class_index",
                                                                                          "truncation_psi", "z"]
    images = loaded.signatures["serving_default"](**inputs)["images"].numpy()
    w = latents.styles(g, z, labels=np.array([0, 2]))
    expected = latents.quantize_images(g.synthesis(w, make_grid(2, 8), randomize_noise=False)).numpy()
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() > 0  # same z, classes 0 and 2 differ
    mapped = loaded.signatures["mapping"](z=z, **{"class_index": tf.constant([0, 2], tf.int64)})["w"].numpy()
    np.testing.assert_allclose(mapped, w.numpy(), atol=1e-5)
    seeded = loaded.signatures["from_seed"](seed=tf.constant([4, 4], tf.int64), truncation_psi=psi,
                                            **{"class_index": tf.constant([0, 2], tf.int64)})["images"].numpy()
    np.testing.assert_array_equal(seeded, images)
    rendered = loaded.signatures["render"](coords=make_grid(2, 8), **inputs)["images"].numpy()
    np.testing.assert_array_equal(rendered, images)


def test_conditional_export_requires_and_range_checks_the_class(exported):
    _, _, path = exported
    loaded = tf.saved_model.load(str(path))
    z = latents.z_from_seed([1], 8)
    with pytest.raises(TypeError, match="class_index"):
        loaded.signatures["serving_default"](z=z, truncation_psi=tf.constant([1.0]))
    for bad in (3, -1):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"input class_index must be a class index in 0..2"):
            loaded.signatures["serving_default"](z=z, truncation_psi=tf.constant([1.0]),
                                                 **{"class_index": tf.constant([bad], tf.int64)})


def test_conditional_export_records_class_names_and_reloads_as_keras(exported):
    _, _, path = exported
    metadata = json.loads((path / saved_model.METADATA_FILE).read_text())
    assert metadata["num_classes"] == 3 and metadata["class_names"] == NAMES
    loaded = load_generator(path)
    assert loaded.class_names == NAMES and loaded.generator.num_classes == 3


def test_unconditional_export_has_no_class_input_and_conditional_refuses_other_formats(tmp_path, exported):
    g = CIPSGenerator(**TINY)
    module = saved_model.CIPSServingModule(g, np.zeros(8, np.float32))
    for name in ("serving_default", "from_seed", "render", "mapping"):
        assert "class_index" not in [spec.name for spec in module.functions[name].input_signature]
    assert [spec.name for spec in module.functions["serving_default"].input_signature] == ["z", "truncation_psi"]
    assert "class_index" not in saved_model.warmup_inputs(module)["mapping"]
    with pytest.raises(FormatError, match="class-conditional model exports as saved_model only"):
        export_formats(exported[0], exported[1], tmp_path, "x", ["saved_model", "onnx"])
