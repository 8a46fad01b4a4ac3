#!/usr/bin/env bash
# Installs the headless browser the web end-to-end tests drive: Debian's Chromium
# (/usr/bin/chromium). Idempotent: does nothing when it is already installed.
# The Python driver (playwright, pinned in web/pyproject.toml [test]) brings its own
# node driver; it never downloads a browser build of its own.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-browser: need root for apt-get (run: sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: $(/usr/bin/chromium --version)"
