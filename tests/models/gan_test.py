import keras
import numpy as np
import pytest
import tensorflow as tf

from cips_tf.augment import AugmentPipe
from cips_tf.models.discriminator import Discriminator, freeze_first_blocks
from cips_tf.models.gan import AdaptiveAugment, CIPSGAN, ema_decay_for_batch, lazy_regularization_adam
from cips_tf.models.generator import CIPSGenerator
from cips_tf.training.train_lib import mirrored_strategy

RES = 8


def _make_gan(strategy, stddev_group=4, dtype=None, seed=0, mixing=0.0, jit_compile=False, augment=None,
              freeze_d=0, d_widths=(8, 16), res=RES):
    """`augment`: kwargs of an `AdaptiveAugment` (its `pipe` a pipeline name); `freeze_d`: FreezeD blocks."""
    kwargs = {"dtype": dtype} if dtype else {}
    with strategy.scope():
        keras.utils.set_random_seed(seed)
        g_widths = [16, 8] if res == RES else [16, 8, 8]
        g = CIPSGenerator(size=res, hidden_size=8, style_dim=8, n_mlp=2, widths=g_widths, **kwargs)
        d = Discriminator(size=res, widths=list(d_widths), stddev_group=stddev_group, **kwargs)
        freeze_first_blocks(d, freeze_d)
        g_ema = CIPSGenerator(size=res, hidden_size=8, style_dim=8, n_mlp=2, widths=g_widths)
        if augment is not None:
            augment = AdaptiveAugment(AugmentPipe.from_name(augment.pop("pipe")), **augment)
        gan = CIPSGAN(g, d, g_ema, d_reg_every=2, ema_decay=0.9, seed=3, style_mixing_prob=mixing,
                      jit_compile=jit_compile, augment=augment)
        gan.compile(
            g_optimizer=lazy_regularization_adam(2e-3, 0.0, 0.99, 1e-8, 4),
            d_optimizer=lazy_regularization_adam(2e-3, 0.0, 0.99, 1e-8, 2),
        )
        gan.build_optimizers()
        gan.copy_to_ema()
    return gan


def _real_batches(n, batch, res=RES):
    rng = np.random.RandomState(7)
    return [rng.uniform(-1, 1, (batch, res, res, 3)).astype(np.float32) for _ in range(n)]


def _run(strategy, gan, batches, after_step=None):
    """One distributed step per batch (R1 every `d_reg_every`); the reduced metrics of each step.
    `after_step(i)` is called after step i."""
    @tf.function
    def step(batch, do_r1):
        out = strategy.run(gan.train_step, args=(batch,), kwargs={"do_r1": do_r1})
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}

    metrics = []
    dist = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(np.concatenate(batches)).batch(batches[0].shape[0], drop_remainder=True)
    )
    for i, batch in enumerate(dist):
        metrics.append({k: float(v) for k, v in step(batch, i % gan.d_reg_every == 0).items()})
        if after_step:
            after_step(i)
    return metrics


def _weights(gan):
    return [v.numpy() for m in (gan.generator, gan.discriminator, gan.g_ema) for v in m.trainable_variables]


def test_ema_decay_for_batch_official_batch_gives_official_decay():
    assert ema_decay_for_batch(32) == pytest.approx(0.5 ** (32 / (10 * 1000)))


def test_lazy_regularization_adam_ratio_scales_lr_and_betas():
    opt = lazy_regularization_adam(2e-3, 0.0, 0.99, 1e-8, 16)
    ratio = 16 / 17
    assert float(opt.learning_rate) == pytest.approx(2e-3 * ratio)
    assert opt.beta_2 == pytest.approx(0.99**ratio)
    assert opt.beta_1 == 0.0


# The two-replica tests below share one worker (a two-replica step wants both cores; two at once on
# two cores took each 2-3x as long) and one pair of runs: `one_and_two_replica_runs`.
two_replicas = pytest.mark.xdist_group("gan_two_replicas")


@pytest.fixture(scope="module")
def one_and_two_replica_runs():
    """Three steps (R1 on steps 0 and 2) of the same GAN under a one- and a two-replica strategy:
    {"gan1", "gan2", "m1", "m2", "initial1", "initial", "after_first", "batches", "two"} (`initial1`,
    `initial` the weights each starts from, `after_first` the two-replica GAN's weights after step 0,
    `two` its strategy). The minibatch-stddev layer groups samples within a replica (as official DDP
    does), so the runs are equivalent for a discriminator whose groups do not span replicas: group size 1."""
    one = mirrored_strategy(["/cpu:0"])
    two = mirrored_strategy(["/cpu:0", "/cpu:1"])
    assert two.num_replicas_in_sync == 2
    batches = _real_batches(3, 4)
    gan1, gan2 = _make_gan(one, stddev_group=1), _make_gan(two, stddev_group=1)
    initial1, initial = _weights(gan1), _weights(gan2)
    after_first = []

    def keep_first(i):
        if i == 0:
            after_first.extend(w.copy() for w in _weights(gan2))

    m1 = _run(one, gan1, batches)
    m2 = _run(two, gan2, batches, after_step=keep_first)
    return {"gan1": gan1, "gan2": gan2, "m1": m1, "m2": m2, "initial1": initial1, "initial": initial,
            "after_first": after_first, "batches": batches, "two": two}


@pytest.mark.slow
@two_replicas
def test_train_step_one_vs_two_replicas_same_weights(one_and_two_replica_runs):
    runs = one_and_two_replica_runs
    gan1, gan2 = runs["gan1"], runs["gan2"]
    for a, b in zip(runs["initial1"], runs["initial"]):
        np.testing.assert_array_equal(a, b)  # the same start
    for a, b in zip(runs["m1"], runs["m2"]):
        for k in a:
            assert a[k] == pytest.approx(b[k], abs=1e-5), k
    for a, b in zip(_weights(gan1), _weights(gan2)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert int(gan2.step.numpy()) == 3


def test_train_step_updates_ema_toward_generator():
    strategy = tf.distribute.get_strategy()
    gan = _make_gan(strategy)
    before_ema = [v.numpy() for v in gan.g_ema.trainable_variables]
    _run(strategy, gan, _real_batches(1, 4))
    after_g = [v.numpy() for v in gan.generator.trainable_variables]
    after_ema = [v.numpy() for v in gan.g_ema.trainable_variables]
    for e0, g1, e1 in zip(before_ema, after_g, after_ema):
        np.testing.assert_allclose(e1, g1 + 0.9 * (e0 - g1), atol=1e-6)
    assert any(not np.allclose(e0, e1) for e0, e1 in zip(before_ema, after_ema))


def test_train_step_r1_steps_report_penalty_others_do_not():
    strategy = tf.distribute.get_strategy()
    gan = _make_gan(strategy)
    metrics = _run(strategy, gan, _real_batches(2, 4))
    assert "r1_penalty" in metrics[0] and metrics[0]["r1_penalty"] > 0
    assert "r1_penalty" not in metrics[1]


@pytest.mark.slow  # fast tier under 10 min: ~20 s; the Python-decision R1 test stays fast
def test_train_step_in_graph_r1_decision_matches_python_decision():
    strategy = tf.distribute.get_strategy()
    a, b = _make_gan(strategy), _make_gan(strategy)
    batch = _real_batches(1, 4)[0]
    tf.function(lambda x: a.train_step(x, do_r1=True))(batch)
    tf.function(lambda x: b.train_step(x))(batch)  # step 0: 0 % d_reg_every == 0
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(x, y, atol=1e-6)


@pytest.mark.slow  # fast tier under 10 min: ~19 s
def test_train_step_style_mixing_runs_and_changes_update():
    strategy = tf.distribute.get_strategy()
    plain, mixed = _make_gan(strategy), _make_gan(strategy, mixing=1.0)
    batches = _real_batches(1, 4)
    _run(strategy, plain, batches)
    _run(strategy, mixed, batches)
    diffs = [np.abs(x - y).max() for x, y in zip(_weights(plain), _weights(mixed))]
    assert max(diffs) > 0


# float16 is a GPU policy (CPUs here compute bf16 or float32): its check is the slow tier's
@pytest.mark.parametrize("policy", ["mixed_bfloat16", pytest.param("mixed_float16", marks=pytest.mark.slow)])
def test_train_step_mixed_precision_runs_with_finite_losses(policy):
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        keras.utils.set_random_seed(0)
        g = CIPSGenerator(size=RES, hidden_size=8, style_dim=8, n_mlp=2, widths=[16, 8], dtype=policy)
        d = Discriminator(size=RES, widths=[8, 16], dtype=policy)
        g_ema = CIPSGenerator(size=RES, hidden_size=8, style_dim=8, n_mlp=2, widths=[16, 8])
        gan = CIPSGAN(g, d, g_ema, d_reg_every=2)
        g_opt, d_opt = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
        if policy == "mixed_float16":
            g_opt, d_opt = keras.optimizers.LossScaleOptimizer(g_opt), keras.optimizers.LossScaleOptimizer(d_opt)
        gan.compile(g_optimizer=g_opt, d_optimizer=d_opt)
        gan.build_optimizers()
    metrics = _run(strategy, gan, _real_batches(2, 4))
    assert all(np.isfinite(v) for m in metrics for v in m.values())
    assert g.conv1.kernel.dtype == "float32"  # variables stay float32


@pytest.mark.slow
@two_replicas
def test_trackers_two_replicas_equal_global_metrics(one_and_two_replica_runs):
    gan, metrics = one_and_two_replica_runs["gan2"], one_and_two_replica_runs["m2"]
    for name in ("d_loss", "g_loss", "real_score", "rt"):
        expected = np.mean([m[name] for m in metrics])
        assert float(gan.trackers[name].result()) == pytest.approx(expected, rel=1e-5), name
    r1_steps = [m["r1_penalty"] for m in metrics if "r1_penalty" in m]
    assert len(r1_steps) == 2  # steps 0 and 2
    assert float(gan.trackers["r1_penalty"].result()) == pytest.approx(np.mean(r1_steps), rel=1e-5)


def test_fit_runs_the_custom_train_step_with_lazy_r1():
    gan = _make_gan(tf.distribute.get_strategy())
    x = np.random.RandomState(0).uniform(-1, 1, (16, RES, RES, 3)).astype("float32")
    history = gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(4, drop_remainder=True), epochs=1, verbose=0)
    assert int(gan.step.numpy()) == 4
    logs = {k: v[-1] for k, v in history.history.items()}
    assert set(logs) == {"d_loss", "g_loss", "r1_penalty", "real_score", "fake_score", "rt"}
    assert logs["d_loss"] > 0 and logs["r1_penalty"] > 0


@pytest.mark.slow
@two_replicas
def test_train_step_xla_per_replica_two_replicas_matches_plain(one_and_two_replica_runs):
    # Keras' model-level jit_compile fails under a 2-replica MirroredStrategy on CPU; CIPSGAN
    # compiles the per-replica gradient computations instead. The plain run is the shared fixture's
    # two-replica run; its first step (D, R1 and G computations all compiled) is compared. Its D groups
    # the minibatch stddev by 1 (the fixture's equivalence needs it); tests/layers/minibatch_stddev_test.py
    # checks groups of 2 and 4 under XLA.
    runs = one_and_two_replica_runs
    two = runs["two"]
    xla = _make_gan(two, stddev_group=1, jit_compile=True)
    for a, b in zip(_weights(xla), runs["initial"]):
        np.testing.assert_array_equal(a, b)  # the plain run's start
    m_xla = _run(two, xla, runs["batches"][:1])
    for k in runs["m2"][0]:
        assert runs["m2"][0][k] == pytest.approx(m_xla[0][k], rel=1e-3, abs=1e-4), k
    for a, b in zip(runs["after_first"], _weights(xla)):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_ema_rampup_matches_stylegan2_ada_formula():
    from cips_tf.models.gan import EmaRampup

    rampup = EmaRampup(global_batch_size=16, half_life_kimg=2.0, rampup=0.05)
    for step in (0, 10, 1000, 2499, 2500, 100000):
        seen = (step + 1) * 16
        expected = 0.5 ** (16 / max(min(2000.0, seen * 0.05), 1e-8))
        assert float(rampup(step)) == pytest.approx(expected, rel=1e-5)
    assert float(rampup(10**6)) == pytest.approx(0.5 ** (16 / 2000.0), rel=1e-6)  # the plain half-life after it


def test_ema_rampup_drives_update_ema():
    from cips_tf.models.gan import EmaRampup

    strategy = tf.distribute.get_strategy()
    gan = _make_gan(strategy)
    gan.ema_decay = EmaRampup(8, 10.0, 0.05)
    g_before = [v.numpy() for v in gan.generator.trainable_variables]
    for v in gan.generator.trainable_variables:
        v.assign(v + 1.0)
    gan.step.assign(3)
    decay = float(gan.ema_decay(3))
    ema_before = [v.numpy() for v in gan.g_ema.trainable_variables]
    gan.update_ema()
    for e0, g0, e1 in zip(ema_before, g_before, gan.g_ema.trainable_variables):
        np.testing.assert_allclose(e1.numpy(), (g0 + 1.0) + decay * (e0 - (g0 + 1.0)), rtol=1e-5, atol=1e-6)


# -- ADA (StyleGAN2-ADA's adaptive augmentation) and FreezeD ------------------------------------


def _run_eagerly(gan, batches):
    """Steps without tf.function (no tracing: seconds instead of a minute for these tiny models)."""
    for i, batch in enumerate(batches):
        gan.train_step(tf.constant(batch), do_r1=i % gan.d_reg_every == 0)


def _stub_real_logits(gan, value):
    """Turns D into a stub whose logit is `value` for every image: the last dense layer's kernel is
    zeroed and its bias set (a few Adam steps at lr 2e-3 cannot flip the sign)."""
    kernel, bias = gan.discriminator.final_out.kernel, gan.discriminator.final_out.bias
    kernel.assign(tf.zeros_like(kernel))
    bias.assign(tf.fill(bias.shape, value))  # lr multiplier 1: the stored bias is the bias


@pytest.mark.parametrize("logit, p0, expected_p, expected_rt", [(3.0, 0.0, 0.2, 1.0), (-3.0, 0.5, 0.3, -1.0)])
def test_ada_p_follows_sign_of_real_logits_on_a_stub_d(logit, p0, expected_p, expected_rt):
    # batch 4, interval 2, kimg 0.08: each adjustment moves p by 4 * 2 / 80 = 0.1; 4 steps adjust twice.
    strategy = tf.distribute.get_strategy()
    gan = _make_gan(strategy, augment=dict(pipe="c", p=p0, target=0.6, interval=2, kimg=0.08))
    _stub_real_logits(gan, logit)
    _run_eagerly(gan, _real_batches(4, 4))
    assert float(gan.augment.p.numpy()) == pytest.approx(expected_p, abs=1e-6)
    assert float(gan.augment.rt.numpy()) == pytest.approx(expected_rt)


def test_ada_p_is_clipped_to_unit_interval_and_fixed_p_stays():
    strategy = tf.distribute.get_strategy()
    rising = _make_gan(strategy, augment=dict(pipe="c", p=0.95, target=0.6, interval=1, kimg=0.04))
    fixed = _make_gan(strategy, augment=dict(pipe="c", p=0.3, target=None))
    _stub_real_logits(rising, 3.0)
    _stub_real_logits(fixed, 3.0)
    _run_eagerly(rising, _real_batches(2, 4))
    _run_eagerly(fixed, _real_batches(2, 4))
    assert float(rising.augment.p.numpy()) == 1.0
    assert float(fixed.augment.p.numpy()) == pytest.approx(0.3)


@pytest.mark.slow  # traces the augmented step under two strategies (~60 s on 2 cores)
@two_replicas
def test_ada_one_vs_two_replicas_same_weights_and_p():
    one = mirrored_strategy(["/cpu:0"])
    two = mirrored_strategy(["/cpu:0", "/cpu:1"])
    ada = dict(pipe="bgc", p=0.5, target=0.6, interval=1, kimg=0.04)
    gan1, gan2 = _make_gan(one, stddev_group=1, augment=dict(ada)), _make_gan(two, stddev_group=1, augment=dict(ada))
    batches = _real_batches(3, 4)
    m1, m2 = _run(one, gan1, batches), _run(two, gan2, batches)
    for a, b in zip(m1, m2):
        for k in a:
            assert a[k] == pytest.approx(b[k], abs=1e-5), k
    for a, b in zip(_weights(gan1), _weights(gan2)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert float(gan1.augment.p.numpy()) == float(gan2.augment.p.numpy()) != 0.5
    assert float(gan1.augment.rt.numpy()) == float(gan2.augment.rt.numpy())


def test_ada_augments_what_d_sees_and_r1_differentiates_before_augmentation():
    strategy = tf.distribute.get_strategy()
    plain = _make_gan(strategy)
    ada = _make_gan(strategy, augment=dict(pipe="bgc", p=1.0, target=None))
    real = tf.constant(_real_batches(1, 4)[0])
    grads_plain, _ = plain._r1_grads(real, 4)
    grads_ada, r1 = ada._r1_grads(real, 4)
    assert np.isfinite(float(r1)) and float(r1) > 0
    assert max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(grads_plain, grads_ada)) > 0
    _run_eagerly(ada, _real_batches(2, 4))
    assert all(np.isfinite(w).all() for w in _weights(ada))


def test_freeze_d_first_blocks_unchanged_after_steps_and_have_no_slots():
    strategy = tf.distribute.get_strategy()
    frozen, free = _make_gan(strategy, freeze_d=1, d_widths=(8, 8, 16), res=16), _make_gan(strategy, d_widths=(8, 8, 16), res=16)
    d = frozen.discriminator
    fixed_layers = [d.from_rgb, d.blocks[0]]
    before = {v.path: v.numpy() for layer in fixed_layers for v in layer.variables}
    others = {v.path: v.numpy() for v in d.trainable_variables}
    assert before and not set(before) & set(others)
    _run_eagerly(frozen, _real_batches(3, 4, res=16))  # D, R1 and G steps
    _run_eagerly(free, _real_batches(1, 4, res=16))
    for layer in fixed_layers:
        for v in layer.variables:
            np.testing.assert_array_equal(v.numpy(), before[v.path])
    assert all(not np.array_equal(v.numpy(), others[v.path]) for v in d.blocks[1].trainable_variables)
    n_frozen = sum(int(np.prod(v.shape)) for v in before.values())
    slots = lambda gan: sum(int(np.prod(v.shape)) for v in gan.d_optimizer.variables if len(v.shape))  # noqa: E731
    assert slots(free) - slots(frozen) == 2 * n_frozen  # Adam's m and v of every frozen weight are gone


def test_freeze_d_out_of_range_raises():
    d = Discriminator(size=RES, widths=[8, 16])
    with pytest.raises(ValueError, match="between 0 and 1"):
        freeze_first_blocks(d, 2)
