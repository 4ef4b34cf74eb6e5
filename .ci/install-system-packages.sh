#!/usr/bin/env bash
# Debian packages the tests use, in one apt call (skipped when all are installed):
# - chromium: the Playwright end-to-end test drives it via executable_path=/usr/bin/chromium
#   (tests/app/test_app_e2e.py); never `playwright install`.
# - handwriting-like fonts: serving's robustness tests draw digits in them on a canvas
#   (tests/serving/test_serving_robustness.py; without them only matplotlib's DejaVu is used).
set -euo pipefail

PACKAGES="chromium fonts-dkg-handwriting fonts-breip fonts-comic-neue fonts-bwht fonts-sjfonts"
# shellcheck disable=SC2086
if dpkg -s $PACKAGES > /dev/null 2>&1; then
    echo "system packages already installed: $(/usr/bin/chromium --version 2>/dev/null || true)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $PACKAGES
/usr/bin/chromium --version 2>/dev/null || true
