#!/usr/bin/env bash
# Installs the Debian packages skiff builds and tests with (root, Debian/Ubuntu).
# Idempotent: installs only what is missing.
set -euo pipefail
# Containers: CNI plugins, nftables, iproute2 (netns), util-linux (nsenter);
# crun and runc are the runtime benchmark's anchors; docker-registry serves
# images to the pull tests.
packages=(protobuf-compiler libprotobuf-dev etcd-server etcd-client jq curl ca-certificates
  busybox-static zstd containernetworking-plugins nftables iproute2 util-linux crun runc
  docker-registry)
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
# The nginx test image is built from Debian's .debs (apt-get download): it
# needs package lists even when every package above was already installed.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  apt-get update -qq
fi
# Debian starts an etcd service on install; skiff's tests run their own on free ports.
# So does docker-registry (on :5000); the tests start registries of their own.
for service in etcd docker-registry; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install a Rust toolchain (1.95+) first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
