#!/usr/bin/env bash
# Installs cips-tf and everything its tests and quickstart need on a fresh Debian machine.
# Offline data: Debian's dataset-fashion-mnist (70k real images). No other network access is used
# at run time; only the package registries are contacted here.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  $SUDO apt-get update -qq || true
  $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e ".[test,metrics,serving]"
# PyTorch only for the test that converts a real official .pt checkpoint; 2.13.0 is the CPU build
# this machine kind provides (an unpinned torch would pull a multi-GB CUDA build).
python3 -m pip install -q --disable-pip-version-check "torch==2.13.0" "setuptools<81"
