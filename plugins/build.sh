#!/usr/bin/env bash
# Build every plugin guest to a core wasm module:
#   plugins/target/wasm32-unknown-unknown/release/warden_plugin_*.wasm
# With rustup's wasm32-unknown-unknown target installed, a plain cargo build.
# Without it (rustup cannot download targets on every machine), Debian's
# compiler with the library source builds core and alloc from source:
#   apt-get install rustc-web cargo-web rust-web-src lld-22
# Turning a core module into a component is the host build's job
# (runtime/plugin-fixtures) or `wasm-tools component new` (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
target=wasm32-unknown-unknown
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  exec cargo build --release --target "$target" "$@"
fi
missing=""
[ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] || missing="$missing rustc-web cargo-web"
[ -d /usr/lib/rustlib/src/rust/library ] || missing="$missing rust-web-src"
command -v wasm-ld-22 >/dev/null 2>&1 || missing="$missing lld-22"
if [ -n "$missing" ]; then
  echo "plugins/build.sh: no wasm32 toolchain. Either 'rustup target add $target'," >&2
  echo "or 'apt-get install$missing' (Debian bookworm-security)." >&2
  exit 1
fi
PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22 \
  exec /usr/bin/cargo build --release --target "$target" -Zbuild-std=core,alloc "$@"
