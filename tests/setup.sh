#!/usr/bin/env bash
# What the tests need besides Rust, installed when missing: the wasm
# toolchain for the plugin guests, curl, and the official `openai` Python
# package (a real client for the gateway tests). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

plugins/toolchain.sh

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v curl >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends curl python3 python3-pip
fi
if ! python3 -c "import openai" >/dev/null 2>&1; then
  python3 -m pip install -q "openai==1.99.9" || python3 -m pip install -q --break-system-packages "openai==1.99.9"
fi
