#!/usr/bin/env bash
# Removes the stack scripts/compose-up.sh started: its containers, networks and volumes (the
# database, the broker's data and the service keys). The images and
# EVENTPOST_COMPOSE_CACHE (default /var/cache/eventpost-compose: host-built binaries) stay, so
# the next compose-up.sh starts in about a minute; `podman image prune -a` and removing that
# directory free their space.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${EVENTPOST_COMPOSE_CACHE:-/var/cache/eventpost-compose}"
compose_file="$cache/compose.yml"
project=eventpost
label="io.podman.compose.project=$project"
start=$SECONDS

log() { printf '[compose-down %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

if ! command -v podman >/dev/null; then log "no podman: nothing to remove"; exit 0; fi
if [ ! -f "$compose_file" ]; then
  python3 "$root/deploy/podman/compose.py" "$root/deploy" "$compose_file"
fi
# podman-compose 1.0.3's down stops the containers (each with its stop_grace_period) and
# removes them and the volumes; the networks, and anything it missed, go by the project label.
command -v podman-compose >/dev/null && podman-compose -p "$project" -f "$compose_file" down -v >/dev/null 2>&1 || true
mapfile -t left < <(podman ps -aq --filter "label=$label")
[ ${#left[@]} -eq 0 ] || podman rm -f -t 20 "${left[@]}" >/dev/null
mapfile -t left < <(podman volume ls -q --filter "label=$label")
[ ${#left[@]} -eq 0 ] || podman volume rm -f "${left[@]}" >/dev/null
mapfile -t left < <(podman network ls -q --filter "label=$label")
[ ${#left[@]} -eq 0 ] || podman network rm -f "${left[@]}" >/dev/null
log "removed the $project stack (containers, networks, volumes) in $((SECONDS - start)) s; images kept"
