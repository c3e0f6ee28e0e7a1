#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine, as root: install what is missing, build,
# bring up a 3-node lab (each node a network namespace: the host's own network is never
# touched), build nginx from Debian packages, load it into the lab's registry (every node's
# docker.io mirror), apply the seed manifests unchanged, wait for the rollout, and show nginx
# answering through the Service from another node.
#
#   scripts/demo.sh           leaves the lab up (then: skiff lab down --name demo)
#   scripts/demo.sh --down    removes the lab at the end
#   scripts/demo.sh --hollow  the earlier demo: hollow nodes that pretend to run containers
set -euo pipefail
cd "$(dirname "$0")/.."
down=false
case "${1:-}" in
  --hollow) exec scripts/demo-hollow.sh ;;
  --down) down=true ;;
  "") ;;
  *) echo "usage: scripts/demo.sh [--down|--hollow]" >&2; exit 2 ;;
esac
scripts/install-deps.sh
cargo build -p skiff
skiff=$PWD/target/debug/skiff
lab=(--name demo)

step() { printf '\n$ %s\n' "$*"; "$@"; }
# A lab left by an earlier run of this demo goes first.
"$skiff" lab down "${lab[@]}" >/dev/null 2>&1 || true
"$skiff" doctor || echo "(doctor: see above; the lab carries on)"

work=$(mktemp -d /tmp/skiff-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
kubeconfig=$work/kubeconfig
step "$skiff" lab up --nodes 3 "${lab[@]}" --write-kubeconfig "$kubeconfig"
export KUBECONFIG=$kubeconfig
step image/scripts/make-nginx-oci.sh "$work/nginx-oci"
step "$skiff" lab load "$work/nginx-oci" "${lab[@]}"
step "$skiff" apply -f manifests/nginx-deployment.yaml -f manifests/nginx-service.yaml
step "$skiff" rollout status deploy/nginx-deployment --timeout=120s
step "$skiff" get nodes -o wide
step "$skiff" get pods -o wide
step "$skiff" get svc nginx-service
ip=$("$skiff" get svc nginx-service -o json | jq -r .spec.clusterIP)
# The host's curl, run inside node2's network namespace.
for _ in $(seq 100); do
  "$skiff" lab exec "${lab[@]}" node2 -- curl -sf --max-time 2 "http://$ip/" >/dev/null && break
  sleep 0.2
done
step "$skiff" lab exec "${lab[@]}" node2 -- curl -sS --max-time 5 "http://$ip/"
if command -v kubectl >/dev/null; then
  step kubectl get deploy,pods,svc -o wide
fi
if $down; then
  step "$skiff" lab down "${lab[@]}"
else
  echo
  echo "the lab stays up: export KUBECONFIG=/var/lib/skiff/lab/demo/kubeconfig"
  echo "  $skiff lab status ${lab[*]}; $skiff lab exec ${lab[*]} node1 -- ip route"
  echo "  $skiff lab down ${lab[*]}        # removes it all"
fi
