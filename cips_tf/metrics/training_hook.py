"""In-training FID: a thin hook over the evaluation protocol of `cips_tf.metrics.protocol`.

Training imports no metrics: whoever starts the run passes the hook's factory in
(`train_lib.train_and_evaluate(config, workdir, make_eval_hook=training_hook.FidHook)`, as cips-train
and the pipeline's Trainer do), and the training loop calls it every `config.training.eval_every`
steps (chief only):

    hook = training_hook.FidHook(config, workdir)      # cheap; nothing is loaded yet
    ...
    if hook.should_run(step):
        scalars = hook(gan.g_ema, step)               # {"eval/fid1k_offline": ..., ...}

The first call loads (or, for the offline extractor, trains once into its cache) the feature
extractor and measures the real data; the real statistics are cached under
`WORKDIR/eval/real_stats/` (`fid.RealStatisticsCache`), so later calls, and resumed runs, only
generate `config.training.eval_num_samples` images and compare them.

Config fields read (all optional except the two `training.*` ones, which defaults.py defines):
  training.eval_every        run the hook every N steps (0: never).
  training.eval_num_samples  generated images per evaluation.
  eval.extractor             "offline" (default; the NON-STANDARD Fashion-MNIST CNN, metrics
                             named "*_offline") or "inception" (standard FID; needs local weights).
  eval.extractor_path        offline: the extractor directory (default `default_extractor_dir()`,
                             trained there once if absent); inception: the weights path (default
                             $CIPS_INCEPTION_PATH).
  eval.num_real              real images (default: eval_num_samples; 0: the whole split, "_full").
  eval.batch_size            images per generator / extractor call (default 50).
  eval.seed                  first latent seed; the same seeds at every step (default 0).
  eval.split                 real split (default: config.data.split).
  eval.metrics               comma-separated subset of "fid,kid,pr" (default "fid").

Each call is `protocol.evaluate`, the evaluation of `cips-evaluate` and the pipeline's Evaluator
(sampling protocol, extractors, real data); the hook keeps its sampler per generator, the real
statistics cache, and turns the numbers into TensorBoard scalars.
"""
import math
import pathlib
import time

from absl import logging

from cips_tf.data.fingerprint import dataset_fingerprint
from cips_tf.metrics import fid as fid_lib
from cips_tf.metrics import protocol
from cips_tf.metrics.metric_log import FULL

__all__ = ["FidHook"]


def _metrics_tuple(value):
    if isinstance(value, str):
        value = [m.strip() for m in value.split(",") if m.strip()]
    return tuple(value)


class FidHook:
    """FID (and optionally KID / precision-recall) of the EMA generator during training.

    Args:
      config: the run's ConfigDict (see the module docstring for the fields read).
      workdir: the run's workdir; real statistics are cached in `workdir/eval/real_stats`.

    Call arguments:
      generator: the g_ema `CIPSGenerator`.
      step: the training step (logged only).

    Returns (from a call):
      A dict of Python floats to log as TensorBoard scalars, e.g. for the offline extractor
      `{"eval/fid1k_offline": 41.2, "eval/seconds": 12.3}`: StyleGAN names (`metric_log`), ending
      in "_offline" when the extractor is the NON-STANDARD one. Each call also appends a line per
      metric to `workdir/metric-<name>.jsonl`.
    """

    def __init__(self, config, workdir):
        t = config.training
        e = config.get("eval") or {}
        self.eval_every = int(t.get("eval_every", 0) or 0)
        self.num_samples = int(t.get("eval_num_samples", 1000))
        self.extractor_kind = e.get("extractor", "offline") or "offline"
        self.extractor_path = e.get("extractor_path", None)
        num_real = e.get("num_real", None)
        self.num_real = FULL if num_real == 0 else int(num_real or self.num_samples)  # 0: StyleGAN's "_full"
        self.workdir = pathlib.Path(workdir)
        self._fingerprint = None
        self.batch_size = int(e.get("batch_size", 50))
        self.seed = int(e.get("seed", 0))
        self.split = e.get("split", None) or config.data.get("split", "train")
        self.metrics = _metrics_tuple(e.get("metrics", "fid"))
        self.data_config = config.data
        self.eval_data = config.data.copy_and_resolve_references()  # the data read: config.data on `split`
        self.eval_data.split = self.split
        self.resolution = int(config.resolution)
        self.cache_dir = pathlib.Path(workdir) / "eval" / "real_stats"
        self._extractor = None
        self._cache = None
        self._sampler = (None, None)  # (generator, sample_fn): one traced renderer per generator

    @property
    def enabled(self):
        return self.eval_every > 0

    def should_run(self, step):
        """True at every `eval_every`-th step (never when eval_every is 0)."""
        return self.enabled and step > 0 and step % self.eval_every == 0

    def _setup(self):
        if self._extractor is None:
            self._extractor = protocol.load_extractor(self.extractor_kind, self.extractor_path)
            self._cache = fid_lib.RealStatisticsCache(self.cache_dir)

    @property
    def cache_key(self):
        """`protocol.real_stats_key(...)` of this run's data and extractor (the fingerprint computed once)."""
        if self._fingerprint is None:
            self._fingerprint = dataset_fingerprint(self.data_config)
        return protocol.real_stats_key(self.data_config, self.split, self.resolution, self.extractor_kind,
                                       self.extractor_path, fingerprint=self._fingerprint)

    def _sample_fn(self, generator):
        if self._sampler[0] is not generator:
            self._sampler = (generator, protocol.sampler(generator, self.eval_data, self.batch_size, self.num_real,
                                                         seed=self.seed))
        return self._sampler[1]

    def __call__(self, generator, step):
        self._setup()
        start = time.time()
        _, grouped, _ = protocol.evaluate(
            generator, self.eval_data, self._extractor, num_samples=self.num_samples, num_real=self.num_real,
            batch_size=self.batch_size, seed=self.seed, metrics=self.metrics, sample_fn=self._sample_fn(generator),
            real_cache=self._cache, real_cache_key=self.cache_key, log_dir=self.workdir, step=step,
        )
        scalars = {}
        for k, v in ((k, v) for values in grouped.values() for k, v in values.items()):
            if math.isfinite(v):
                scalars[f"eval/{k}"] = float(v)
            else:  # e.g. kid_std with a single block of samples
                logging.info("eval: %s is undefined (%s) with these settings; not logged", k, v)
        scalars["eval/seconds"] = round(time.time() - start, 3)
        logging.info(
            "eval at step %d (%s extractor%s, %d samples): %s", step, self._extractor.name,
            "" if self._extractor.standard else ", NON-STANDARD", self.num_samples,
            " ".join(f"{k}={v:.4f}" for k, v in scalars.items()),
        )
        return scalars
