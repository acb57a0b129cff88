#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv, train a small CIPS on Fashion-MNIST (offline,
# Debian's dataset-fashion-mnist), export it for TF Serving, and write samples and experiment
# outputs. Training runs for a wall-clock budget (configs/quickstart.py: training.time_budget), so a
# fast machine gets more steps than a slow one and the whole job stays within minutes everywhere.
# WORKDIR defaults to runs/quickstart; extra arguments go to cips-train
# (e.g. --config.training.time_budget=3m, or --config.num_train_steps=500 for a step count).
set -euo pipefail
cd "$(dirname "$0")/.."
CIPS_EXTRAS="${CIPS_EXTRAS-}" bash scripts/install.sh
VENV="${CIPS_VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"
WORKDIR="${WORKDIR:-runs/quickstart}"
cips-train --config=configs/quickstart.py --workdir="$WORKDIR" "$@"
cips-export --model="$WORKDIR" --export_base="$WORKDIR/serving" --model_name=cips
cips-generate --model="$WORKDIR" --task=compare,sample,interpolate,super_resolution --num=16 \
  --out="$WORKDIR/generated" --overwrite  # a rerun (more training) replaces the last samples
echo "SavedModel: $WORKDIR/serving/cips/ ; more samples: $WORKDIR/generated/ ; training grids: $WORKDIR/samples/"
echo "Look: final samples $WORKDIR/generated/compare/samples.png beside real images" \
  "$WORKDIR/generated/compare/real.png, side by side in $WORKDIR/generated/compare/samples_vs_real.png"
