#!/usr/bin/env bash
# Issue 24 on a lent GPU, in one call: first the recorded step's CUDA tests
# (tests/cnn/test_cnn_graphed.py: the recorded step follows the eager one, resumes, writes
# portable checkpoints), then the timings of tools/gpu_pace.sh.
#   run(command="MNIST_DIR=.mnist bash tools/gpu_graph_check.sh", carry=[".mnist"])
set -u -o pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MNIST_DIR="${MNIST_DIR:-.mnist}"
PY="${PYTHON:-python3}"
if "$PY" -c "import pytest" 2>/dev/null; then
    # --noconftest: the suite's conftest imports the Bayesian stack the device does not have
    timeout -k 5 240 "$PY" -m pytest -q --noconftest -p no:cacheprovider \
        tests/cnn/test_cnn_graphed.py 2>&1 | tee "$OUT/graphed_tests.log"
    rc=${PIPESTATUS[0]}
else
    echo "no pytest here: the tests were not run" | tee "$OUT/graphed_tests.log"
    rc=0
fi
echo "graphed tests: rc=$rc (the timings run either way)"
GPU_PACE_BUDGET="${GPU_PACE_BUDGET:-400}" bash tools/gpu_pace.sh
tail -60 "$OUT/gpu_pace.log"
