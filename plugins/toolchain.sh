#!/usr/bin/env bash
# Make sure this machine can build the plugin guests (plugins/build.sh):
# either rustup's wasm32-unknown-unknown target is installed, or Debian's
# compiler with the library source and the wasm linker. Installs the Debian
# packages when neither is there (as root, or through sudo). Idempotent and
# quick when nothing is missing.
set -euo pipefail
target=wasm32-unknown-unknown
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  exit 0
fi
if [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ] && command -v wasm-ld-22 >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "plugins/toolchain.sh: need root (or sudo) to apt-get install the wasm toolchain" >&2; exit 1; }
  sudo=sudo
fi
echo "plugins/toolchain.sh: installing Debian's rustc-web, cargo-web, rust-web-src and lld-22" >&2
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rustc-web cargo-web rust-web-src lld-22
