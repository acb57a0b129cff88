#!/usr/bin/env bash
# Installs cips-tf into a project virtualenv (.venv) on a fresh Debian machine, as root or as a
# user with sudo. Offline data: Debian's dataset-fashion-mnist (70k real images). Only the package
# registries are contacted here; nothing touches the network at run time.
#
#   bash scripts/install.sh                 # plain install + test, metrics, video, onnx, openvino, litert extras (what the tests need)
#   CIPS_EXTRAS=metrics bash scripts/install.sh
#   CIPS_VENV=/path/to/venv bash scripts/install.sh
#
# Afterwards: `source .venv/bin/activate` puts cips-train, cips-export, ... on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CIPS_VENV:-.venv}"
if [ "${CIPS_SKIP_INSTALL:-0}" = "1" ] && [ -x "$VENV/bin/python" ]; then
  exit 0  # the tests run documented scripts inside an installed venv; they never reinstall
fi
EXTRAS="${CIPS_EXTRAS-test,metrics,video,onnx,openvino,litert}"
WITH_TORCH="${CIPS_WITH_TORCH:-0}"

as_root() {
  if [ "$(id -u)" = "0" ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "install.sh: '$*' needs root and sudo is not available" >&2
    return 1
  fi
}

debian_install() {
  # Installs Debian packages that are missing; one apt-get update only when needed.
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "install.sh: installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

debian_install dataset-fashion-mnist

if [ ! -x "$VENV/bin/python" ]; then
  echo "install.sh: creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip
spec="."
if [ -n "$EXTRAS" ]; then spec=".[$EXTRAS]"; fi
echo "install.sh: pip install -e $spec into $VENV"
"$PY" -m pip install -q --disable-pip-version-check -e "$spec"
if [ "$WITH_TORCH" = "1" ]; then
  # Only for the test that converts a real official .pt checkpoint. 2.13.0 is the CPU build this
  # machine kind provides; an unpinned torch would pull a multi-GB CUDA build.
  "$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
fi
echo "install.sh: done; activate with: source $VENV/bin/activate"
