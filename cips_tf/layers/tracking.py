"""Makes layers kept in Python lists visible to `tf.train.Checkpoint`.

Keras 3 tracks list-held sublayers for its own `.keras` format, but TensorFlow's object-based
checkpoints (`tf.train.Checkpoint`, used for training checkpoints) only see attributes that are
themselves trackable. Each listed layer is therefore also set as a named attribute.
"""


def expose_for_checkpoint(owner, layers):
    for layer in layers:
        setattr(owner, f"ckpt_{layer.name}", layer)
