#!/usr/bin/env bash
# Installs cips-tf with its test extras into .venv (scripts/install.sh), then runs the tests on two
# pytest-xdist workers, printing the 25 slowest tests and every skip with its reason.
#
#   bash scripts/test.sh                   the fast tier: every test not marked slow (unit, layer, model,
#                                          parity, CLI errors, small end-to-end runs); kept under 10 min on 2 cores
#   bash scripts/test.sh --all             both tiers: adds the slow tier (docs blocks, Bazel, pipelines end to
#                                          end, Beam/KFP, fault loops); .ci/run runs this
#   bash scripts/test.sh tests/layers/modulated_dense_test.py -n0     one file, in this process
#
# A whole tier (no other arguments) prints this machine's fp32 matmul peak and the CPU time of
# `import tensorflow` before and after the tests (~10 s each): machines of our kind differ 6x and
# one machine drifts 30% in a day, so a run's times mean little without them (CIPS_MACHINE_SPEED=0
# turns both off).
# Other arguments go to pytest. CIPS_SKIP_INSTALL=1 skips the (re)install when .venv exists;
# CIPS_TEST_WORKERS sets the number of workers (0: none); CIPS_REQUIRE_EXTRAS=beam,kfp,torch,video,onnx,openvino,litert,bazel
# turns the skips of those extras into failures (tests/extras.py).
set -euo pipefail
cd "$(dirname "$0")/.."
tier=(-m "not slow")
if [ "${1:-}" = "--all" ]; then
  tier=()
  shift
fi
CIPS_EXTRAS="${CIPS_EXTRAS-test,metrics,video,onnx,openvino,litert}" CIPS_WITH_TORCH="${CIPS_WITH_TORCH:-1}" bash scripts/install.sh
VENV="${CIPS_VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
# The venv's console scripts (cips-train, ...) are what the subprocess tests run.
export PATH="$VENV/bin:$PATH"
speed=0
if [ "$#" -eq 0 ] && [ "${CIPS_MACHINE_SPEED:-1}" = "1" ]; then speed=1; fi
machine_speed() {  # one line, one TensorFlow start; a failure here must not fail the run
  "$VENV/bin/python" benchmarks/matmul_peak.py --runs=3 --import-time 2>/dev/null || echo "machine speed: not measured"
}
if [ "$speed" = "1" ]; then machine_speed | sed 's/^/test.sh: before the tests: /'; fi
# Without path arguments pytest runs setup.cfg's testpaths (tests/). --timeout is a hang guard per test.
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --timeout=3600 -n "${CIPS_TEST_WORKERS:-2}" --dist=loadgroup \
  --durations=25 -rs "${tier[@]}" "$@"
rc=$?
set -e
if [ "$speed" = "1" ]; then machine_speed | sed 's/^/test.sh: after the tests: /'; fi
exit "$rc"
