"""cips_tf.showcase: upscaled, labelled panels side by side; and the training progress of a checkpoint
(cips_tf.synthesis.tasks, the compare task's label)."""
import numpy as np
import tensorflow as tf

from cips_tf import showcase
from cips_tf.synthesis import tasks


def test_upscale_is_nearest_neighbour():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    up = showcase.upscale(image, 3)
    assert up.shape == (6, 9, 3)
    for y in range(6):
        for x in range(9):
            np.testing.assert_array_equal(up[y, x], image[y // 3, x // 3])


def test_side_by_side_places_each_upscaled_grid_under_its_label():
    a = np.full((4, 4, 3), 10, np.uint8)
    b = np.full((4, 6, 3), 200, np.uint8)
    out = showcase.side_by_side([("A", a), ("B", b)], scale=2, font_size=10)
    label = 10 + 8
    top = showcase.MARGIN + label
    np.testing.assert_array_equal(out[top:top + 8, showcase.MARGIN:showcase.MARGIN + 8], 10)
    x_b = out.shape[1] - showcase.MARGIN - 12
    np.testing.assert_array_equal(out[top:top + 8, x_b:x_b + 12], 200)
    assert (out[: showcase.MARGIN] == 255).all()  # white margin
    assert (out[showcase.MARGIN:top, showcase.MARGIN:showcase.MARGIN + 8] < 255).any()  # the label is drawn


def test_training_progress_reads_step_and_clock(tmp_path):
    step = tf.Variable(7, dtype=tf.int64)
    clock = tf.Variable(123.5, dtype=tf.float64)
    with_clock = tf.train.Checkpoint(step=step, train_seconds=clock).save(str(tmp_path / "a" / "ckpt"))
    without = tf.train.Checkpoint(step=step).save(str(tmp_path / "b" / "ckpt"))
    assert tasks.training_progress(with_clock) == (7, 123.5)
    assert tasks.training_progress(without) == (7, None)
    assert tasks.training_progress(tmp_path / "nothing") is None
