#!/usr/bin/env bash
# Installs cips-tf with its test extras, then runs the whole test suite (slow-marked tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
python3 -m pytest -q -p no:cacheprovider --timeout=1200 tests "$@"
