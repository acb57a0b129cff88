"""`train_and_evaluate(config, workdir)`: the CIPS training loop under tf.distribute.

Workdir layout:
    DIR/config.json          the resolved config of the run
    DIR/checkpoints/         tf.train.CheckpointManager: G, D, G_ema, both optimizers, `step`,
                             w_avg (the mean of G_ema's mapping over 10k z, refreshed at every save)
    DIR/events.out.tfevents* TensorBoard: losses, R1, learning rates, steps/s, images/s, samples
    DIR/samples/             PNG grids of a fixed set of z rendered by G_ema (class-conditional: one
                             row per class, labelled with its name)
    DIR/class_names.json     class-conditional runs: the class names, index i -> name (data.labels)

Fault tolerance: checkpoints are written every `training.checkpoint_every` steps and at the last
step; SIGTERM (preemption) checkpoints, then returns. CheckpointManager writes the data files
before atomically updating its state file, so a SIGKILL at any moment leaves the latest listed
checkpoint complete and loses at most one interval. Re-running with the same workdir resumes at
the saved step (TensorBoard steps continue). Further (`cips_tf.training.checkpoints`):

- the whole config is validated before anything is built (`validation.validate_config`);
- one trainer per workdir: `DIR/.lock` is held (flock) for the whole run;
- non-chief workers save their (scratch) checkpoints into a private `mkdtemp` removed at exit;
- on resume the config wins for hyperparameters (each change is logged) and architecture changes
  are refused; a checkpoint that fails to restore is set aside with a loud warning and the next
  older one is used; `training.restore_step` picks one; stale `*_temp` save directories go;
- after every step the losses AND every weight, EMA weight and optimizer slot are checked; a
  non-finite value rolls the state back to the last saved checkpoint (at most
  `training.max_consecutive_nonfinite` times in a row), else stops with `NonFiniteLossError`
  naming that checkpoint. Nothing non-finite is ever saved (checked again before each save).
"""
import json
import math
import os
import pathlib
import shutil
import signal
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from cips_tf import augment as augment_lib
from cips_tf import data as data_lib
from cips_tf import hardware, rendering, showcase
from cips_tf.coords import canvas_grid
from cips_tf.data import labels as labels_lib
from cips_tf.errors import ConfigError, RunError
from cips_tf.latents import estimate_w_avg, tile_images, z_from_seed
from cips_tf.models.discriminator import freeze_first_blocks
from cips_tf.models.factory import discriminator_from_config, discriminator_size, generator_from_config
from cips_tf.models.gan import AdaptiveAugment, CIPSGAN, EmaRampup, ema_decay_for_batch, lazy_regularization_adam
from cips_tf.training import budget as budget_lib
from cips_tf.training import checkpoints as ckpt_lib
from cips_tf.training import pretrained
from cips_tf.models.samplers import make_sampler
from cips_tf.training import validation


class NonFiniteLossError(RunError, RuntimeError):
    """A loss, weight or optimizer slot became NaN or infinite; the run stopped without saving it."""


def get_strategy(name="auto"):
    """`MultiWorkerMirroredStrategy` when TF_CONFIG names several workers, else `MirroredStrategy`
    over the local devices ("auto"); "mirrored", "multiworker" or "default" force one."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = tf_config.get("cluster", {})
    n_tasks = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
    if name == "multiworker" or (name == "auto" and n_tasks > 1):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in ("auto", "mirrored"):
        raise ValueError(f"training.strategy must be auto, mirrored, multiworker or default, got {name!r}")
    return mirrored_strategy()


def mirrored_strategy(devices=None):
    """`MirroredStrategy` over `devices` (default: all local devices).

    On CPU-only hosts it reduces through one device: the default collective all-reduce keys its
    instances per strategy object, so two strategies in one process (a resumed run, tests) collide
    with "Shape mismatch in the collective instance".
    """
    if not tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.MirroredStrategy(devices)


def is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def make_augment(config):
    """StyleGAN2-ADA's augmentation from `config.augment` (inside `strategy.scope()`), or None for
    `augment.mode='noaug'` (and configs written before it)."""
    a = config.get("augment")
    if a is None or a.mode == "noaug":
        return None
    return AdaptiveAugment(augment_lib.AugmentPipe.from_name(a.pipeline), p=a.p,
                           target=a.ada_target if a.mode == "ada" else None, interval=a.ada_interval,
                           kimg=a.ada_kimg)


def build_gan(config, strategy, global_batch_size):
    """Creates G, D, G_ema, the optimizers and the CIPSGAN inside `strategy.scope()`."""
    t = config.training
    policy, reason = hardware.resolve_mixed_precision(t.get("mixed_precision", "float32"))
    if (t.get("mixed_precision") or "float32") == "auto":
        logging.info("compute: %s (training.mixed_precision=auto: %s)", policy, reason)
    with strategy.scope():
        generator = generator_from_config(config, dtype=policy)
        discriminator = discriminator_from_config(config, dtype=policy, size=discriminator_size(config))
        if t.get("freeze_d_layers"):  # FreezeD: before the optimizer is built, so frozen blocks get no slots
            frozen = freeze_first_blocks(discriminator, t.freeze_d_layers)
            logging.info("FreezeD: %s keep their weights (training.freeze_d_layers=%d)",
                         ", ".join(layer.name for layer in frozen), t.freeze_d_layers)
        g_ema = generator_from_config(config)  # float32: the model that is evaluated and exported
        o = config.optimizer
        g_opt = lazy_regularization_adam(o.learning_rate, o.beta_1, o.beta_2, o.epsilon, o.g_reg_every)
        d_opt = lazy_regularization_adam(o.learning_rate, o.beta_1, o.beta_2, o.epsilon, o.d_reg_every)
        if policy == "mixed_float16":
            g_opt = keras.optimizers.LossScaleOptimizer(g_opt)
            d_opt = keras.optimizers.LossScaleOptimizer(d_opt)
        decay = config.ema.get("decay")
        if decay is None and config.ema.get("rampup"):
            decay = EmaRampup(global_batch_size, config.ema.half_life_kimg, config.ema.rampup)
        elif decay is None:
            decay = ema_decay_for_batch(global_batch_size, config.ema.half_life_kimg)
        gan = CIPSGAN(
            generator,
            discriminator,
            g_ema,
            r1_gamma=config.loss.r1_gamma,
            d_reg_every=o.d_reg_every,
            ema_decay=decay,
            style_mixing_prob=config.loss.style_mixing_prob,
            seed=config.seed,
            sampler=make_sampler(config),
            jit_compile=t.jit_compile,
            augment=make_augment(config),
        )
        gan.compile(g_optimizer=g_opt, d_optimizer=d_opt)
        gan.build_optimizers()  # both optimizers before the first step (required under a strategy)
        gan.copy_to_ema()
    return gan


def make_checkpoint(gan, w_avg=None, train_seconds=None, augment_p=False):
    """G, D, G_ema, both optimizers, `step` and (when given) `w_avg`, the truncation centre of G_ema,
    `train_seconds`, the run's training clock (`cips_tf.training.budget`) and, with `augment_p` and
    augmentation on, ADA's probability `augment_p`."""
    extra = {} if w_avg is None else {"w_avg": w_avg}
    if train_seconds is not None:
        extra["train_seconds"] = train_seconds
    if augment_p and gan.augment is not None:
        extra["augment_p"] = gan.augment.p
    return tf.train.Checkpoint(
        generator=gan.generator,
        discriminator=gan.discriminator,
        g_ema=gan.g_ema,
        g_optimizer=gan.g_optimizer,
        d_optimizer=gan.d_optimizer,
        step=gan.step,
        **extra,
    )


class _Preemption:
    """Turns SIGTERM into a flag the loop checks after each step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum, frame):
        logging.warning("SIGTERM received: checkpointing and stopping after this step")
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _format_eta(seconds):
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _learning_rate(optimizer):
    return float(tf.convert_to_tensor(optimizer.learning_rate).numpy())


def named_state_variables(gan):
    """(name, variable) of everything a checkpoint holds: G, D, G_ema and both optimizers' slots."""
    named = []
    for prefix, obj in (("generator", gan.generator), ("discriminator", gan.discriminator), ("g_ema", gan.g_ema),
                        ("g_optimizer", gan.g_optimizer), ("d_optimizer", gan.d_optimizer)):
        named += [(f"{prefix}/{getattr(v, 'path', v.name)}", v) for v in obj.variables]
    return named


AUGMENT_P_KEY = "augment_p/.ATTRIBUTES/VARIABLE_VALUE"


def restore_augment_p(gan, config, prefix):
    """ADA's p from checkpoint `prefix` (restored on its own: checkpoints of runs without ADA lack
    it). `augment.mode='fixed'`: the config's p wins. Returns the p in use."""
    a = gan.augment
    if a is None:
        return None
    if config.augment.mode == "fixed":
        a.p.assign(float(config.augment.p))
    elif prefix and AUGMENT_P_KEY in dict(tf.train.list_variables(prefix)):
        a.p.assign(tf.train.load_variable(prefix, AUGMENT_P_KEY))
    elif prefix:
        logging.warning("%s holds no augment_p (a run without ADA): p starts at augment.p=%g", prefix,
                        config.augment.p)
    return float(a.p.numpy())


def _resume_overrides(config, workdir):
    """Compares `config` with the checkpointed run's config.json: logs each changed value, refuses
    architecture changes (ConfigError). No-op for a new workdir."""
    path = pathlib.Path(workdir) / "config.json"
    if not path.exists():
        return []
    changes = validation.resume_changes(json.loads(path.read_text()), config)
    for field, old, new in changes:
        kind = "hyperparameter" if validation.is_hyperparameter(field) else "setting"
        logging.warning("resume: %s %s changed from %r (checkpointed run) to %r: the config wins", kind, field,
                        old, new)
    return changes


def write_config(config, workdir):
    path = pathlib.Path(workdir) / "config.json"
    path.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str))
    return path


CLASS_NAMES_FILE = "class_names.json"


def render_samples(g_ema, z, resolution, batch=16, labels=None):
    """G_ema renders of fixed `z` (with `labels` `[N]` for a conditional G_ema) on the native grid
    (eval mode, no noise: `cips_tf.rendering.synthesize`) -> uint8 `[N, H, W, 3]`; at the model's own
    resolution that is its training canvas (`height x width`, square pixels)."""
    height, width = (g_ema.height, g_ema.width) if int(resolution) == g_ema.size else (resolution, resolution)
    outs = []
    for i in range(0, len(z), batch):
        zb = z[i : i + batch]
        label = None if labels is None else tf.constant(np.asarray(labels[i : i + batch], np.int32))
        w = g_ema.mapping(zb, **g_ema.label_kwargs(label))  # [n, S], as the generator's call maps z
        outs.append(rendering.to_uint8(rendering.synthesize(g_ema, w, canvas_grid(zb.shape[0], height, width))))
    return np.concatenate(outs)


def sample_grid(g_ema, num_images, resolution, class_names=None):
    """The training sample grid: `num_images` fixed seeds (0, 1, ...) tiled; class-conditional: one
    row per class with the same ceil(num_images / num_classes) seeds in every row, labelled with the
    class names (so a column shows one z under every class)."""
    if not class_names:
        return tile_images(render_samples(g_ema, z_from_seed(np.arange(num_images), g_ema.style_dim), resolution))
    per_class = max(1, -(-int(num_images) // len(class_names)))
    z = z_from_seed(np.tile(np.arange(per_class), len(class_names)), g_ema.style_dim)
    labels = np.repeat(np.arange(len(class_names)), per_class)
    images = render_samples(g_ema, z, resolution, labels=labels).reshape(len(class_names), per_class,
                                                                          resolution, resolution, 3)
    scale = max(1, 64 // resolution)  # small renders upscaled so the names fit their rows
    return showcase.class_grid(list(images), class_names, scale=scale)


def class_names_of_run(config):
    """The class names of a conditional run (`data.labels`), or None for an unconditional one."""
    if not config.model.get("num_classes"):
        return None
    return labels_lib.class_names(config.data)


def train_and_evaluate(config, workdir, max_steps=None, make_eval_hook=None):
    """Trains (or resumes) the run in `workdir` up to `config.num_train_steps`.

    `max_steps` stops after that many steps of this invocation (tests use it). `make_eval_hook`:
    the in-training evaluation, `make_eval_hook(config, workdir) -> hook` with `hook.should_run(step)`
    and `hook(g_ema, step) -> {name: scalar}`, made on the chief; training imports no metrics, so the
    caller passes it (cips-train and the pipeline pass `cips_tf.metrics.training_hook.FidHook`); it is
    required when `training.eval_every` > 0. Returns a dict with the final `step`, the last
    `metrics`, the latest `checkpoint` path and the `gan`.
    """
    started = time.monotonic()
    workdir = pathlib.Path(workdir)
    t = config.training
    strategy = get_strategy(t.get("strategy", "auto"))
    chief = is_chief(strategy)
    validation.validate_config(config, num_replicas=strategy.num_replicas_in_sync)
    if int(t.get("eval_every", 0) or 0) > 0 and make_eval_hook is None:
        raise ConfigError("training.eval_every", f"{t.eval_every} asks for an in-training evaluation, but the "
                          "caller passed none (train_and_evaluate(..., make_eval_hook=training_hook.FidHook); "
                          "cips-train does); set it to 0 or pass one")
    workdir.mkdir(parents=True, exist_ok=True)
    if not chief:
        # A worker's checkpoints are scratch (only the chief's count): a private mkdtemp, removed at exit.
        scratch = pathlib.Path(tempfile.mkdtemp(prefix="cips_worker_ckpt_"))
        try:
            return _train(config, workdir, strategy, chief, max_steps, started, make_eval_hook,
                          worker_ckpt_dir=scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    with ckpt_lib.WorkdirLock(workdir):
        _resume_overrides(config, workdir)
        ckpt_lib.remove_stale_temp_dirs(workdir / "checkpoints")
        return _train(config, workdir, strategy, chief, max_steps, started, make_eval_hook)


def _train(config, workdir, strategy, chief, max_steps, started, make_eval_hook, worker_ckpt_dir=None):
    t = config.training
    num_replicas = strategy.num_replicas_in_sync
    global_batch = int(config.batch_size)
    logging.info("strategy %s with %d replicas; global batch %d", type(strategy).__name__, num_replicas,
                 global_batch)
    keras.utils.set_random_seed(int(config.seed))  # reproducible initial weights
    gan = build_gan(config, strategy, global_batch)
    # Refreshed from G_ema before every save, so exports and experiments read it from the checkpoint.
    w_avg = tf.Variable(tf.zeros([gan.g_ema.style_dim]), trainable=False, name="w_avg")
    # The training clock (budget.py): saved with every checkpoint, restored on resume. It is restored
    # on its own (checkpoints of earlier versions lack it) and never rolled back.
    clock = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")
    checkpoint = make_checkpoint(gan, w_avg)
    state = named_state_variables(gan) + [("w_avg", w_avg)]
    # The config's learning rates win over the ones a checkpoint restores (resume overrides).
    configured_lr = [(opt, _learning_rate(opt)) for opt in (gan.g_optimizer, gan.d_optimizer)]
    ckpt_dir = workdir / "checkpoints" if chief else worker_ckpt_dir
    latest = ckpt_lib.restore_with_fallback(checkpoint, workdir / "checkpoints", state, t.get("restore_step"),
                                            read_only=not chief)
    manager = tf.train.CheckpointManager(make_checkpoint(gan, w_avg, clock, augment_p=True), str(ckpt_dir),
                                         max_to_keep=t.keep_checkpoints)
    if latest:
        tf.train.Checkpoint(train_seconds=clock).restore(latest).expect_partial()
        if gan.augment is not None:
            logging.info("augment: p = %.4f restored", restore_augment_p(gan, config, latest))
        for opt, lr in configured_lr:
            if not math.isclose(_learning_rate(opt), lr, rel_tol=1e-6):
                logging.warning("resume: learning rate %g from the checkpoint replaced by the config's %g",
                                _learning_rate(opt), lr)
            opt.learning_rate = lr
        logging.info("resumed from %s at step %d (%s of training so far)", latest, int(gan.step.numpy()),
                     budget_lib.format_duration(float(clock.numpy())))
    elif config.get("init_from"):  # fine-tuning: pretrained weights, step 0, fresh optimizers
        pretrained.initialize_gan(gan, config.init_from)
    class_names = class_names_of_run(config)
    if chief:  # after the restore: a config that does not fit the checkpoints never overwrites it
        write_config(config, workdir)
        if class_names:
            (workdir / CLASS_NAMES_FILE).write_text(json.dumps(class_names, indent=1) + "\n")
    start_step = int(gan.step.numpy())
    total_steps = int(config.num_train_steps)
    if max_steps is not None:
        total_steps = min(total_steps, start_step + int(max_steps))
    budget = budget_lib.parse_duration(t.get("time_budget"))
    clock_start = float(clock.numpy())

    def elapsed():
        """Training seconds of the whole run: the restored clock plus this invocation's wall time."""
        return clock_start + (time.monotonic() - started)

    # A resumed run continues the data stream with a fresh seed rather than replaying it.
    dataset = data_lib.build_dataset(
        config.data,
        resolution=int(config.resolution),
        aspect=config.get("aspect"),
        batch_size=global_batch,
        seed=int(config.seed) + start_step,
        training=True,
    )
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    # The step runs as three compiled parts (D, lazy R1, G), each traced once, without AutoGraph: the
    # model, loss and augmentation code branches in Python only on configuration (tf.cond where a
    # tensor decides), and converting it took a quarter of a fresh process's first step (2.5 of 10 s
    # on the smoke config); a tensor in a Python `if` fails loudly at tracing. Nothing is fetched to
    # the host per step: losses live in the trackers (read at log steps), and a NaN/inf in a loss,
    # weight, EMA weight or optimizer slot is counted in `nonfinite`, read at every log step, before
    # every save and at the end.
    state_vars = [v for _, v in named_state_variables(gan)]
    nonfinite = tf.Variable(0, dtype=tf.int64, trainable=False, name="nonfinite")

    def count_bad(per_replica):
        values = [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in tf.nest.flatten(per_replica)]
        return ckpt_lib.count_nonfinite(values)

    @tf.function(autograph=False)
    def d_part(iterator):
        real, metrics = strategy.run(gan.d_step, args=(next(iterator),))
        nonfinite.assign_add(count_bad(metrics))
        return real

    @tf.function(autograph=False)
    def r1_part(real):
        nonfinite.assign_add(count_bad(strategy.run(gan.r1_step, args=(real,))))

    @tf.function(autograph=False)
    def g_part(real):
        g_loss = strategy.run(gan.g_step, args=(real,))
        nonfinite.assign_add(count_bad(g_loss) + ckpt_lib.count_nonfinite(state_vars))

    def save(step):
        """Saves `step` after checking that everything saved is finite."""
        w_avg.assign(estimate_w_avg(gan.g_ema))
        bad = ckpt_lib.nonfinite_tensors(state)
        if bad:
            raise NonFiniteLossError(f"refusing to save step {step}: {len(bad)} tensors hold NaN/inf "
                                     f"({', '.join(sorted(bad)[:3])}); the last good checkpoint is "
                                     f"{manager.latest_checkpoint or 'none'}")
        clock.assign(elapsed())
        manager.save(checkpoint_number=step)

    writer = tf.summary.create_file_writer(str(workdir)) if chief else tf.summary.create_noop_writer()
    fid_hook = make_eval_hook(config, workdir) if chief and make_eval_hook is not None else None
    samples_dir = workdir / "samples"
    step = start_step
    last_saved = start_step if latest else None
    last_checked = start_step
    metrics = {}
    consecutive_nonfinite = 0
    save_every_secs = float(t.get("checkpoint_every_secs") or 0)
    next_timed_save = (math.floor(clock_start / save_every_secs) + 1) * save_every_secs if save_every_secs else None
    budget_reached = budget is not None and clock_start >= budget
    if budget_reached:
        logging.info("time budget %s already spent (%s of training): nothing to do; raise "
                     "training.time_budget to train on", budget_lib.format_duration(budget),
                     budget_lib.format_duration(clock_start))
        total_steps = start_step
    window_start, window_step = time.monotonic(), step
    logging.info("training from step %d to %d%s", start_step, total_steps,
                 f" or for {budget_lib.format_duration(budget)} (training.time_budget)" if budget else "")
    with _Preemption() as preemption:
        while step < total_steps:
            real = d_part(iterator)
            if gan.d_reg_every > 0 and step % gan.d_reg_every == 0:
                r1_part(real)
            g_part(real)
            step += 1
            now_elapsed = elapsed()
            budget_reached = budget is not None and now_elapsed >= budget
            final = step >= total_steps or budget_reached or preemption.requested
            timed_save = next_timed_save is not None and now_elapsed >= next_timed_save
            log_now = step % t.log_every == 0 or final
            save_now = step % t.checkpoint_every == 0 or final or timed_save
            if log_now or save_now:
                bad = int(nonfinite.numpy())
                if bad:
                    what = (f"{bad} non-finite values (NaN/inf) in the losses, weights or optimizer slots found at "
                            f"step {step} (first after step {last_checked})")
                    consecutive_nonfinite += 1
                    last = manager.latest_checkpoint
                    if consecutive_nonfinite > int(t.get("max_consecutive_nonfinite", 0)) or not last:
                        advice = (f"The last good checkpoint is {last}: resume from it, e.g. with a lower "
                                  "--config.optimizer.learning_rate (on resume the config's hyperparameters win), "
                                  "or pick another with --config.training.restore_step=N" if last else
                                  "No checkpoint was saved yet: rerun with a lower --config.optimizer.learning_rate")
                        raise NonFiniteLossError(f"{what}; stopping without saving. {advice}")
                    checkpoint.restore(last).assert_existing_objects_matched()
                    restore_augment_p(gan, config, last)
                    for opt, lr in configured_lr:  # the restore brought back the checkpoint's rates
                        opt.learning_rate = lr
                    nonfinite.assign(0)
                    for m in gan.trackers.values():
                        m.reset_state()
                    step = last_checked = int(gan.step.numpy())
                    logging.warning("%s: rolled back to %s (step %d), %d of %d consecutive non-finite steps allowed",
                                    what, last, step, consecutive_nonfinite, t.max_consecutive_nonfinite)
                    continue
                consecutive_nonfinite = 0
                last_checked = step
            if log_now:
                now = time.monotonic()
                rate = (step - window_step) / max(now - window_start, 1e-9)
                window_start, window_step = now, step
                summary = {k: float(m.result()) for k, m in gan.trackers.items() if m.count.numpy() > 0}
                if gan.augment is not None:  # ADA's probability (r_t is the tracker `rt`, always logged)
                    summary["augment_p"] = float(gan.augment.p.numpy())
                metrics.update(summary)
                remaining = (total_steps - step) / max(rate, 1e-9)
                counter = f"{step}/{total_steps}"
                if budget is not None:
                    if budget - now_elapsed < remaining:  # the budget ends the run: no step total to show
                        counter = str(step)
                    remaining = min(remaining, budget - now_elapsed)
                    progress = f"{budget_lib.format_duration(now_elapsed)} of {budget_lib.format_duration(budget)}"
                else:
                    progress = f"{100.0 * step / max(total_steps, 1):.1f}%"
                logging.info(
                    "step %s (%s) | %.2f steps/s, %.1f img/s | %s | ETA %s",
                    counter, progress, rate, rate * global_batch,
                    " ".join(f"{k}={v:.4f}" for k, v in summary.items()),
                    _format_eta(remaining),
                )
                with writer.as_default(step=step):
                    for k, v in summary.items():
                        tf.summary.scalar(f"train/{k}", v)
                    tf.summary.scalar("train/steps_per_sec", rate)
                    tf.summary.scalar("train/images_per_sec", rate * global_batch)
                    tf.summary.scalar("train/g_learning_rate", _learning_rate(gan.g_optimizer))
                    tf.summary.scalar("train/d_learning_rate", _learning_rate(gan.d_optimizer))
                    tf.summary.scalar("train/minutes", now_elapsed / 60.0)
                for m in gan.trackers.values():
                    m.reset_state()
                data_lib.skipped_images()  # logs bad images the pipeline skipped since the last line
            if save_now:
                save(step)
                last_saved = step
                while next_timed_save is not None and next_timed_save <= now_elapsed:
                    next_timed_save += save_every_secs
            if t.sample_every and (step % t.sample_every == 0 or final) and chief:
                grid = sample_grid(gan.g_ema, t.num_sample_images, int(config.resolution), class_names)
                samples_dir.mkdir(exist_ok=True)
                Image.fromarray(grid).save(samples_dir / f"step_{step:08d}.png")
                with writer.as_default(step=step):
                    tf.summary.image("samples/g_ema", grid[None], max_outputs=1)
            if fid_hook is not None and fid_hook.should_run(step):
                scalars = fid_hook(gan.g_ema, step)
                logging.info("step %d: %s", step, " ".join(f"{k}={v:.4f}" for k, v in scalars.items()))
                with writer.as_default(step=step):
                    for k, v in scalars.items():
                        tf.summary.scalar(k, v)
            if budget_reached:
                logging.info("budget reached at step %d (%s of training, training.time_budget=%s)", step,
                             budget_lib.format_duration(now_elapsed), budget_lib.format_duration(budget))
                break
            if preemption.requested:
                logging.warning("stopped by SIGTERM at step %d (checkpointed)", step)
                break
    if last_saved != step:
        save(step)
    writer.flush()
    # The data iterator goes back to the caller instead of dying with this frame: destroying it waits
    # for tf.data's worker threads to wind down, which took ~57 s after an 8-minute run (the gap
    # between "budget reached" and cips-train's "done"). cips-train exits without destroying it.
    return {"step": step, "metrics": metrics, "checkpoint": manager.latest_checkpoint, "gan": gan,
            "train_seconds": elapsed(), "budget_reached": bool(budget_reached), "data_iterator": iterator}
