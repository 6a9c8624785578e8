#!/usr/bin/env bash
# Runs deploy/k8s under `podman kube play` on this (Debian 12) host, through the overlay
# deploy/podman/k8s, and returns once the gateway answers ready on http://127.0.0.1:8080.
# Nothing is published on other addresses than 127.0.0.1: the gateway's 8080, Mailpit's 8025
# and Jaeger's 16686, the ports compose-up.sh publishes too; EVENTPOST_STACK_HTTP_PORT,
# EVENTPOST_STACK_MAILPIT_PORT and EVENTPOST_STACK_JAEGER_PORT move them, for both stacks, so
# that the two can run side by side. As root:
#
#   scripts/kube-up.sh        # then scripts/kube-down.sh removes it
#
# What it does, each step timed (docs/containers.md says more):
#   1. `scripts/compose-up.sh --images`: Podman, and every image, built here (the same ones);
#   2. kustomize, built from the Go module proxy, when missing;
#   3. the service keys (`eventpost keygen`, once) in KUBE_CACHE/keys, each directory and file
#      owned by the containers' user 65532 and readable by it alone: the overlay mounts them;
#   4. the Secrets the manifests read, as Podman secrets in its own format (a JSON object of
#      base64 values), with fresh random passwords: PostgreSQL and RabbitMQ start empty;
#   5. `kustomize build deploy/podman/k8s`, through deploy/podman/kube.py (Jobs as Pods, the
#      kinds Podman does not run left out, EVENTPOST_* variables of this environment into the
#      ConfigMap), played on the network eventpost-kube after the previous run is taken down;
#   6. waits for the gateway's GET /readyz.
#
# KUBE_CACHE is EVENTPOST_KUBE_CACHE (default /var/cache/eventpost-kube): kustomize, the keys
# and the played file, kube.yaml.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${EVENTPOST_KUBE_CACHE:-/var/cache/eventpost-kube}"
network=eventpost-kube
kustomize_version=v5.8.1

me=kube-up
# shellcheck source=podman-common.sh
. "$root/scripts/podman-common.sh"

images() { "$root/scripts/compose-up.sh" --images; }

kustomize_bin() {
  if [ "$(cat "$cache/bin/kustomize.version" 2>/dev/null)" != "$kustomize_version" ]; then
    CGO_ENABLED=0 GOBIN="$cache/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version"
    echo "$kustomize_version" > "$cache/bin/kustomize.version"
  fi
}

keys() {
  local k="$cache/keys"
  if [ ! -s "$k/public/caller-keys" ]; then
    rm -rf "$k" && mkdir -p "$k"
    podman run --rm --network none --user 0:0 -v "$k:/keys" localhost/eventpost:local keygen /keys
  fi
  chown -R 65532:65532 "$k"
  find "$k" -mindepth 1 -type d -exec chmod 0500 {} +
  find "$k" -type f -exec chmod 0400 {} +
  chmod 0700 "$k"
}

# secret NAME: makes the Podman secret NAME from "key value" lines on stdin. Podman 4.3's
# kube play reads a secretKeyRef from a secret holding a JSON object of base64 values.
secret() {
  podman secret rm "$1" >/dev/null 2>&1 || true
  python3 -c 'import base64, json, sys
print(json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in (l.rstrip("\n").split(" ", 1) for l in sys.stdin)}))' |
    podman secret create "$1" - >/dev/null
}

secrets() {
  local s admin amqp
  pw() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
  admin="$(pw)" amqp="$(pw)"
  declare -A svc=([auth]="$(pw)" [events]="$(pw)" [notifications]="$(pw)" [mailer]="$(pw)")
  {
    for s in auth events notifications mailer; do
      echo "$s-database-url postgres://eventpost_$s:${svc[$s]}@postgres:5432/eventpost_$s?sslmode=disable"
    done
    echo "amqp-url amqp://eventpost:$amqp@rabbitmq:5672/"
    echo "amqp-password $amqp"
    echo "smtp-url smtp://mailpit:1025?tls=none"
  } | secret eventpost-secrets
  {
    echo "admin-url postgres://postgres:$admin@postgres:5432/postgres?sslmode=disable"
    echo "admin-password $admin"
    for s in auth events notifications mailer; do echo "$s-password ${svc[$s]}"; done
  } | secret eventpost-postgres-init
}

play() {
  "$cache/bin/kustomize" build "$root/deploy/podman/k8s" | python3 "$root/deploy/podman/kube.py" "$cache/keys" > "$cache/kube.yaml.new"
  if [ -f "$cache/kube.yaml" ]; then
    podman kube play --down "$cache/kube.yaml" > "$cache/down.log" 2>&1 || true
  fi
  mv "$cache/kube.yaml.new" "$cache/kube.yaml"
  podman network exists "$network" || podman network create "$network" >/dev/null
  podman kube play --network "$network" "$cache/kube.yaml" > "$cache/play.log" 2>&1 || {
    tail -20 "$cache/play.log" >&2
    return 1
  }
}

if [ "$(id -u)" != 0 ]; then echo "kube-up.sh: run as root (it installs packages and runs rootful Podman)" >&2; exit 1; fi
mkdir -p "$cache/bin" && chmod 0700 "$cache"
total=$SECONDS
step "images" images
step "kustomize" kustomize_bin
step "keys" keys
step "secrets" secrets
step "kube play" play
step "readiness" wait_ready 240 gateway-pod-0-gateway
log "up in $((SECONDS - total)) s: http://127.0.0.1:${EVENTPOST_STACK_HTTP_PORT:-8080} (scripts/kube-down.sh removes it)"
