"""CIPSGAN: the generator, the discriminator, the EMA generator and one adversarial training step."""
import keras
import tensorflow as tf

from cips_tf import losses
from cips_tf.latents import labels_for_fakes
from cips_tf.models.samplers import FullGridSampler

# Random streams: every draw of a step is `stateless_*(seed=[seed * SEED_STRIDE + salt, step])`, with
# `salt = stream * STREAM_STRIDE + part + offset`; the streams (D step, G step) and the parts
# (coordinates, latents, per-layer noise) get disjoint salts, so no two draws share a seed. The
# coordinates are the exception: ONE draw per step (seeded as the D step's always were) that both
# halves render, as the official training renders the data loader's one `converted` tensor in the D
# and the G half of an iteration (saic-mdal/CIPS train.py); latents and noise are drawn per half.
SEED_STRIDE = 1000003  # a prime larger than any salt
STREAM_STRIDE = 1000
D_STREAM, G_STREAM = 1, 2
# ADA's augmentations draw from their own stream; one part per image set D sees.
AUGMENT_STREAM = 3
AUG_D_REAL, AUG_D_FAKE, AUG_R1_REAL, AUG_G_FAKE = 0, 1, 2, 3
COORDS_SALT, LATENTS_SALT, NOISE_SALT = 0, 10, 100  # noise: + layer index (< 900 layers)
Z_OFFSET, Z_MIX_OFFSET, MIX_PROB_OFFSET, MIX_CUT_OFFSET = 0, 1, 2, 3  # within LATENTS_SALT
STEP_COORDS_SALT = D_STREAM * STREAM_STRIDE + COORDS_SALT  # the step's one coordinate draw


def lazy_regularization_adam(learning_rate, beta_1, beta_2, epsilon, reg_every):
    """Adam with StyleGAN2's lazy-regularization adjustment: `ratio = k / (k + 1)` scales the
    learning rate and raises both betas to that power (official: k = 4 for G, 16 for D)."""
    ratio = reg_every / (reg_every + 1.0) if reg_every else 1.0
    return keras.optimizers.Adam(
        learning_rate=learning_rate * ratio, beta_1=beta_1**ratio, beta_2=beta_2**ratio, epsilon=epsilon
    )


class EmaRampup:
    """StyleGAN2-ADA's EMA ramp-up: the half-life is `min(half_life_kimg * 1000, images_seen * rampup)`
    images, so early in a run G_ema follows G closely instead of averaging in the random
    initialization (`decay = 0.5 ** (batch / half_life_images)`; ADA uses rampup 0.05)."""

    def __init__(self, global_batch_size, half_life_kimg=10.0, rampup=0.05):
        self.global_batch_size = float(global_batch_size)
        self.half_life_images = float(half_life_kimg) * 1000.0
        self.rampup = float(rampup)

    def __call__(self, step):
        """The decay of the update after `step` steps (a scalar float32 tensor)."""
        seen = (tf.cast(step, tf.float32) + 1.0) * self.global_batch_size
        half_life = tf.minimum(self.half_life_images, seen * self.rampup)
        return tf.pow(0.5, self.global_batch_size / tf.maximum(half_life, 1e-8))


def ema_decay_for_batch(global_batch_size, half_life_kimg=10.0):
    """StyleGAN2's EMA: the generator average has a half-life of `half_life_kimg` thousand images,
    so `decay = 0.5 ** (batch / (half_life_kimg * 1000))`; at batch 32 this is the official
    `0.5 ** (32 / (10 * 1000))`."""
    return 0.5 ** (global_batch_size / (half_life_kimg * 1000.0))


class AdaptiveAugment:
    """StyleGAN2-ADA's augmentation probability for `CIPSGAN`: a pipeline (`cips_tf.augment.AugmentPipe`)
    applied to every image D sees with probability `p`, and, when `target` is set, the overfitting
    heuristic that steers `p`.

    Every `interval` steps, `r_t = E[sign(D(real))]` over the real logits of those steps' D updates
    (all replicas), and `p += sign(r_t - target) * (batch * interval) / (kimg * 1000)`, clipped to
    [0, 1] (the reference clips at 0 only; above 1 every gate is already open, so the clip only
    keeps p from wandering above 1). `target=None`: a fixed `p`.

    Args:
        pipe: the `AugmentPipe`.
        p: the initial (or fixed) probability.
        target: the r_t target (ADA: 0.6), or None for a fixed p.
        interval: steps between adjustments (ADA: 4).
        kimg: thousands of images for p to go from 0 to 1 (ADA: 500).

    Create inside `strategy.scope()`: `p`, `rt` (the last r_t) and the accumulators are variables.
    """

    def __init__(self, pipe, p=0.0, target=0.6, interval=4, kimg=500.0):
        self.pipe = pipe
        self.target = None if target is None else float(target)
        self.interval = int(interval)
        self.kimg = float(kimg)
        self.p = tf.Variable(float(p), dtype=tf.float32, trainable=False, name="augment_p")
        self.rt = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="augment_rt")
        self.sign_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="augment_sign_sum")
        self.sign_count = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="augment_sign_count")

    @property
    def adaptive(self):
        return self.target is not None

    def observe(self, sign_sum, count):
        """Adds a step's (global) sum of `sign(D(real))` and its number of logits."""
        self.sign_sum.assign_add(sign_sum)
        self.sign_count.assign_add(count)

    def adjust(self, step, global_batch):
        """After step `step` (1-based, as ADA's batch_idx): every `interval` steps, r_t from the
        accumulated signs moves p, and the accumulators restart."""
        due = tf.equal(tf.math.floormod(step, self.interval), 0)
        rt = self.sign_sum / tf.maximum(self.sign_count, 1.0)
        delta = tf.sign(rt - self.target) * (global_batch * self.interval) / (self.kimg * 1000.0)
        self.p.assign(tf.where(due, tf.clip_by_value(self.p + delta, 0.0, 1.0), self.p))
        self.rt.assign(tf.where(due, rt, self.rt))
        self.sign_sum.assign(tf.where(due, 0.0, self.sign_sum))
        self.sign_count.assign(tf.where(due, 0.0, self.sign_count))


class CIPSGAN(keras.Model):
    """Holds G, D and G_ema and runs the official CIPS / StyleGAN2 training step.

    A training harness, saved through `tf.train.Checkpoint` (train_lib), not as a .keras file: the
    models it holds are each serializable, so it is not registered as a Keras object itself.

    Per step (as official train.py): a D step on the non-saturating logistic loss; every
    `d_reg_every` steps an extra D step on the lazy R1 penalty `gamma / 2 * ||grad D(x)||^2 *
    d_reg_every`; a G step on the non-saturating loss; then `G_ema <- G + decay * (G_ema - G)`.

    Distribution: the step runs per replica. Latents and noise are drawn statelessly for the
    GLOBAL batch from `(seed, step)` and each replica takes its slice, and every per-example loss
    is reduced with `tf.nn.compute_average_loss(global_batch_size=...)`; gradients are summed
    across replicas by the optimizer. So 1 replica and N replicas with the same global batch give
    the same update, except for the minibatch-stddev layer, which (as in official DDP training)
    groups samples within a replica.

    Args:
        generator, discriminator, g_ema: the models (g_ema starts as a copy of generator).
        r1_gamma: R1 weight (10).
        d_reg_every: lazy R1 interval (16).
        ema_decay: EMA decay per step (a float), or `ema_rampup(...)` for StyleGAN2-ADA's ramp-up.
        style_mixing_prob: probability of style mixing per sample (0, as official CIPS).
        seed: base seed of the latent / noise streams.
        sampler: training-coordinate sampler (`cips_tf.models.samplers`); default the native grid
            (`FullGridSampler`); patch and cylindrical training swap it.
        jit_compile: compile the per-replica loss/gradient computations with XLA.
        augment: an `AdaptiveAugment` (StyleGAN2-ADA), or None: D sees the images as they are.
            Real and fake images of the D step, the reals of the R1 term (the penalty is the gradient
            w.r.t. the image BEFORE augmentation, as ADA) and the fakes of the G step are augmented,
            each with its own stateless draws for the global batch, sliced per replica.

    Class-conditional training (G and D built with `num_classes > 0`): the per-replica batch is
    `(images [b, H, W, 3], labels [b] int32)`. As StyleGAN2-ADA, the fakes' labels are real labels
    drawn from the dataset: here simply the labels of the same step's real batch
    (`latents.labels_for_fakes`), which are uniform draws from the dataset's labels, so the classes are
    generated as often as the data holds them. D sees each image with its label (projection);
    augmentation touches the images only.
    """

    def __init__(self, generator, discriminator, g_ema, r1_gamma=10.0, d_reg_every=16, ema_decay=0.999,
                 style_mixing_prob=0.0, seed=0, sampler=None, jit_compile=False, augment=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.g_ema = g_ema
        self.r1_gamma = float(r1_gamma)
        self.d_reg_every = int(d_reg_every)
        self.ema_decay = ema_decay if callable(ema_decay) else float(ema_decay)
        self.style_mixing_prob = float(style_mixing_prob)
        self.seed = int(seed)
        self.sampler = sampler or FullGridSampler(generator.size, generator.height, generator.width)
        self.jit_compile = bool(jit_compile)
        self.augment = augment
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("d_loss", "g_loss", "r1_penalty", "real_score", "fake_score", "rt")
        }
        self._d_grads_fn = tf.function(self._d_grads, jit_compile=True) if self.jit_compile else self._d_grads
        self._g_grads_fn = tf.function(self._g_grads, jit_compile=True) if self.jit_compile else self._g_grads
        self._r1_grads_fn = tf.function(self._r1_grads, jit_compile=True) if self.jit_compile else self._r1_grads

    @property
    def metrics(self):
        return list(self.trackers.values())

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def build_optimizers(self):
        """Creates both optimizers' slots; call inside `strategy.scope()` before the first step."""
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def copy_to_ema(self):
        for e, g in zip(self.g_ema.trainable_variables, self.generator.trainable_variables):
            e.assign(g)

    # -- random streams ------------------------------------------------------------------------

    def _seed(self, salt):
        return tf.stack([tf.constant(self.seed, tf.int64) * SEED_STRIDE + salt, self.step.read_value()])

    @staticmethod
    def _local(tensor, rid, local_batch):
        """This replica's slice of a tensor drawn for the global batch."""
        return tensor[rid * local_batch : (rid + 1) * local_batch]

    def _augment(self, images, part, global_batch, offset):
        """ADA's augmentation of the images D is about to see (identity without `augment`)."""
        if self.augment is None:
            return images
        seed = self._seed(AUGMENT_STREAM * STREAM_STRIDE + part)
        return self.augment.pipe(images, self.augment.p, seed, global_batch=global_batch, offset=offset)

    @staticmethod
    def _replica_offset(local_batch):
        """Index of this replica's first image in the global batch."""
        ctx = tf.distribute.get_replica_context()
        rid = ctx.replica_id_in_sync_group if ctx is not None else 0
        return rid * local_batch

    def _sample_latents(self, global_batch, salt, rid, local_batch):
        """Latents for the local slice of a global batch: `z`, plus `z_mix` and the per-sample
        crossover layer `mix_cut` when style mixing is on (`num_ws` means no mixing)."""
        g = self.generator

        def draw(op, shape, offset, **kwargs):
            return self._local(op(shape, seed=self._seed(salt + offset), **kwargs), rid, local_batch)

        latents = {"z": draw(tf.random.stateless_normal, [global_batch, g.style_dim], Z_OFFSET)}
        if self.style_mixing_prob > 0:
            latents["z_mix"] = draw(tf.random.stateless_normal, [global_batch, g.style_dim], Z_MIX_OFFSET)
            u = draw(tf.random.stateless_uniform, [global_batch], MIX_PROB_OFFSET)
            cut = draw(tf.random.stateless_uniform, [global_batch], MIX_CUT_OFFSET, minval=1, maxval=g.num_ws,
                       dtype=tf.int32)
            latents["mix_cut"] = tf.where(u < self.style_mixing_prob, cut, g.num_ws)
        return latents

    def _generate(self, inputs):
        """G(inputs) in training mode; with style mixing, layers from `mix_cut` on use `z_mix`."""
        g = self.generator
        label = g.label_kwargs(inputs.get("label"))
        if "z_mix" not in inputs:
            latents = {"z": inputs["z"], **({"label": inputs["label"]} if label else {})}
        else:
            w1, w2 = g.mapping(inputs["z"], **label), g.mapping(inputs["z_mix"], **label)
            layer = tf.range(g.num_ws)[None, :, None]  # [1, L, 1]
            latents = {"ws": tf.where(layer < inputs["mix_cut"][:, None, None], w1[:, None, :], w2[:, None, :])}
        return g({**latents, "coords": inputs["coords"], "noise": inputs["noise"]}, training=True,
                 direct_embedding=self.sampler.direct_embedding)

    def _sample_noise(self, global_batch, coords_shape, salt, rid, local_batch):
        h, w = coords_shape[1], coords_shape[2]
        return [
            self._local(tf.random.stateless_normal([global_batch, h, w, 1], seed=self._seed(salt + i)), rid,
                        local_batch)
            for i in range(self.generator.num_noise)
        ]

    def _split(self, batch):
        """A per-replica batch -> `(images, labels)`: labels None for an unconditional model (a
        `(images, labels)` pair then keeps only its images, as `fit()` passes them)."""
        if isinstance(batch, (tuple, list)):
            images, labels = batch[0], (batch[1] if len(batch) > 1 else None)
        else:
            images, labels = batch, None
        if not getattr(self.generator, "num_classes", 0):
            return images, None
        if labels is None:
            raise ValueError("a class-conditional CIPSGAN (num_classes="
                             f"{self.generator.num_classes}) needs (images, labels) batches: set data.labels")
        return images, tf.cast(labels, tf.int32)

    def _d(self, images, labels, training=True):
        """D's logits, with the labels (projection conditioning) when conditional."""
        if labels is None:
            return self.discriminator(images, training=training)
        return self.discriminator(images, labels=labels, training=training)

    def _sample(self, real_images, stream, real_labels=None):
        """Generator inputs for this replica's slice (and the pixel index of the real images they stand
        for); `stream` (D_STREAM or G_STREAM) keeps the latent and noise streams of the two halves
        disjoint, while the coordinates are the step's one draw (the same tensor in both halves: a
        stateless function of (seed, step), and the step advances only at the end of the G half; the
        G half needs no real pixels and ignores the index); conditional: the fakes' labels
        (`labels_for_fakes`)."""
        ctx = tf.distribute.get_replica_context()
        num_replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        rid = ctx.replica_id_in_sync_group if ctx is not None else 0
        local_batch = real_images.shape[0]
        if local_batch is None:
            raise ValueError("CIPSGAN needs a static per-replica batch size (batch with drop_remainder=True)")
        global_batch = local_batch * num_replicas
        base = STREAM_STRIDE * stream
        coords, pixel_index = self.sampler.sample(global_batch, self._seed(STEP_COORDS_SALT))
        inputs = self._sample_latents(global_batch, base + LATENTS_SALT, rid, local_batch)
        if real_labels is not None:
            inputs["label"] = labels_for_fakes(real_labels)
        inputs["coords"] = self._local(coords, rid, local_batch)
        inputs["noise"] = self._sample_noise(global_batch, coords.shape, base + NOISE_SALT, rid, local_batch)
        if pixel_index is not None:
            pixel_index = self._local(pixel_index, rid, local_batch)
        return inputs, pixel_index, global_batch

    # -- gradient computations (optionally XLA-compiled per replica) ---------------------------

    def _d_grads(self, real, fake, global_batch, offset=0, real_labels=None, fake_labels=None):
        d = self.discriminator
        with tf.GradientTape() as tape:
            fake = self._augment(fake, AUG_D_FAKE, global_batch, offset)
            real = self._augment(real, AUG_D_REAL, global_batch, offset)
            fake_logits = tf.cast(self._d(fake, fake_labels), tf.float32)
            real_logits = tf.cast(self._d(real, real_labels), tf.float32)
            loss = tf.nn.compute_average_loss(losses.d_logistic_loss(real_logits, fake_logits),
                                              global_batch_size=global_batch)
            scaled = self.d_optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, d.trainable_variables)
        metrics = {
            "d_loss": loss,
            "real_score": tf.nn.compute_average_loss(tf.reshape(real_logits, [-1]), global_batch_size=global_batch),
            "fake_score": tf.nn.compute_average_loss(tf.reshape(fake_logits, [-1]), global_batch_size=global_batch),
            # ADA's overfitting heuristic r_t = E[sign(D(real))], logged with or without ADA (it climbs
            # towards 1 as D memorises the reals)
            "rt": tf.nn.compute_average_loss(tf.reshape(tf.sign(real_logits), [-1]), global_batch_size=global_batch),
        }
        if self.augment is not None and self.augment.adaptive:  # ADA's overfitting heuristic (this replica's sum)
            metrics["real_sign_sum"] = tf.reduce_sum(tf.sign(real_logits))
        return grads, metrics

    def _r1_grads(self, real, global_batch, offset=0, labels=None):
        def d_of_augmented(images, training):  # R1 differentiates w.r.t. the image before augmentation
            if self.augment is not None:
                images = self._augment(images, AUG_R1_REAL, global_batch, offset)
            return self._d(images, labels, training=training)

        d = self.discriminator if self.augment is None and labels is None else d_of_augmented
        with tf.GradientTape() as tape:
            penalty, real_logits = losses.r1_penalty(d, real)
            r1 = tf.nn.compute_average_loss(penalty, global_batch_size=global_batch)
            # The penalty (a gradient w.r.t. the input) does not reach the last layer's bias, whose
            # gradient would be None. Adding 0 * a logit (official: `+ 0 * real_pred[0]`) connects
            # every D variable, so each gets a (zero) gradient and the optimizer applies all of them.
            # (`unconnected_gradients=ZERO` would say the same but fails on Keras 3 variables.)
            loss = r1 * (self.r1_gamma / 2.0 * self.d_reg_every) + 0.0 * real_logits[0, 0]
            scaled = self.d_optimizer.scale_loss(loss)
        return tape.gradient(scaled, self.discriminator.trainable_variables), r1

    def _g_grads(self, inputs, global_batch, offset=0):
        g = self.generator
        with tf.GradientTape() as tape:
            fake = self._generate(inputs)
            fake = self._augment(fake, AUG_G_FAKE, global_batch, offset)
            fake_logits = tf.cast(self._d(fake, inputs.get("label")), tf.float32)
            loss = tf.nn.compute_average_loss(losses.g_nonsaturating_loss(fake_logits), global_batch_size=global_batch)
            scaled = self.g_optimizer.scale_loss(loss)
        return tape.gradient(scaled, g.trainable_variables), loss

    # -- the step ------------------------------------------------------------------------------

    def d_step(self, real_images):
        """The D part of a step on a per-replica batch `[b, H, W, 3]` (conditional: `(images, labels)`):
        G renders (D stream), D takes one logistic-loss update. Returns the real images D saw (cut by
        the sampler; conditional: `(images, labels)`), which the R1 part regularizes, and the metrics."""
        real_images, real_labels = self._split(real_images)
        d_inputs, pixel_index, global_batch = self._sample(real_images, stream=D_STREAM, real_labels=real_labels)
        fake = tf.stop_gradient(self._generate(d_inputs))
        real = self.sampler.real(real_images, pixel_index)
        label_args = {} if real_labels is None else {"real_labels": real_labels, "fake_labels": d_inputs["label"]}
        grads, metrics = self._d_grads_fn(real, fake, global_batch, self._replica_offset(real.shape[0]), **label_args)
        self.d_optimizer.apply(grads, self.discriminator.trainable_variables)
        if "real_sign_sum" in metrics:
            metrics = dict(metrics)
            self._observe_signs(metrics.pop("real_sign_sum"), float(real.shape[0]))
        self._track(metrics)
        return (real if real_labels is None else (real, real_labels)), metrics

    def _observe_signs(self, sign_sum, count):
        """Accumulates ADA's sign(D(real)) over all replicas (a merge_call sums the replicas' shares)."""
        def observe(strategy, s, n):
            s = strategy.reduce(tf.distribute.ReduceOp.SUM, s, axis=None)
            n = strategy.reduce(tf.distribute.ReduceOp.SUM, n, axis=None)
            self.augment.observe(s, n)

        ctx = tf.distribute.get_replica_context()
        if ctx is not None and tf.distribute.has_strategy():
            ctx.merge_call(observe, args=(sign_sum, tf.constant(count)))
        else:
            self.augment.observe(sign_sum, count)

    def _apply_r1(self, real):
        real, labels = self._split(real)
        r1_grads, r1 = self._r1_grads_fn(real, real.shape[0] * self._num_replicas(),
                                         self._replica_offset(real.shape[0]),
                                         **({} if labels is None else {"labels": labels}))
        self.d_optimizer.apply(r1_grads, self.discriminator.trainable_variables)
        return r1

    def r1_step(self, real):
        """The lazy R1 part (every `d_reg_every` steps, after `d_step`): one D update on
        `gamma / 2 * ||grad D(real)||^2 * d_reg_every`. Returns the per-replica share of the penalty."""
        r1 = self._apply_r1(real)
        self._track({"r1_penalty": r1})
        return r1

    def g_step(self, real):
        """The G part (after `d_step` and any `r1_step`): G takes one non-saturating update (G
        stream), then `G_ema` follows and the step counter advances. `real` gives the local batch."""
        real, real_labels = self._split(real)
        g_inputs, _, global_batch = self._sample(real, stream=G_STREAM, real_labels=real_labels)
        g_grads, g_loss = self._g_grads_fn(g_inputs, global_batch, self._replica_offset(real.shape[0]))
        self.g_optimizer.apply(g_grads, self.generator.trainable_variables)

        def finish(strategy=None):
            self.update_ema()
            self.step.assign_add(1)
            if self.augment is not None and self.augment.adaptive:
                self.augment.adjust(self.step.read_value(), float(global_batch))

        ctx = tf.distribute.get_replica_context()
        if ctx is not None and tf.distribute.has_strategy():
            ctx.merge_call(finish)
        else:
            finish()
        self._track({"g_loss": g_loss})
        return g_loss

    @staticmethod
    def _num_replicas():
        ctx = tf.distribute.get_replica_context()
        return ctx.num_replicas_in_sync if ctx is not None else 1

    def _track(self, metrics, r1_weight=None):
        """Each value is this replica's share of the global mean; times the replica count it is the
        replica-local mean, and the trackers (summed across replicas on read) average those."""
        num_replicas = self._num_replicas()
        for name, value in metrics.items():
            weight = r1_weight if name == "r1_penalty" else None
            self.trackers[name].update_state(value * num_replicas, sample_weight=weight)

    def train_step(self, data, do_r1=None):
        """One training step on a per-replica batch of real images `[b, H, W, 3]` in [-1, 1]:
        `d_step`, `r1_step` on regularization steps, `g_step` (the training loop runs the three
        parts as separate compiled functions, so each is traced once).

        `do_r1`: Python bool (`step % d_reg_every == 0`), or None to decide in-graph from the step
        counter (as `fit()` calls it; not under a multi-replica strategy, where the optimizer's
        cross-replica update cannot sit in a `tf.cond`). Returns the per-replica share of each
        metric (sum across replicas gives the global mean).
        """
        real, metrics = self.d_step(data)
        metrics = dict(metrics)
        if do_r1 is None:
            is_reg_step = self.step % self.d_reg_every == 0
            metrics["r1_penalty"] = tf.cond(is_reg_step, lambda: self._apply_r1(real),
                                            lambda: tf.constant(0.0, tf.float32))
            self._track({"r1_penalty": metrics["r1_penalty"]}, r1_weight=tf.cast(is_reg_step, tf.float32))
        elif do_r1:
            metrics["r1_penalty"] = self.r1_step(real)
        metrics["g_loss"] = self.g_step(real)
        return metrics

    def update_ema(self):
        decay = self.ema_decay(self.step) if callable(self.ema_decay) else self.ema_decay
        for e, g in zip(self.g_ema.trainable_variables, self.generator.trainable_variables):
            e.assign(g + decay * (e - g))

    def call(self, inputs, training=False):
        return self.g_ema(inputs, training=training)
