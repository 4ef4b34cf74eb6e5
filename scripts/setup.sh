#!/usr/bin/env bash
# Set this clone up for the app and the tests, idempotently (run it again: it only checks):
#   1. a virtual environment in .venv (Python 3.11 or newer),
#   2. torch: the CPU build when there is no NVIDIA GPU (a few hundred MB instead of several GB),
#   3. the project with its dev extras (pip install -e ".[dev]"),
#   4. Debian's chromium and handwriting fonts for the browser and robustness tests, where this
#      user may install packages (root, or sudo without a password); else one line says so.
# `make app` and `make test` call it first; it prints one line per step.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
TORCH_PIN=$(sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml | head -n 1)
CPU_INDEX=https://download.pytorch.org/whl/cpu
export PIP_DISABLE_PIP_VERSION_CHECK=1

find_python() {
    for candidate in ${PYTHON:-} python3.11 python3.12 python3.13 python3 python; do
        if command -v "$candidate" > /dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2> /dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "setup: no Python 3.11 or newer found (set PYTHON=/path/to/python3.11)" >&2
    exit 1
}

if [ ! -x "$VENV/bin/python" ]; then
    python=$(find_python)
    echo "setup: creating $VENV with $($python --version)"
    "$python" -m venv "$VENV"
fi
PY="$VENV/bin/python"

# The stamp holds what the install was made from: pyproject.toml's hash and the torch build.
has_gpu() { command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi -L > /dev/null 2>&1; }
if has_gpu; then build=cuda; else build=cpu; fi
stamp="$build $(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$VENV/.setup-stamp" 2> /dev/null)" = "$stamp" ] && "$PY" -c "import torch, cnn" 2> /dev/null; then
    echo "setup: $VENV is up to date ($TORCH_PIN, $build build; project installed)"
else
    if ! "$PY" -c "import torch" 2> /dev/null; then
        if [ "$build" = cuda ]; then
            echo "setup: NVIDIA GPU found: installing $TORCH_PIN with CUDA (several GB)"
            "$PY" -m pip install "$TORCH_PIN"
        elif "$PY" -c "import urllib.request as u; u.urlopen('$CPU_INDEX/torch/', timeout=5)" 2> /dev/null; then
            echo "setup: no NVIDIA GPU: installing $TORCH_PIN, CPU build, from $CPU_INDEX"
            "$PY" -m pip install "$TORCH_PIN" --index-url "$CPU_INDEX"
        else
            echo "setup: no NVIDIA GPU, and PyTorch's CPU index ($CPU_INDEX) does not answer" \
                "within 5 s: installing $TORCH_PIN from your usual index instead (on Linux that" \
                "may be the CUDA build, several GB)"
            "$PY" -m pip install --retries 1 "$TORCH_PIN"
        fi
    fi
    echo "setup: installing the project into $VENV (pip install -e \".[dev]\")"
    "$PY" -m pip install -q -e ".[dev]"
    echo "$stamp" > "$VENV/.setup-stamp"
fi

# System packages: only where this user may install them, never a password prompt.
if [ "${SKIP_SYSTEM_PACKAGES:-0}" = 1 ]; then
    echo "setup: system packages skipped (SKIP_SYSTEM_PACKAGES=1)"
elif ! command -v apt-get > /dev/null 2>&1; then
    echo "setup: no apt-get: install chromium and handwriting fonts yourself if you want the" \
        "browser test and the font robustness tests (they skip without them)"
elif [ "$(id -u)" -eq 0 ] || sudo -n true 2> /dev/null; then
    bash .ci/install-system-packages.sh | sed 's/^/setup: /'
else
    echo "setup: system packages skipped (no root, no password-less sudo): the browser test" \
        "skips; to run it: sudo bash .ci/install-system-packages.sh"
fi
