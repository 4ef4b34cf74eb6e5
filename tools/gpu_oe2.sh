#!/usr/bin/env bash
# The trunk trained beside the gate's own proxy mixture (issue 20's drawn S), on a lent GPU, in
# about a minute: the README's shipped-model train + export with `--outlier-exposure` on the
# mixture-2 proxies (`python -m cnn proxies --mixture 2 --count 30000`: the version-3 kinds,
# with 10% look-alike S s Z z, which the shipped trunk never saw). Everything after the export
# (posterior, app-shapes, uncertainty, quantize) runs on a CPU from the returned model.onnx:
#
#   python -m cnn posterior --model runs/oe2/model.onnx --out runs/oe2/model_bayes.onnx
#   python -m cnn app-shapes --model runs/oe2/model_bayes.onnx --count 100
#
# Make the proxies here first (2 minutes, one core) and carry them with MNIST:
#   python -m cnn proxies --mixture 2 --count 30000 --out .oe/train2.npy
#   device run, carry [".mnist", ".oe/train2.npy"]: OUT=$OUT bash tools/gpu_oe2.sh
# Results in $OUT/oe2: model.onnx, metrics.json, train.log (the checkpoint stays behind: the
# export is what the chain needs). GPU_OE2_DRY=1: the same on the CPU with tiny settings.
set -u -o pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the results}"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export MNIST_DIR="${MNIST_DIR:-.mnist}"
PY="${PYTHON:-python3}"
PROXIES="${PROXIES:-.oe/train2.npy}"
RUN="$(mktemp -d "${TMPDIR:-/tmp}/gpu_oe2.XXXXXX")"
mkdir -p "$OUT/oe2"
LOG="$OUT/oe2/train.log"

if [ "${GPU_OE2_DRY:-0}" = 1 ]; then
    SETTINGS=(--device cpu --epochs 1 --limit 512 --test-limit 200)
else
    SETTINGS=(--device cuda --epochs 12 --compile --compile-backend eager)
fi

"$PY" -c 'import hashlib, sys; print("proxies sha256", hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
    "$PROXIES" | tee "$LOG" || exit 1
timeout -k 5 240 "$PY" -m cnn train "${SETTINGS[@]}" --seed 0 --quiet \
    --outlier-exposure "$PROXIES" --out "$RUN" 2>&1 | tee -a "$LOG"
[ -f "$RUN/metrics.json" ] || { echo "training did not finish" | tee -a "$LOG"; exit 1; }
cp "$RUN/metrics.json" "$OUT/oe2/"
timeout -k 5 120 "$PY" -m cnn export --checkpoint "$RUN/checkpoint.pt" \
    --out "$OUT/oe2/model.onnx" 2>&1 | tee -a "$LOG"
