"""GAN losses (per example; reduce with `tf.nn.compute_average_loss` against the global batch).

Official CIPS / StyleGAN2: non-saturating logistic loss, R1 penalty on real images applied lazily.
"""
import tensorflow as tf


def d_logistic_loss(real_logits, fake_logits):
    """`softplus(D(fake)) + softplus(-D(real))` per example: `[B]`."""
    return tf.nn.softplus(tf.reshape(fake_logits, [-1])) + tf.nn.softplus(-tf.reshape(real_logits, [-1]))


def g_nonsaturating_loss(fake_logits):
    """`softplus(-D(G(z)))` per example: `[B]`."""
    return tf.nn.softplus(-tf.reshape(fake_logits, [-1]))


def r1_penalty(discriminator, real_images):
    """`||grad_x sum(D(x))||^2` per example (`[B]`) and the logits, computed in float32.

    As official, the gradient is that of the summed logits of the (local) batch, so the minibatch
    standard deviation layer couples the samples exactly as it does in the official code.
    """
    real_images = tf.cast(real_images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(real_images)
        logits = tf.cast(discriminator(real_images, training=True), tf.float32)
        total = tf.reduce_sum(logits)
    grads = tape.gradient(total, real_images)
    return tf.reduce_sum(tf.square(tf.cast(grads, tf.float32)), axis=[1, 2, 3]), logits
