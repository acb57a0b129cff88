#!/usr/bin/env bash
# Installs cips-tf with its test extras into .venv (scripts/install.sh), then runs the whole test
# suite (slow-marked tests included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
CIPS_EXTRAS="${CIPS_EXTRAS-test,metrics,video}" CIPS_WITH_TORCH="${CIPS_WITH_TORCH:-1}" bash scripts/install.sh
VENV="${CIPS_VENV:-.venv}"
# The venv's console scripts (cips-train, ...) are what the subprocess tests run.
export PATH="$PWD/$VENV/bin:$PATH"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --timeout=1200 tests "$@"
