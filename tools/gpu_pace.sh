#!/usr/bin/env bash
# Training at the GPU's pace (issue 24), measured once on a lent GPU, in under 6 minutes.
#
#   (a) the README's shipped-model command, eager: python -m cnn train --epochs 12 --seed 0
#   (b) the same with --compile (the whole step recorded once as a CUDA graph, cnn/graphed.py,
#       its forward fused by inductor), (b2) the same with the forward as written
#   (c) --seeds 0,1,2,3,4 stacked in one process, 12 epochs (time vs one seed)
#   (d) python -m cnn bench --time-to 0.99 (compiled), and if time is left (e) the same eager,
#   (f) bench --pace: one step eager vs compiled vs 5 seeds stacked, images/s (in the log)
#
# Run from the repository root (no install needed: PYTHONPATH=.), MNIST in $MNIST_DIR (default
# .mnist/), results in $OUT: gpu_pace.log, a_eager.json, b_compile.json, c_seeds.json,
# d_time_to.json, e_time_to_eager.json, summary.json (7 files, a few hundred KB; no checkpoints).
# Every step has its own timeout and the script stops starting steps when its budget (345 s
# of the 360) would be overrun. GPU_PACE_DRY=1: the same steps on the CPU with tiny settings,
# to check the script itself.
set -u -o pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export MNIST_DIR="${MNIST_DIR:-.mnist}"
PY="${PYTHON:-python3}"
RUNS="$(mktemp -d "${TMPDIR:-/tmp}/gpu_pace.XXXXXX")"
LOG="$OUT/gpu_pace.log"
BUDGET="${GPU_PACE_BUDGET:-345}"
START=$(date +%s)

if [ "${GPU_PACE_DRY:-0}" = 1 ]; then
    DEVICE=(--device cpu)
    TRAIN=(--epochs 1 --limit 512 --test-limit 200)
    TIME_TO=(--time-to 0.5 --limit 1024 --test-limit 200 --epochs 1 --eval-every 2 --batch-size 64)
    TIMEOUTS=(300 300 300 300 300 300)
    PACE=(--steps 3 --members 2)
    COMPILE=(--compile --compile-backend "${GPU_PACE_DRY_BACKEND:-aot_eager}")
    BUDGET="${GPU_PACE_BUDGET:-1500}"
else
    DEVICE=(--device cuda)
    TRAIN=(--epochs 12)
    TIME_TO=(--time-to 0.99)
    TIMEOUTS=(60 120 100 70 40 45)
    PACE=(--steps 200 --members 5)
    COMPILE=(--compile)
fi

log() { echo "[gpu_pace +$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }

# step NAME TIMEOUT RESULT_FILE COMMAND...: run with a timeout cut to the budget left; the wall
# seconds and exit code go to $RUNS/NAME.wall
step() {
    local name=$1 limit=$2 result=$3
    shift 3
    local left=$((BUDGET - ($(date +%s) - START)))
    if [ "$left" -lt 20 ]; then
        log "$name: skipped, ${left}s of the budget left"
        echo '{"skipped": "budget"}' >"$RUNS/$name.wall"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    log "$name (timeout ${limit}s): $*"
    local t0 t1 rc
    t0=$(date +%s%N)
    if [ -n "$result" ]; then
        timeout -k 5 "$limit" "$@" >"$result" 2>>"$LOG"
    else
        timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1
    fi
    rc=$?
    t1=$(date +%s%N)
    local ms=$(((t1 - t0) / 1000000))
    echo "{\"wall_ms\": $ms, \"rc\": $rc, \"timeout_s\": $limit}" >"$RUNS/$name.wall"
    log "$name: rc=$rc wall=${ms}ms"
}

log "start; runs in $RUNS"
"$PY" - >>"$LOG" 2>&1 <<'EOF'
import os, platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda)
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
print("MNIST_DIR", os.environ.get("MNIST_DIR"), sorted(os.listdir(os.environ["MNIST_DIR"])))
EOF

step a_eager "${TIMEOUTS[0]}" "" "$PY" -m cnn train "${TRAIN[@]}" --seed 0 --quiet \
    "${DEVICE[@]}" --out "$RUNS/a_eager"
step b_compile "${TIMEOUTS[1]}" "" "$PY" -m cnn train "${TRAIN[@]}" --seed 0 --quiet \
    "${DEVICE[@]}" "${COMPILE[@]}" --out "$RUNS/b_compile"
step b2_compile_eager_forward "${TIMEOUTS[1]}" "" "$PY" -m cnn train "${TRAIN[@]}" --seed 0 \
    --quiet "${DEVICE[@]}" --compile --compile-backend eager --out "$RUNS/b2_compile_eager_forward"
step c_seeds "${TIMEOUTS[2]}" "" "$PY" -m cnn train "${TRAIN[@]}" --seeds 0,1,2,3,4 --quiet \
    "${DEVICE[@]}" --out "$RUNS/c_seeds"
step d_time_to "${TIMEOUTS[3]}" "$OUT/d_time_to.json" "$PY" -m cnn bench "${TIME_TO[@]}" \
    "${DEVICE[@]}" "${COMPILE[@]}" --json
step e_time_to_eager "${TIMEOUTS[4]}" "$OUT/e_time_to_eager.json" "$PY" -m cnn bench \
    "${TIME_TO[@]}" "${DEVICE[@]}" --no-compile --json
step f_pace "${TIMEOUTS[5]}" "" "$PY" -m cnn bench --pace "${PACE[@]}" "${DEVICE[@]}" \
    "${COMPILE[@]:1}"

# One JSON per training step (its metrics.json, or each seed's) and a summary table.
RUNS="$RUNS" OUT="$OUT" "$PY" - >>"$LOG" 2>&1 <<'EOF'
import json, os
from pathlib import Path

runs, out = Path(os.environ["RUNS"]), Path(os.environ["OUT"])


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def run_summary(metrics):
    if not metrics:
        return None
    epochs = metrics["epochs"]
    first = epochs[0] if epochs else {}
    return {
        "epochs": len(epochs),
        "epoch_seconds": round(sum(e["seconds"] for e in epochs), 2),
        "epoch_seconds_after_first": round(sum(e["seconds"] for e in epochs[1:]), 2),
        "images_per_s_median": sorted(e["images_per_s"] for e in epochs)[len(epochs) // 2]
        if epochs else None,
        "validation_accuracy": metrics["validation_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "compiled": first.get("compiled"),
        "compile": first.get("compile"),
    }


summary = {"wall": {}, "runs": {}}
for name in ("a_eager", "b_compile", "b2_compile_eager_forward", "c_seeds", "d_time_to",
             "e_time_to_eager", "f_pace"):
    summary["wall"][name] = load(runs / f"{name}.wall")
for name in ("a_eager", "b_compile", "b2_compile_eager_forward"):
    metrics = load(runs / name / "metrics.json")
    if metrics:
        (out / f"{name}.json").write_text(json.dumps(metrics, indent=1))
    summary["runs"][name] = run_summary(metrics)
seeds = {p.name: load(p / "metrics.json") for p in sorted((runs / "c_seeds").glob("seed*"))}
if seeds:
    (out / "c_seeds.json").write_text(json.dumps(seeds, indent=1))
summary["runs"]["c_seeds"] = {name: run_summary(m) for name, m in seeds.items()}
for name in ("d_time_to", "e_time_to_eager"):
    result = load(out / f"{name}.json")
    summary["runs"][name] = result and {k: v for k, v in result.items() if k != "curve"}
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps(summary, indent=1))
EOF
log "done"
rm -rf "$RUNS"
