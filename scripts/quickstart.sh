#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv, train a small CIPS on Fashion-MNIST (offline,
# Debian's dataset-fashion-mnist), export it for TF Serving, and write samples and experiment
# outputs. WORKDIR defaults to runs/quickstart; extra arguments go to cips-train
# (e.g. --config.num_train_steps=500).
set -euo pipefail
cd "$(dirname "$0")/.."
CIPS_EXTRAS="${CIPS_EXTRAS-}" bash scripts/install.sh
VENV="${CIPS_VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"
WORKDIR="${WORKDIR:-runs/quickstart}"
cips-train --config=configs/quickstart.py --workdir="$WORKDIR" "$@"
cips-export --model="$WORKDIR" --export_base="$WORKDIR/serving" --model_name=cips
cips-generate --model="$WORKDIR" --task=sample,interpolate,super_resolution --num=16 --out="$WORKDIR/generated"
echo "samples: $WORKDIR/generated/sample/ ; training grids: $WORKDIR/samples/ ; SavedModel: $WORKDIR/serving/cips/"
