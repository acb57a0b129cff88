"""Quality per CPU-minute: offline FID against minutes of training, one line per named variant.

    python3 benchmarks/quality_per_minute.py --minutes=8 --variants=fp32,bf16 --seeds=0,1,2
    python3 benchmarks/quality_per_minute.py --list          # the named variants

Each (variant, seed) trains `--config` (default the quickstart) in a fresh process for `--minutes`
of training time (`training.time_budget`), checkpointing every `--every` seconds of training time
(`training.checkpoint_every_secs`, all kept). Afterwards every checkpoint's G_ema is scored with
offline FID (NON-STANDARD: the Fashion-MNIST classifier of `cips_tf.metrics.feature_extractor`,
`--num_samples` samples against the 10k test images, which training never sees), at the training
time the checkpoint stores (`train_seconds`: the budget's clock, so start-up and compilation count).
Evaluation runs after training, never inside the timed run.

Prints a table (median FID over the seeds at each minute mark, the seeds' range, steps/min), and
writes `OUT/results.json` and `OUT/fid_per_minute.png` (FID against minutes; one line per variant,
the seeds' median, a band for their range). The fp32 and bf16 matmul peaks of this machine,
measured in this process before the runs, head the table: timings are only comparable beside them.
Variants run one after another, never at once; pass `--interleave` to alternate variants per seed
so that a change of machine load hits every variant alike.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cips_tf  # noqa: E402,F401  (first: TensorFlow starts without the CUDA probe lines)
import tensorflow as tf  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

# name -> (config overrides, extra environment, description). The quickstart's own recipe is "default".
VARIANTS = {
    "default": ({}, {}, "configs/quickstart.py as it is"),
    "fp32": ({"training.mixed_precision": "float32"}, {}, "float32 compute"),
    "bf16": ({"training.mixed_precision": "mixed_bfloat16"}, {}, "Keras mixed_bfloat16 (bf16 compute, fp32 weights)"),
    "fpmath_bf16": ({"training.mixed_precision": "float32"}, {"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"},
                    "float32 model, oneDNN's bf16 fpmath mode in its matmuls/convolutions"),
    "xla": ({"training.jit_compile": True}, {}, "XLA on the per-replica gradient computations"),
    "official": ({"optimizer.learning_rate": 2e-3, "ema.rampup": 0.0, "ema.half_life_kimg": 2.0,
                  "loss.r1_gamma": 10.0, "optimizer.d_reg_every": 16, "batch_size": 16, "model.n_mlp": 4,
                  "model.widths": [96, 96, 96, 96], "discriminator.widths": [48, 96, 96, 96],
                  "model.hidden_size": 64, "model.style_dim": 64},
                 {}, "official hyperparameters at the quickstart's widths (96, batch 16)"),
    "ada_recipe": ({"optimizer.learning_rate": 2.5e-3, "ema.rampup": 0.05, "model.n_mlp": 2}, {},
                   "StyleGAN2-ADA's small-data choices: lr 2.5e-3, EMA ramp-up 0.05, mapping depth 2"),
    "lr3e-3": ({"optimizer.learning_rate": 3e-3}, {}, "learning rate 3e-3"),
    "lr2e-3": ({"optimizer.learning_rate": 2e-3}, {}, "learning rate 2e-3 (the official rate; the quickstart before 3e-3)"),
    "lr1e-3": ({"optimizer.learning_rate": 1e-3}, {}, "learning rate 1e-3"),
    "ema_rampup": ({"ema.rampup": 0.05}, {}, "StyleGAN2-ADA's EMA ramp-up (0.05)"),
    "no_ema_rampup": ({"ema.rampup": 0.0}, {}, "no EMA ramp-up"),
    "r1_1": ({"loss.r1_gamma": 1.0}, {}, "R1 gamma 1"),
    "r1_every4": ({"optimizer.d_reg_every": 4}, {}, "R1 every 4 D steps"),
    "batch32": ({"batch_size": 32}, {}, "batch 32"),
    "batch8": ({"batch_size": 8}, {}, "batch 8"),
    "map2": ({"model.n_mlp": 2}, {}, "mapping depth 2"),
    "wide128": ({"model.widths": [128, 128, 128, 128]}, {}, "G widths 128"),
    "narrow64": ({"model.widths": [64, 64, 64, 64], "model.hidden_size": 32}, {}, "G widths 64, hidden 32"),
    "d_small": ({"discriminator.widths": [32, 64, 64, 64]}, {}, "D widths 32-64"),
    # Small data (issue 22's demonstration): a fixed random subset of 1,000 images, without and with
    # ADA, at StyleGAN2-ADA's R1 weight for the resolution (its "auto" config: 0.0002 * res^2 / batch =
    # 0.0128 at 32 px, batch 16). With the quickstart's gamma 10, D does not overfit 200 or 1,000 images
    # within 1,000 steps (r_t fell to ~0.4), so ADA would keep p at 0. A short run lets p move 5x
    # faster than StyleGAN2-ADA's 500 kimg from 0 to 1, or it could barely leave 0.
    "subset1k": ({"data.max_images": 1000, "loss.r1_gamma": 0.0128}, {},
                 "1,000 training images (data.max_images), R1 gamma 0.0128, no augmentation"),
    "subset1k_ada": ({"data.max_images": 1000, "loss.r1_gamma": 0.0128, "augment.mode": "ada",
                      "augment.ada_kimg": 100.0}, {},
                     "1,000 training images, R1 gamma 0.0128, ADA (bgc, target 0.6, p 0 to 1 in 100 kimg)"),
    # 1,000 images did not overfit in 1,500 steps. On 100, r_t is above the 0.6 target from the start
    # (~0.8 by step 300 in a pilot), so ADA's controller has work to do in a CPU-sized run; but r_t
    # did not climb without ADA in 1,200 steps either (README, "Small datasets"): the overfitting ADA
    # exists for needs far longer runs. p moves 50x faster than StyleGAN2-ADA's 500 kimg from 0 to 1,
    # so that it can reach the values small sets need (0.2-0.8 in the ADA paper) within ~8 kimg.
    "subset100": ({"data.max_images": 100, "loss.r1_gamma": 0.0128}, {},
                  "100 training images (data.max_images), R1 gamma 0.0128, no augmentation"),
    "subset100_ada": ({"data.max_images": 100, "loss.r1_gamma": 0.0128, "augment.mode": "ada",
                       "augment.ada_kimg": 10.0}, {},
                      "100 training images, R1 gamma 0.0128, ADA (bgc, target 0.6, p 0 to 1 in 10 kimg)"),
}


def _flag(key, value):
    if isinstance(value, (list, tuple)):
        value = "[" + ",".join(str(v) for v in value) + "]"
    return f"--config.{key}={value}"


def train(config, workdir, variant, seed, minutes, every, steps=None, every_steps=None):
    overrides, env, _ = VARIANTS[variant]
    if steps:  # a fixed step count with snapshots every `every_steps` (load-independent comparisons)
        schedule = [f"--config.num_train_steps={steps}", "--config.training.time_budget=",
                    "--config.training.checkpoint_every_secs=0", f"--config.training.checkpoint_every={every_steps}"]
    else:
        schedule = [f"--config.training.time_budget={minutes}m", "--config.num_train_steps=10000000",
                    f"--config.training.checkpoint_every_secs={every}",
                    f"--config.training.checkpoint_every={every_steps or 10000000}"]
    cmd = [sys.executable, "-m", "cips_tf.cli.train", f"--config={config}", f"--workdir={workdir}",
           f"--config.seed={seed}", *schedule,
           "--config.training.keep_checkpoints=100000", "--config.training.sample_every=0",
           *(_flag(k, v) for k, v in overrides.items())]
    started = time.time()
    log = pathlib.Path(workdir).with_suffix(".log")
    pathlib.Path(workdir).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        subprocess.run(cmd, env={**os.environ, **env}, stdout=f, stderr=subprocess.STDOUT, check=True)
    return time.time() - started


def checkpoints_with_time(workdir):
    """[(train_seconds, step, prefix)] of a run's checkpoints, oldest first."""
    out = []
    for index in sorted(pathlib.Path(workdir, "checkpoints").glob("ckpt-*.index")):
        prefix = str(index)[: -len(".index")]
        reader = tf.train.load_checkpoint(prefix)
        seconds = float(reader.get_tensor("train_seconds/.ATTRIBUTES/VARIABLE_VALUE"))
        out.append((seconds, int(prefix.rsplit("-", 1)[1]), prefix))
    return sorted(out)


def score(workdir, extractor, num_samples, real_config):
    from cips_tf import data as data_lib
    from cips_tf.metrics import evaluate
    from cips_tf.loading import load_generator
    from quickstart_learning import sample_fn_for

    points = []
    for seconds, step, _ in checkpoints_with_time(workdir):
        generator = load_generator(workdir, step=step).generator
        real = data_lib.build_dataset(real_config, resolution=generator.size, batch_size=250, seed=0, training=False)
        fid = evaluate.evaluate_generator(real, sample_fn_for(generator), extractor, num_samples=num_samples,
                                          batch_size=250, metrics=("fid",), progress=False)["fid_offline"]
        points.append({"minutes": seconds / 60.0, "step": step, "fid": float(fid)})
    return points


def scalar_curve(workdir, name):
    """[(step, value)] of the TensorBoard scalar `train/<name>` a run logged (every log_every steps)."""
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(workdir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    tag = f"train/{name}"
    if tag not in acc.Tags().get("tensors", []):
        return []
    return [(int(e.step), float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def plot_scalars(results, names, path, title):
    """One panel per logged scalar (e.g. ADA's r_t and p) against steps: each variant's median over
    its seeds, a band for their range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4), dpi=120, squeeze=False)
    for ax, name in zip(axes[0], names):
        for variant, runs in results.items():
            curves = [dict(r.get("scalars", {}).get(name, [])) for r in runs.values()]
            steps = sorted(set.intersection(*(set(c) for c in curves))) if curves and all(curves) else []
            if not steps:
                continue
            values = [[c[s] for c in curves] for s in steps]
            (line,) = ax.plot(steps, [statistics.median(v) for v in values], label=f"{variant} ({len(curves)} seeds)")
            if len(curves) > 1:
                ax.fill_between(steps, [min(v) for v in values], [max(v) for v in values], alpha=0.15,
                                color=line.get_color())
        if name == "rt":
            ax.axhline(0.6, color="grey", linestyle=":", linewidth=1, label="ADA target 0.6")
        ax.set_xlabel("training steps")
        ax.set_ylabel({"rt": "r_t = E[sign(D(real))]", "augment_p": "augmentation probability p"}.get(name, name))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def at_minute(points, minute, key="minutes"):
    """The FID of the last checkpoint at or before `minute` (+2 s of save slack; or at or before a
    step with `key="step"`), or None."""
    slack = 2.0 / 60.0 if key == "minutes" else 0
    before = [p for p in points if p[key] <= minute + slack]
    return before[-1] if before else None


def table(results, marks, key="minutes"):
    lines = []
    unit = " min" if key == "minutes" else " steps"
    header = "| variant | " + " | ".join(f"{m:g}{unit}" for m in marks) + " | steps/min | seeds |"
    lines += [header, "|" + " --- |" * (len(marks) + 3)]
    for variant, runs in results.items():
        cells = []
        for m in marks:
            fids = [p["fid"] for p in (at_minute(r["points"], m, key) for r in runs.values()) if p]
            if not fids:
                cells.append("-")
            elif len(fids) == 1:
                cells.append(f"{fids[0]:.1f}")
            else:
                cells.append(f"{statistics.median(fids):.1f} ({min(fids):.0f}-{max(fids):.0f})")
        rates = [r["points"][-1]["step"] / max(r["points"][-1]["minutes"], 1e-9) for r in runs.values() if r["points"]]
        rate = f"{statistics.median(rates):.0f}" if rates else "-"
        lines.append(f"| {variant} | " + " | ".join(cells) + f" | {rate} | {len(runs)} |")
    return "\n".join(lines)


def plot(results, path, key, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for variant, runs in results.items():
        grid = sorted({round(p[key], 2) for r in runs.values() for p in r["points"]})
        marks = [m for m in grid if all(at_minute(r["points"], m, key) for r in runs.values())]
        if not marks:
            continue
        per_seed = [[at_minute(r["points"], m, key)["fid"] for r in runs.values()] for m in marks]
        median = [statistics.median(v) for v in per_seed]
        (line,) = ax.plot(marks, median, marker="o", markersize=3, label=f"{variant} ({len(runs)} seeds)")
        if len(runs) > 1:
            ax.fill_between(marks, [min(v) for v in per_seed], [max(v) for v in per_seed], alpha=0.15,
                            color=line.get_color())
    ax.set_xlabel("minutes of training (budget clock: start-up and compilation included)" if key == "minutes"
                  else "training steps")
    ax.set_ylabel("offline FID (non-standard, lower is better)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "quickstart.py"))
    parser.add_argument("--variants", default="default")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds of training between snapshots")
    parser.add_argument("--steps", type=int, default=0,
                        help="train this many steps instead of --minutes (FID at equal steps: a comparison of "
                             "recipes that machine load cannot bias)")
    parser.add_argument("--every_steps", type=int, default=None,
                        help="steps between snapshots (default 250 with --steps); with --minutes, snapshots at these "
                             "steps as well, and a second table compares the variants at equal steps")
    parser.add_argument("--num_samples", type=int, default=2000)
    parser.add_argument("--out", default="runs/quality_per_minute")
    parser.add_argument("--interleave", action="store_true")
    parser.add_argument("--score_only", action="store_true", help="score existing runs in --out, train nothing")
    parser.add_argument("--train_only", action="store_true", help="train, score later (--score_only)")
    parser.add_argument("--extractor_dir", default=None,
                        help="offline extractor directory (default: the one cips-evaluate uses, trained there once)")
    parser.add_argument("--scalars", default="",
                        help="comma-separated TensorBoard scalars (train/<name>, e.g. rt,augment_p) to read from "
                             "each run and plot against steps (OUT/scalars.png)")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for name, (overrides, env, text) in VARIANTS.items():
            print(f"{name:14s} {text}: {overrides or ''} {env or ''}")
        return
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; --list shows them")
    seeds = [int(s) for s in args.seeds.split(",")]
    every_steps = args.every_steps or (250 if args.steps else None)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from matmul_peak import peak_gflops, peak_gflops_bf16

    peaks = {"fp32_gflops": peak_gflops(5), "bf16_gflops": peak_gflops_bf16(5)}
    if (out / "results.json").exists() and args.score_only:  # the peaks of the training runs
        peaks = json.loads((out / "results.json").read_text()).get("peaks", peaks)
    print(f"matmul peaks: fp32 {peaks['fp32_gflops']:.0f} GFLOP/s, bf16 {peaks['bf16_gflops']:.0f} GFLOP/s", flush=True)
    order = ([(v, s) for s in seeds for v in variants] if args.interleave else
             [(v, s) for v in variants for s in seeds])
    wall = {}
    for variant, seed in order:
        workdir = out / f"{variant}-seed{seed}"
        if args.score_only or (workdir / "checkpoints").exists():
            continue
        print(f"training {variant} seed {seed} for "
              f"{f'{args.steps} steps' if args.steps else f'{args.minutes:g} min'} ...", flush=True)
        wall[f"{variant}-seed{seed}"] = train(args.config, workdir, variant, seed, args.minutes, args.every,
                                              args.steps, every_steps)

    if args.train_only:
        return
    from cips_tf import data as data_lib
    from cips_tf.metrics import protocol

    extractor = protocol.load_extractor("offline", args.extractor_dir)  # None: protocol.default_extractor_dir()
    real_config = data_lib.default_config()
    real_config.source, real_config.split = "fashion_mnist", "test"
    results = {}
    for variant in variants:
        results[variant] = {}
        for seed in seeds:
            workdir = out / f"{variant}-seed{seed}"
            if not (workdir / "checkpoints").exists():
                continue
            print(f"scoring {workdir} ...", flush=True)
            results[variant][seed] = {"points": score(workdir, extractor, args.num_samples, real_config),
                                      "process_seconds": wall.get(workdir.name)}
            scalars = [n for n in args.scalars.split(",") if n]
            if scalars:
                results[variant][seed]["scalars"] = {n: scalar_curve(workdir, n) for n in scalars}
    if args.steps:
        key, marks = "step", list(range(every_steps, args.steps + 1, every_steps))
    else:
        key, marks = "minutes", list(range(1, int(args.minutes) + 1))
    text = table(results, marks, key)
    if not args.steps and every_steps:  # the same runs at equal steps: every step all runs reached
        reached = min((r["points"][-1]["step"] for runs in results.values() for r in runs.values() if r["points"]),
                      default=0)
        step_marks = list(range(every_steps, reached + 1, every_steps))
        text += ("\n\nThe same runs at equal steps (the snapshots every "
                 f"{every_steps} steps):\n\n" + table(results, step_marks, "step"))
    print(f"\nmatmul peaks: fp32 {peaks['fp32_gflops']:.0f}, bf16 {peaks['bf16_gflops']:.0f} GFLOP/s; "
          f"offline FID (non-standard), {args.num_samples} samples vs the test split; median (range) over seeds\n")
    print(text)
    (out / "results.json").write_text(json.dumps({"peaks": peaks, "config": args.config, "minutes": args.minutes,
                                                  "num_samples": args.num_samples, "results": results,
                                                  "variants": {v: VARIANTS[v][:2] for v in variants}}, indent=1))
    (out / "table.md").write_text(text + "\n")
    try:
        plot(results, out / "fid_per_minute.png", key,
             f"{pathlib.Path(args.config).name}: fp32 {peaks['fp32_gflops']:.0f} / bf16 "
             f"{peaks['bf16_gflops']:.0f} GFLOP/s matmul peak, {args.num_samples} samples")
        print(f"plot: {out / 'fid_per_minute.png'}")
        if args.scalars:
            plot_scalars(results, [n for n in args.scalars.split(",") if n], out / "scalars.png",
                         f"{pathlib.Path(args.config).name}: {', '.join(variants)}")
            print(f"plot: {out / 'scalars.png'}")
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot")


if __name__ == "__main__":
    main()
