#!/usr/bin/env bash
# Debian's handwriting-like fonts: serving's robustness tests draw digits in them on a canvas
# (tests/serving/test_serving_robustness.py; without them only matplotlib's DejaVu is used).
set -euo pipefail

FONTS="fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-comic-neue fonts-bwht fonts-sjfonts"
if dpkg -s $FONTS > /dev/null 2>&1; then
    echo "handwriting fonts already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $FONTS
