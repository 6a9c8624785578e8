#!/usr/bin/env bash
# Removes what scripts/kube-up.sh started: its pods (`podman kube play --down` of the file it
# played), its secrets and its network. The images, kustomize and the keys stay (in
# EVENTPOST_KUBE_CACHE, default /var/cache/eventpost-kube); `rm -rf` that directory to drop them.
set -euo pipefail
cache="${EVENTPOST_KUBE_CACHE:-/var/cache/eventpost-kube}"
start=$SECONDS
# Podman logs an error for each probe it cannot unschedule without systemd: kept in down.log.
if [ -f "$cache/kube.yaml" ]; then
  podman kube play --down "$cache/kube.yaml" > "$cache/down.log" 2>&1 || { tail -20 "$cache/down.log" >&2; exit 1; }
fi
podman secret rm eventpost-secrets eventpost-postgres-init >/dev/null 2>&1 || true
podman network rm eventpost-kube >/dev/null 2>&1 || true
echo "[kube-down] removed in $((SECONDS - start)) s"
