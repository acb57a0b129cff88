"""StyleGAN metric names and the per-metric JSONL logs of cips-evaluate and in-training evaluation.

Names follow StyleGAN2-ADA / StyleGAN3 (`fid50k_full`, `kid50k_full`, `pr50k3_full`):

    <metric><generated count>[<k for pr>][_full | _real<real count>][_offline]

- the generated count is `50k` for 50,000 images, `2k` for 2,000, a plain number otherwise (`500`;
  precision/recall then separate k: `pr500_3`);
- `_full`: the real statistics cover the whole dataset (`num_real="full"`); no suffix when as many
  real as generated images are used (StyleGAN's `fid50k`); `_real<count>` otherwise;
- `_offline`: measured with the NON-STANDARD offline extractor (not comparable to published numbers).

One evaluation of one metric family appends one JSON line to `DIR/metric-<name>.jsonl`:

    {"metric": "fid2k_full_offline", "step": 3000, "value": 45.3,
     "results": {"fid2k_full_offline": 45.3}, "num_samples": 2000, "num_real": 10000,
     "extractor": "fashion_mnist_cnn_v1", "standard": false, "timestamp": 1.8e9}

(`value` is the family's main number; KID adds `<name>_std`, precision/recall give
`<name>_precision` and `<name>_recall` in `results` and have no single `value`.)
"""
import json
import math
import pathlib
import time

FULL = "full"


def count_tag(n):
    """50000 -> "50k", 2000 -> "2k", 500 -> "500"."""
    n = int(n)
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def metric_name(metric, num_samples, num_real, standard=True, pr_k=3):
    """The StyleGAN-style name of one metric family ("fid", "kid" or "pr")."""
    if metric not in ("fid", "kid", "pr"):
        raise ValueError(f"metric must be fid, kid or pr, got {metric!r}")
    tag = count_tag(num_samples)
    name = f"{metric}{tag}"
    if metric == "pr":  # pr50k3; pr500_3 (a separator when the count ends in a digit)
        name += f"{'' if tag.endswith('k') else '_'}{int(pr_k)}"
    if num_real == FULL:
        name += "_full"
    elif num_real is not None and int(num_real) != int(num_samples):
        name += f"_real{count_tag(num_real)}"
    return name + ("" if standard else "_offline")


def stylegan_keys(metrics, num_samples, num_real, standard, pr_k=3):
    """`{evaluate_generator key: (family, StyleGAN key)}`, e.g. "kid_offline_std" ->
    ("kid2k_full_offline", "kid2k_full_offline_std")."""
    s = "" if standard else "_offline"
    out = {}
    for metric in metrics:
        name = metric_name(metric, num_samples, num_real, standard, pr_k)
        if metric == "fid":
            out[f"fid{s}"] = (name, name)
        elif metric == "kid":
            out[f"kid{s}"], out[f"kid{s}_std"] = (name, name), (name, f"{name}_std")
        else:
            out[f"precision{s}"], out[f"recall{s}"] = (name, f"{name}_precision"), (name, f"{name}_recall")
    return out


def stylegan_results(results, metrics, num_samples, num_real, standard, pr_k=3):
    """Renames `evaluate_generator` results to StyleGAN names, grouped per metric family.

    Args:
      results: the dict `cips_tf.metrics.evaluate.evaluate_generator` returns ("fid_offline", ...).
      metrics: the families evaluated ("fid", "kid", "pr").
      num_samples: generated images; num_real: real images as requested (an int or `FULL`).
      standard: whether the extractor is the standard one; pr_k: precision/recall k.

    Returns:
      `{family_name: {metric_name: value}}`, e.g. `{"kid2k_full_offline": {"kid2k_full_offline": 0.01,
      "kid2k_full_offline_std": 0.001}}`.
    """
    out = {}
    for key, (family, name) in stylegan_keys(metrics, num_samples, num_real, standard, pr_k).items():
        out.setdefault(family, {})[name] = float(results[key])
    return out


def _finite_or_none(value):
    return value if math.isfinite(value) else None


def append_metric_logs(directory, grouped, *, step, num_samples, num_real, extractor, standard, **extra):
    """Appends one line per family of `grouped` (from `stylegan_results`) to
    `directory/metric-<family>.jsonl`; returns the paths written. Non-finite numbers become null."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for family, values in grouped.items():
        values = {k: _finite_or_none(float(v)) for k, v in values.items()}
        record = {
            "metric": family,
            "step": None if step is None else int(step),
            "value": values.get(family),
            "results": values,
            "num_samples": int(num_samples),
            "num_real": int(num_real),
            "extractor": extractor,
            "standard": bool(standard),
            "timestamp": time.time(),
            **extra,
        }
        path = directory / f"metric-{family}.jsonl"
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")
        paths.append(path)
    return paths


def read_metric_log(path):
    """The records of a `metric-<name>.jsonl` file, in order."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
