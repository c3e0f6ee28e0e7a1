#!/usr/bin/env bash
# The hollow demo (scripts/demo.sh --hollow): install what is missing,
# build, start a skiff server (API, controllers, scheduler) on loopback and three
# hollow nodes, apply the seed manifests with skiff and with the real kubectl,
# roll out, change the image, roll back, scale, delete, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build -p skiff
skiff=target/debug/skiff

state=$(mktemp -d /tmp/skiff-demo.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$skiff" server --data-dir "$state" --listen "127.0.0.1:$port" --write-kubeconfig "$state/kubeconfig" \
  --lab-profile >"$state/server.log" 2>&1 &
server_pid=$!
agent_pid=
cleanup() {
  # Our own children, by PID.
  [ -n "$agent_pid" ] && { kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; }
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -f "$state/kubeconfig" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
export KUBECONFIG="$state/kubeconfig"
"$skiff" agent --hollow --nodes 3 --lab-profile >"$state/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do [ "$("$skiff" get nodes --no-headers 2>/dev/null | grep -c ' Ready ')" = 3 ] && break; sleep 0.1; done

step() { printf '\n$ %s\n' "$*"; "$@"; }
step "$skiff" get nodes
step "$skiff" apply -f manifests/nginx-deployment.yaml -f manifests/nginx-service.yaml
step "$skiff" apply -f manifests/nginx-deployment.yaml
step "$skiff" rollout status deploy/nginx-deployment --timeout=60s
step "$skiff" get deploy,rs,pods,svc,endpoints -o wide
if command -v kubectl >/dev/null; then
  step kubectl set image deploy/nginx-deployment nginx=nginx:1.27
  step kubectl rollout status deploy/nginx-deployment --timeout=60s
fi
step "$skiff" rollout undo deploy/nginx-deployment
step "$skiff" rollout status deploy/nginx-deployment --timeout=60s
step "$skiff" scale deploy nginx-deployment --replicas=5
step "$skiff" rollout status deploy/nginx-deployment --timeout=60s
step "$skiff" describe deploy nginx-deployment
step "$skiff" delete -f manifests/nginx-deployment.yaml -f manifests/nginx-service.yaml
echo
echo "demo done: hollow nodes pretend to run the pods; real containers arrive with the next milestone"
