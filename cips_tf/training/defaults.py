"""Default training configuration; `configs/*.py` start from it and override fields."""
import ml_collections

from cips_tf import data


def default_config():
    """The official CIPS training setup (DESIGN.md) at 256 px; every field documented inline."""
    c = ml_collections.ConfigDict()
    c.resolution = 256  # the shorter side of the training images
    # Width:height of the training images ("2:1": 32 x 64 at resolution 32), with square pixels: the
    # coordinate grid's shorter side spans [-1, 1] and the longer one extends at the same pitch
    # (cips_tf.coords.canvas_grid). Non-square needs training.mode="full" (README "Non-square images").
    c.aspect = "1:1"
    c.batch_size = 32  # global batch (official: 4 per GPU x 8 GPUs)
    c.num_train_steps = 1_200_000
    c.seed = 0
    # Fine-tuning: a training workdir, a cips-convert output directory or an exported model whose
    # G, G_ema (and D when present) initialize a NEW run (step 0, fresh optimizers); ignored on resume.
    c.init_from = ml_collections.config_dict.placeholder(str)

    c.model = ml_collections.ConfigDict()
    c.model.hidden_size = 512
    c.model.style_dim = 512
    c.model.n_mlp = 8
    c.model.lr_mlp = 0.01
    c.model.widths = ml_collections.config_dict.placeholder(object)  # None/"official", "paper" or a list
    c.model.channel_multiplier = 2
    c.model.variant = "skips"  # skips | res | base | ne | no_fourier | sine
    # Class-conditional CIPS (StyleGAN2-ADA style: a label embedding joins z in the mapping network, D
    # uses projection conditioning). 0: unconditional (the paper). > 0: must equal the number of
    # classes of data.labels (folder names, dataset.json, fashion_mnist, tfrecord).
    c.model.num_classes = 0

    c.discriminator = ml_collections.ConfigDict()
    c.discriminator.channel_multiplier = 2
    c.discriminator.widths = ml_collections.config_dict.placeholder(object)
    c.discriminator.size = ml_collections.config_dict.placeholder(int)  # patch training: the patch size
    c.discriminator.mapping_layers = 8  # conditional only: depth of D's label mapping (cmap), as ADA

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.learning_rate = 2e-3
    c.optimizer.beta_1 = 0.0
    c.optimizer.beta_2 = 0.99
    c.optimizer.epsilon = 1e-8
    c.optimizer.g_reg_every = 4  # official lazy-regularization ratio for G (no path-length reg in CIPS)
    c.optimizer.d_reg_every = 16

    c.loss = ml_collections.ConfigDict()
    c.loss.r1_gamma = 10.0
    c.loss.style_mixing_prob = 0.0  # official CIPS: no mixing

    c.ema = ml_collections.ConfigDict()
    # StyleGAN2's EMA: a half-life of `half_life_kimg` thousand images, so the per-step decay is
    # 0.5 ** (batch_size / (half_life_kimg * 1000)); at batch 32 the official 0.5 ** (32 / 10000).
    c.ema.half_life_kimg = 10.0
    c.ema.decay = ml_collections.config_dict.placeholder(float)  # set to override the above
    # StyleGAN2-ADA's ramp-up (e.g. 0.05): the half-life is min(half_life_kimg, kimg seen * rampup),
    # so a short run's G_ema does not average in the initialization. 0: off (official CIPS).
    c.ema.rampup = 0.0

    c.data = data.default_config()

    # StyleGAN2-ADA's adaptive discriminator augmentation (cips_tf.augment; README "Small datasets").
    c.augment = ml_collections.ConfigDict()
    # noaug (the paper's training, unchanged) | ada (p steered by the overfitting heuristic r_t) | fixed
    c.augment.mode = "noaug"
    # b/blit, g/geom, c/color, f/filter, n/noise, cutout and the unions bg, bgc (ADA's default),
    # bgcf, bgcfn, bgcfnc (cips_tf.augment.PIPELINES)
    c.augment.pipeline = "bgc"
    c.augment.p = 0.0  # ada: the initial p (a checkpoint's p wins on resume); fixed: the probability
    c.augment.ada_target = 0.6  # r_t = E[sign(D(real))] that ada holds
    c.augment.ada_interval = 4  # steps between adjustments of p
    c.augment.ada_kimg = 500.0  # thousands of images for p to move from 0 to 1

    c.training = ml_collections.ConfigDict()
    c.training.mode = "full"  # full | patch | cylindrical
    c.training.patch_size = 64
    c.training.patch_max_dilation = 4
    c.training.panorama_width = ml_collections.config_dict.placeholder(int)  # cylindrical; None: square pixels
    c.training.cylinder_r_inner = 0.25
    c.training.cylinder_r_outer = 1.0
    # FreezeD (fine-tuning): the first K discriminator blocks from the input side (from-RGB with the
    # first residual block, then one residual block each) keep their weights: no gradient, no
    # optimizer slots. 0: all train. Fixed for a run (refused on resume: the optimizer's slots differ).
    c.training.freeze_d_layers = 0
    # float32 | mixed_bfloat16 | mixed_float16 | auto (mixed_bfloat16 where the CPU or GPU runs bf16
    # natively, else float32: cips_tf.hardware). G_ema, exports and evaluation stay float32.
    c.training.mixed_precision = "float32"
    c.training.jit_compile = False
    c.training.log_every = 50
    c.training.checkpoint_every = 1000
    # Also checkpoint whenever this many seconds of training time pass (0: off); with a large
    # keep_checkpoints, snapshots at fixed wall-clock points (benchmarks/quality_per_minute.py).
    c.training.checkpoint_every_secs = 0.0
    # Stop at a wall-clock budget ("9m", "1h30m", "90s"; None: steps only) with the normal end
    # (checkpoint, sample grid). Counted across resumes: cips_tf/training/budget.py.
    c.training.time_budget = ml_collections.config_dict.placeholder(str)
    c.training.keep_checkpoints = 3
    c.training.sample_every = 1000
    c.training.num_sample_images = 16
    c.training.eval_every = 0  # 0: no in-training FID
    c.training.eval_num_samples = 1000
    c.training.strategy = "auto"  # auto (MultiWorker from TF_CONFIG, else Mirrored) | mirrored | default
    # A step that leaves a NaN/inf loss, weight or optimizer slot rolls back to the last checkpoint
    # up to this many times in a row; then (or at once with 0) the run stops with NonFiniteLossError.
    c.training.max_consecutive_nonfinite = 0
    c.training.restore_step = ml_collections.config_dict.placeholder(int)  # resume from ckpt-N (None: newest good)

    # In-training and CLI evaluation (cips_tf.metrics.training_hook, cips-evaluate).
    c.eval = ml_collections.ConfigDict()
    c.eval.extractor = "offline"  # offline (NON-STANDARD Fashion-MNIST CNN, "*_offline") | inception
    c.eval.extractor_path = ml_collections.config_dict.placeholder(str)  # None: default cache / $CIPS_INCEPTION_PATH
    c.eval.num_real = ml_collections.config_dict.placeholder(int)  # None: training.eval_num_samples; 0: all ("_full")
    c.eval.batch_size = 50
    c.eval.seed = 0  # first latent seed; the same seeds at every evaluation
    c.eval.split = ml_collections.config_dict.placeholder(str)  # None: data.split
    c.eval.metrics = "fid"  # comma-separated subset of fid,kid,pr
    return c
