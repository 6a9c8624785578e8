#!/usr/bin/env bash
# Runs deploy/docker-compose.yml under Podman on this (Debian 12) host, with every image built
# here — no container registry needs to be reachable — and returns once the gateway answers
# ready on http://127.0.0.1:8080. Nothing is published on other addresses than 127.0.0.1:
# the gateway's 8080, and Mailpit's 8025 and Jaeger's 16686 from docker-compose.tools.yml
# (EVENTPOST_COMPOSE_TOOLS names the services whose UIs to publish); EVENTPOST_STACK_HTTP_PORT,
# EVENTPOST_STACK_MAILPIT_PORT and EVENTPOST_STACK_JAEGER_PORT move them (deploy/podman/compose.py).
# Run as root from anywhere:
#
#   scripts/compose-up.sh        # then scripts/compose-down.sh removes the stack
#   scripts/compose-up.sh --images   # steps 1-3 only (scripts/kube-up.sh runs it so)
#
# What it does, each step timed:
#   1. installs Podman, podman-compose, mmdebstrap and their helpers with apt, when missing;
#   2. sets, in /etc/containers/containers.conf, what Podman needs here when not set already:
#      runc (crun fails on this cgroup setup), cgroupfs, file events, and ulimits runc accepts;
#   3. builds every image the compose file names, each tagged with that exact name and
#      labelled with a hash of its inputs, and skips one whose label matches (docs/containers.md
#      lists them): Debian images made by mmdebstrap, EventPost from deploy/Dockerfile (Go
#      modules come from the host's module cache), Consul, Mailpit, Jaeger and an OpenTelemetry
#      Collector from Go modules built on the host. Loki, Grafana and Prometheus are not built
#      (EVENTPOST_COMPOSE_SKIP); deploy/podman/compose.py leaves them out of the stack;
#   4. writes the Podman variant of the compose file (deploy/podman/compose.py: every
#      EVENTPOST_* variable of this environment is passed to the EventPost services) and
#      starts it with podman-compose;
#   5. waits for PostgreSQL's, RabbitMQ's and Consul's health checks (podman-compose 1.0.3
#      does not wait for service_healthy), for the gateway's GET /readyz, and until Consul
#      has every EventPost instance registered and passing its check.
#
# Binaries, build contexts and the generated compose file are kept in EVENTPOST_COMPOSE_CACHE
# (default /var/cache/eventpost-compose); the images stay in Podman's store.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${EVENTPOST_COMPOSE_CACHE:-/var/cache/eventpost-compose}"
compose_file="$cache/compose.yml"
project=eventpost
# The image of every EventPost service, as Podman names it once built.
eventpost_image=localhost/eventpost:local
minbase=localhost/eventpost-minbase:bookworm
suite=bookworm
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

me=compose-up
# shellcheck source=podman-common.sh
. "$root/scripts/podman-common.sh"

# ---- 1. packages ---------------------------------------------------------------------------

install_packages() {
  local pkgs=(podman runc podman-compose fuse-overlayfs slirp4netns uidmap containernetworking-plugins iptables mmdebstrap curl)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "packages: all installed"; return; fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ---- 2. containers.conf --------------------------------------------------------------------

configure_podman() {
  python3 - /etc/containers/containers.conf <<'EOF'
"""Adds to containers.conf each setting it lacks, under its table; leaves set ones alone."""
import os, re, sys

path = sys.argv[1]
want = {
    "containers": {"default_ulimits": '["nofile=20000:20000", "nproc=32768:32768"]'},
    "engine": {"runtime": '"runc"', "cgroup_manager": '"cgroupfs"', "events_logger": '"file"'},
}
text = open(path).read() if os.path.exists(path) else ""
changed = False
for table, settings in want.items():
    for key, value in settings.items():
        if re.search(rf"^\s*{key}\s*=", text, re.M):
            continue
        line = f"{key} = {value}\n"
        header = re.search(rf"^\[{table}\]\s*$", text, re.M)
        if header:
            text = text[: header.end() + 1] + line + text[header.end() + 1 :]
        else:
            text += f"\n[{table}]\n{line}"
        changed = True
if changed:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(text)
print("containers.conf:", "updated" if changed else "already set")
EOF
}

# ---- 3. images -----------------------------------------------------------------------------

# inputs_hash ARGS...: a hash of the files and strings given (a file by its content).
inputs_hash() {
  local a
  for a in "$@"; do
    if [ -f "$a" ]; then sha256sum < "$a"; else printf '%s\n' "$a"; fi
  done | sha256sum | cut -c1-16
}

# image_hash TAG: the inputs hash an image was built from ("" if none).
image_hash() {
  podman image inspect --format '{{index .Labels "eventpost.inputs"}}' "$1" 2>/dev/null || true
}

# ensure_image TAG HASH BUILD...: runs BUILD (which gets TAG and HASH as its last two
# arguments) unless TAG exists with that hash.
ensure_image() {
  local tag="$1" hash="$2" start=$SECONDS
  shift 2
  if [ "$(image_hash "$tag")" = "$hash" ]; then
    log "image $tag: up to date ($hash)"
    return
  fi
  log "image $tag: building ($hash)"
  "$@" "$tag" "$hash"
  log "image $tag: built in $((SECONDS - start)) s"
}

# debian_image INCLUDE ENTRYPOINT_FILE SETUP_HOOK TAG HASH: a Debian minbase root file system
# with the packages INCLUDE (comma-separated), ENTRYPOINT_FILE as /usr/local/bin/entrypoint
# (if given), imported as TAG.
debian_image() {
  local include="$1" entrypoint="$2" setup="$3" tag="$4" hash="$5"
  local tar="$cache/rootfs-${tag//[^A-Za-z0-9]/_}.tar" args=(--variant=minbase --quiet --include="$include")
  [ -n "$setup" ] && args+=(--setup-hook="$setup")
  [ -n "$entrypoint" ] && args+=(--customize-hook="copy-in $entrypoint /usr/local/bin" \
    --customize-hook="mv \"\$1/usr/local/bin/$(basename "$entrypoint")\" \"\$1/usr/local/bin/entrypoint\"")
  args+=(--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin')
  mmdebstrap "${args[@]}" "$suite" "$tar"
  # PATH as the official images set it: `podman kube play` gives a container no default one,
  # so a command without a path (the postgres-init Job's psql) would not be found.
  local changes=(--change "LABEL eventpost.inputs=$hash" --change "ENV PATH=$image_path")
  if [ -n "$entrypoint" ]; then changes+=(--change 'ENTRYPOINT ["/usr/local/bin/entrypoint"]'); else changes+=(--change 'CMD ["/bin/bash"]'); fi
  podman import --quiet "${changes[@]}" "$tar" "$tag" >/dev/null
  rm -f "$tar"
}

# containerfile_image CONTEXT TAG HASH: builds TAG from CONTEXT/Containerfile.
containerfile_image() {
  podman build --quiet --pull=never --label "eventpost.inputs=$3" -t "$2" "$1" >/dev/null
}

# binary_image NAME BINARY ENTRYPOINT_JSON ENV TAG HASH: the minbase image with BINARY at
# /usr/local/bin/NAME.
binary_image() {
  local name="$1" binary="$2" entrypoint="$3" env="$4" tag="$5" hash="$6"
  local ctx="$cache/ctx/$name"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$binary" "$ctx/$name"
  {
    echo "FROM $minbase"
    echo "COPY $name /usr/local/bin/$name"
    [ -n "$env" ] && echo "ENV $env"
    echo "ENTRYPOINT $entrypoint"
  } > "$ctx/Containerfile"
  containerfile_image "$ctx" "$tag" "$hash"
  rm -f "$ctx/$name"
}

# go_binary NAME DIR PACKAGE: builds PACKAGE (static) in the module at DIR into $cache/bin/NAME,
# unless the binary there was built from the same inputs; prints the binary's path.
go_binary() {
  local name="$1" dir="$2" pkg="$3" out="$cache/bin/$1"
  local stamp
  stamp="$(inputs_hash "$(go version)" "$pkg" "$dir/go.mod" "$dir/go.sum" $(cd "$dir" && git ls-files -co --exclude-standard -- '*.go' | sed "s|^|$dir/|"))"
  if [ ! -x "$out" ] || [ "$(cat "$out.inputs" 2>/dev/null)" != "$stamp" ]; then
    log "go build $pkg (in $dir)" >&2
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out" "$pkg") >&2
    echo "$stamp" > "$out.inputs"
  fi
  echo "$out"
}

# go_install NAME MODULE@VERSION: `go install`s a program into $cache/bin unless it is there.
go_install() {
  local out="$cache/bin/$1"
  if [ ! -x "$out" ] || [ "$(cat "$out.inputs" 2>/dev/null)" != "$2" ]; then
    log "go install $2" >&2
    CGO_ENABLED=0 GOBIN="$cache/bin" go install -trimpath -ldflags "-s -w" "$2" >&2
    echo "$2" > "$out.inputs"
  fi
  echo "$out"
}

# in_parallel FUNCTION...: runs each function as a job of its own, its output prefixed with
# its name, and fails if any failed.
in_parallel() {
  local f pids=() failed=0
  for f in "$@"; do
    ("$f" 2>&1 | sed -u "s/^/[$f] /"; exit "${PIPESTATUS[0]}") &
    pids+=($!)
  done
  for f in "${pids[@]}"; do wait "$f" || failed=1; done
  return $failed
}

# The images made by mmdebstrap, and the programs built on the host: independent of each other,
# so run side by side (downloads, unpacking and compiling overlap).
minbase_image() {
  ensure_image "$minbase" "$(inputs_hash minbase "$suite" ca-certificates "$image_path")" \
    debian_image ca-certificates "" ""
}

# PostgreSQL and RabbitMQ from Debian's packages (PostgreSQL 15 is Debian 12's; RabbitMQ is
# 3.10, answering as the 3.13 the compose file names).
postgres_image() {
  local p="$root/deploy/podman"
  local no_cluster='mkdir -p "$1/etc/postgresql-common" && echo create_main_cluster=false > "$1/etc/postgresql-common/createcluster.conf"'
  ensure_image docker.io/library/postgres:15 "$(inputs_hash postgresql-15 "$no_cluster" "$p/postgres-entrypoint.sh" "$image_path")" \
    debian_image postgresql-15 "$p/postgres-entrypoint.sh" "$no_cluster"
}

rabbitmq_image() {
  local p="$root/deploy/podman"
  ensure_image docker.io/library/rabbitmq:3.13-management "$(inputs_hash rabbitmq-server "$p/rabbitmq-entrypoint.sh" "$image_path")" \
    debian_image rabbitmq-server "$p/rabbitmq-entrypoint.sh" ""
}

# Consul from tools/consul (as scripts/test.sh builds it for the tests); Mailpit; Jaeger (v2,
# whose all-in-one mode is the default) and the collector, from deploy/podman/tools.
host_programs() {
  if [ ! -x "$root/bin/consul" ]; then
    log "building Consul from tools/consul (about 3 minutes)"
    mkdir -p "$root/bin"
    (cd "$root/tools/consul" && go build -o ../../bin/consul github.com/hashicorp/consul)
  fi
  go_install mailpit github.com/axllent/mailpit@v1.33.1 >/dev/null
  go_binary jaeger "$root/deploy/podman/tools" github.com/jaegertracing/jaeger/cmd/jaeger >/dev/null
  go_binary otelcol "$root/deploy/podman/tools" ./otelcol >/dev/null
}

build_images() {
  mkdir -p "$cache/bin" "$cache/ctx"
  in_parallel minbase_image postgres_image rabbitmq_image host_programs
  local h

  # deploy/Dockerfile's two bases: golang:1.26 (this host's Go on minbase, taking modules
  # from the host's module cache, mounted at /modcache by the build below) and distroless's
  # static nonroot (an empty image with the nonroot user, CA certificates and time zones).
  h="$(inputs_hash "$(go version)" "$(image_hash "$minbase")")"
  if [ "$(image_hash docker.io/library/golang:1.26)" != "$h" ]; then
    local start=$SECONDS
    printf 'FROM %s\nCOPY . /usr/local/go\nENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOPATH=/go GOTOOLCHAIN=local GOPROXY=file:///modcache GOSUMDB=off GOFLAGS=-buildvcs=false\n' "$minbase" > "$cache/golang.Containerfile"
    podman build --quiet --pull=never --label "eventpost.inputs=$h" -t docker.io/library/golang:1.26 \
      -f "$cache/golang.Containerfile" "$(go env GOROOT)" >/dev/null
    log "image golang:1.26: built in $((SECONDS - start)) s"
  else
    log "image golang:1.26: up to date ($h)"
  fi
  local d="$cache/ctx/distroless"
  h="$(inputs_hash distroless-static-nonroot /etc/ssl/certs/ca-certificates.crt)"
  if [ "$(image_hash gcr.io/distroless/static-debian12:nonroot)" != "$h" ]; then
    rm -rf "$d" && mkdir -p "$d/etc/ssl/certs" "$d/home/nonroot" "$d/tmp"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$d/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' > "$d/etc/group"
    cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/"
    chmod 1777 "$d/tmp"
    printf 'FROM scratch\nCOPY etc /etc\nCOPY --chown=65532:65532 home /home\nCOPY tmp /tmp\nUSER 65532:65532\nWORKDIR /home/nonroot\n' > "$d/Containerfile"
    ensure_image gcr.io/distroless/static-debian12:nonroot "$h" containerfile_image "$d"
  else
    log "image gcr.io/distroless/static-debian12:nonroot: up to date ($h)"
  fi

  # EventPost: deploy/Dockerfile on the repository (its inputs: what the build context holds
  # of the module, as git sees it, and the two bases).
  h="$(cd "$root" && inputs_hash "$(image_hash docker.io/library/golang:1.26)" \
    "$(image_hash gcr.io/distroless/static-debian12:nonroot)" \
    $(git ls-files -co --exclude-standard -- go.mod go.sum deploy/Dockerfile .dockerignore cmd internal api | grep -v '_test\.go$'))"
  ensure_image "$eventpost_image" "$h" build_eventpost

  # The host-built programs on minbase.
  local base bin="$cache/bin"
  base="$(image_hash "$minbase")"
  ensure_image docker.io/hashicorp/consul:1.16.1 "$(inputs_hash "$root/bin/consul" "$base")" \
    binary_image consul "$root/bin/consul" '["/usr/local/bin/consul"]' ""
  ensure_image docker.io/axllent/mailpit:latest "$(inputs_hash "$bin/mailpit" "$base")" \
    binary_image mailpit "$bin/mailpit" '["/usr/local/bin/mailpit"]' ""
  ensure_image docker.io/jaegertracing/all-in-one:1.64.0 "$(inputs_hash "$bin/jaeger" "$base")" \
    binary_image jaeger "$bin/jaeger" '["/usr/local/bin/jaeger"]' "JAEGER_LISTEN_HOST=0.0.0.0"
  ensure_image docker.io/otel/opentelemetry-collector-contrib:0.115.1 "$(inputs_hash "$bin/otelcol" "$base")" \
    binary_image otelcol "$bin/otelcol" '["/usr/local/bin/otelcol"]' ""
}

# build_eventpost TAG HASH: deploy/Dockerfile, with the host's module cache as the build's
# module proxy.
build_eventpost() {
  (cd "$root" && go mod download)
  podman build --quiet --pull=never --label "eventpost.inputs=$2" -t "$1" \
    -v "$(go env GOMODCACHE)/cache/download:/modcache:ro" \
    -f "$root/deploy/Dockerfile" "$root" >/dev/null
}

# ---- 4. the stack --------------------------------------------------------------------------

# start_stack writes the compose file and starts it; a running stack started from another
# file (other EVENTPOST_* values, a changed deploy/) is taken down first, its volumes kept
# (podman-compose 1.0.3 would only start the containers it has, with their old settings).
start_stack() {
  python3 "$root/deploy/podman/compose.py" "$root/deploy" "$compose_file.new"
  if [ -f "$compose_file" ] && ! cmp -s "$compose_file" "$compose_file.new" &&
    [ -n "$(podman ps -aq --filter "label=io.podman.compose.project=$project")" ]; then
    log "the compose file changed: recreating the containers (volumes kept)"
    podman-compose -p "$project" -f "$compose_file" down > "$cache/down.log" 2>&1
  fi
  mv "$compose_file.new" "$compose_file"
  podman-compose -p "$project" -f "$compose_file" up -d > "$cache/up.log" 2>&1 || {
    tail -20 "$cache/up.log" >&2
    return 1
  }
}

# ---- 5. readiness --------------------------------------------------------------------------

# wait_healthy SERVICE SECONDS: runs the container's health check until it passes.
wait_healthy() {
  local c="${project}_$1_1" i
  for ((i = 0; i < $2; i++)); do
    podman healthcheck run "$c" >/dev/null 2>&1 && { log "$1: healthy"; return; }
    sleep 1
  done
  echo "$1: not healthy after $2 s; podman logs $c:" >&2
  podman logs --tail 30 "$c" >&2
  return 1
}

# wait_consul SECONDS: until Consul has an instance for every running EventPost container and
# every instance passes its check. The gateway's /readyz says that the gateway is up, not that
# the services behind it are found: an instance gets requests once its check passes (or while
# no instance of its service passes, see internal/platform/discovery). Logs the checks that
# still fail every 10 s, with Consul's output for them.
wait_consul() {
  local c="${project}_consul_1" want state end=$((SECONDS + $1)) next=$((SECONDS + 10)) start=$SECONDS
  want="$(podman ps -q --filter "label=io.podman.compose.project=$project" --filter "ancestor=$eventpost_image" | wc -l)"
  while ((SECONDS < end)); do
    state="$(podman exec "$c" consul watch -type=checks 2>/dev/null | python3 -c '
import json, sys
checks = [c for c in json.load(sys.stdin) if c["ServiceID"]]
failing = [c["ServiceID"] + " " + c["Status"] + (": " + c["Output"].strip()[:200] if c["Output"] else "") for c in checks if c["Status"] != "passing"]
print(len(checks) - len(failing), "; ".join(failing))' 2>/dev/null)"
    if [ "${state%% *}" = "$want" ] && [ "${state#* }" = "" ]; then
      log "consul: all $want instances passing, $((SECONDS - start)) s after the gateway was ready"
      return
    fi
    if ((SECONDS >= next)); then
      log "consul: ${state%% *} of $want instances passing; ${state#* }"
      next=$((SECONDS + 10))
    fi
    sleep 1
  done
  echo "consul: not every instance passing after $1 s: ${state:-no answer}" >&2
  return 1
}

wait_stack() {
  wait_healthy postgres 120
  wait_healthy rabbitmq 180
  wait_healthy consul 60
  wait_ready 240 "${project}_gateway_1"
  wait_consul 120
}

if [ "$(id -u)" != 0 ]; then echo "compose-up.sh: run as root (it installs packages and runs rootful Podman)" >&2; exit 1; fi
total=$SECONDS
step "packages" install_packages
step "containers.conf" configure_podman
step "images" build_images
# `compose-up.sh --images` stops here: scripts/kube-up.sh runs the same images.
if [ "${1:-}" = --images ]; then log "images ready in $((SECONDS - total)) s"; exit 0; fi
step "compose up" start_stack
step "readiness" wait_stack
log "up in $((SECONDS - total)) s: http://127.0.0.1:${EVENTPOST_STACK_HTTP_PORT:-8080} (scripts/compose-down.sh removes it)"
