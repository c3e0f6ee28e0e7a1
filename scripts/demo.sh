#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine (root): install what is missing,
# build, start a skiff API server on loopback, apply the seed manifests with
# skiff and with the real kubectl, show them, scale, delete, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build -p skiff
skiff=target/debug/skiff

state=$(mktemp -d /tmp/skiff-demo.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$skiff" server --data-dir "$state" --listen "127.0.0.1:$port" --write-kubeconfig "$state/kubeconfig" \
  >"$state/server.log" 2>&1 &
server_pid=$!
cleanup() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
for _ in $(seq 100); do [ -f "$state/kubeconfig" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
export KUBECONFIG="$state/kubeconfig"

step() { printf '\n$ %s\n' "$*"; "$@"; }
step "$skiff" apply -f manifests/nginx-deployment.yaml -f manifests/nginx-service.yaml
step "$skiff" apply -f manifests/nginx-deployment.yaml
step "$skiff" get deploy,svc -o wide
step "$skiff" scale deploy nginx-deployment --replicas=5
step "$skiff" get deploy nginx-deployment -o yaml
if command -v kubectl >/dev/null; then
  step kubectl apply -f manifests/nginx-deployment.yaml
  step kubectl get deploy,svc
fi
step "$skiff" delete -f manifests/nginx-deployment.yaml -f manifests/nginx-service.yaml
echo
echo "demo done (controllers and real containers arrive with the next milestones)"
