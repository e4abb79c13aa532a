#!/usr/bin/env bash
# Debian's Chromium for the headless-browser dashboard test (Playwright drives it).
set -u
command -v chromium >/dev/null 2>&1 && exit 0
echo "installing chromium for the browser test"
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
else
  sudo apt-get update -qq >/dev/null && sudo apt-get install -y -qq chromium >/dev/null
fi
