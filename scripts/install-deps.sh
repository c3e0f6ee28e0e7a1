#!/usr/bin/env bash
# Installs the Debian packages skiff builds and tests with (root, Debian/Ubuntu).
# Idempotent: installs only what is missing.
set -euo pipefail
packages=(protobuf-compiler libprotobuf-dev etcd-server etcd-client jq curl ca-certificates busybox-static zstd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian starts an etcd service on install; skiff's tests run their own on free ports.
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install a Rust toolchain (1.95+) first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
