#!/usr/bin/env bash
# Debian's Chromium for the Playwright end-to-end test (tests/app/test_app_e2e.py).
# Playwright drives it through executable_path=/usr/bin/chromium; never `playwright install`.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || true)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium
/usr/bin/chromium --version 2>/dev/null || true
