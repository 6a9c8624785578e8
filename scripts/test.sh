#!/usr/bin/env bash
# The test command: sets up what the tests need on this machine, then runs every test with the
# race detector and the integration tests enabled (EVENTPOST_INTEGRATION=1), so that a missing
# service fails the run instead of skipping it.
#
# Set-up, each step only when needed: PostgreSQL on 127.0.0.1:5432 (started when installed
# but stopped, installed from Debian's packages when missing, with trust authentication for
# local TCP connections), RabbitMQ on 127.0.0.1:5672 (likewise), a Consul dev agent on
# EVENTPOST_TEST_CONSUL_ADDR (default 127.0.0.1:8500; built from tools/consul into bin/ when
# missing; left running, like PostgreSQL and RabbitMQ), Chromium for the
# browser tests, Node.js and npm for the calendar-client test and the browser tests' HTML validation, and Python 3 for the mail tests. Needs root (or sudo) for installing and starting services.
#
# Without arguments it also runs, after `go test`, golangci-lint (scripts/lint.sh, the version
# pinned there, built into bin/ when missing), every fuzz target for a short time, and, last,
# the container stacks under Podman: scripts/compose-up.sh and scripts/kube-up.sh each bring
# theirs up, deploy/compose_test.go's TestPodman* run against it, and compose-down.sh /
# kube-down.sh remove it (the images stay); EVENTPOST_TEST_CONTAINERS=0 leaves that stage out.
# golangci-lint and the stacks' images (Podman installed, every image built: 7-11 minutes on a
# fresh machine, most of it Jaeger and the OpenTelemetry Collector) are built in the
# background at the lowest priority from the start, on the CPU the earlier stages leave idle
# (logs in bin/golangci-lint.log and bin/images.log). Extra arguments go to `go test` and skip
# those three stages (e.g. scripts/test.sh -run TestUserStory).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

log() { printf '== %s\n' "$*"; }
# stage NAME CMD...: runs one stage and prints how long it took.
stage() {
  local name=$1 start=$SECONDS
  shift
  log "$name"
  "$@"
  log "$name: $((SECONDS - start)) s"
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() { # host port seconds
  for _ in $(seq 1 "$3"); do port_open "$1" "$2" && return 0; sleep 1; done
  echo "nothing answers on $1:$2 after $3 s" >&2; return 1
}

ensure_postgres() {
  if port_open 127.0.0.1 5432; then log "PostgreSQL answers"; return; fi
  if ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"; apt_install postgresql
  fi
  local ver hba
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    log "trusting local TCP connections in $hba (test machine)"
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main restart
  wait_port 127.0.0.1 5432 60
}

ensure_rabbitmq() {
  if port_open 127.0.0.1 5672; then log "RabbitMQ answers"; return; fi
  if ! command -v rabbitmq-server >/dev/null; then
    log "installing RabbitMQ"; apt_install rabbitmq-server
  fi
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  as_root rabbitmqctl await_startup >/dev/null 2>&1 || true
  wait_port 127.0.0.1 5672 120
}

ensure_consul() {
  # EVENTPOST_TEST_CONSUL_ADDR (host:port) moves the agent the tests use off 127.0.0.1:8500;
  # the agent started here keeps running after the tests (stop it with: pkill -f 'consul agent').
  local addr="${EVENTPOST_TEST_CONSUL_ADDR:-127.0.0.1:8500}"
  local host="${addr%:*}" port="${addr##*:}"
  if port_open "$host" "$port"; then log "Consul answers on $addr"; return; fi
  if [ ! -x bin/consul ]; then
    log "building Consul v1.16.1 from tools/consul (about 3 minutes)"
    mkdir -p bin
    (cd tools/consul && go build -o ../../bin/consul github.com/hashicorp/consul)
  fi
  log "starting a Consul dev agent on $addr (log: bin/consul.log; it keeps running)"
  local ports=()
  if [ "$port" != 8500 ]; then
    # Another agent may hold Consul's other default ports: use the two after the HTTP port for
    # the server and LAN gossip, and switch off what the tests do not use.
    ports=(-server-port $((port + 1)) -serf-lan-port $((port + 2)) -serf-wan-port -1 -dns-port -1 -grpc-port -1 -grpc-tls-port -1)
  fi
  nohup bin/consul agent -dev -client "$host" -bind 127.0.0.1 -http-port "$port" "${ports[@]}" -log-level warn > bin/consul.log 2>&1 &
  wait_port "$host" "$port" 60
  for _ in $(seq 1 60); do # until it has elected itself leader
    bin/consul operator raft list-peers -http-addr="$addr" 2>/dev/null | grep -q leader && return
    sleep 1
  done
  echo "Consul has no leader after 60 s" >&2; return 1
}

ensure_chromium() {
  if command -v chromium >/dev/null; then log "Chromium is installed"; return; fi
  log "installing Chromium"; apt_install chromium fonts-dejavu-core
}

ensure_openssl() { # the auth tests read keys that openssl writes
  if command -v openssl >/dev/null; then log "openssl is installed"; return; fi
  log "installing openssl"; apt_install openssl
}

ensure_node() { # the calendar-client test reads .ics with ical.js, and the browser tests check pages with html-validate; both are installed with npm
  if command -v node >/dev/null && command -v npm >/dev/null; then log "Node.js and npm are installed"; return; fi
  log "installing Node.js and npm"; apt_install nodejs npm
}

ensure_python() { # the mailer tests read mail with Python's strict email policy
  if command -v python3 >/dev/null; then log "Python 3 is installed"; return; fi
  log "installing Python 3"; apt_install python3
}

# background NAME CMD...: starts CMD, a build a later stage needs, at the lowest CPU and I/O
# priority (nice 19, the idle I/O class), its output in bin/NAME.log. It runs on what the
# stages meanwhile leave idle (the go test stage waits on timers and other processes much of
# its time) and barely slows them; await NAME, in the stage that needs it, waits for it. In a
# session of its own, so that a run that fails before then stops it, children included.
background_pids=()
background() {
  local name=$1
  shift
  mkdir -p bin
  setsid nice -n 19 ionice -c 3 "$@" > "bin/$name.log" 2>&1 &
  printf -v "bg_${name//-/_}" %s $!
  background_pids+=($!)
  log "building $name in the background (log: bin/$name.log)"
}
stop_background() {
  local pid
  for pid in "${background_pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
}
trap stop_background EXIT
await() {
  local pid_var="bg_${1//-/_}" rc=0 start=$SECONDS
  wait "${!pid_var}" || rc=$?
  log "$1: waited $((SECONDS - start)) s for its background build"
  if [ $rc != 0 ]; then tail -n 40 "bin/$1.log" >&2; fi
  return $rc
}

containers=""
if [ $# -eq 0 ] && [ "${EVENTPOST_TEST_CONTAINERS:-1}" != 0 ]; then containers=1; fi

log "go version: $(go version)"
# The stages that install Debian packages come first: the background builds install some too.
stage "PostgreSQL" ensure_postgres
stage "RabbitMQ" ensure_rabbitmq
stage "Chromium" ensure_chromium
stage "openssl" ensure_openssl
stage "Node.js" ensure_node
stage "Python 3" ensure_python
if [ $# -eq 0 ]; then
  background golangci-lint scripts/lint.sh --install
fi
if [ -n "$containers" ]; then
  # Podman and every image of the container stage (7-11 minutes on a fresh machine).
  sudo=()
  if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
  background images "${sudo[@]}" scripts/compose-up.sh --images
fi
stage "Consul" ensure_consul

check_format() {
  local unformatted
  unformatted=$(gofmt -l $(git ls-files '*.go'))
  if [ -n "$unformatted" ]; then echo "not gofmt-formatted:"; echo "$unformatted"; return 1; fi
}
stage "gofmt" check_format
stage "go vet" go vet ./...
# The OpenAPI document under Redocly's recommended rules (redocly.yaml), 0 errors and 0 warnings;
# npm keeps the pinned CLI in .cache/npm, so only the first run downloads it.
REDOCLY_CLI_VERSION=2.77.0
lint_openapi() {
  npm_config_cache="$PWD/.cache/npm" npm_config_update_notifier=false \
    npx --yes "@redocly/cli@$REDOCLY_CLI_VERSION" lint --max-problems 100 api/openapi.yaml
}
stage "redocly lint api/openapi.yaml (@redocly/cli $REDOCLY_CLI_VERSION)" lint_openapi

# The tests of the stacks under Podman (deploy/compose_test.go) run in their own stage below,
# against the stack each needs.
export EVENTPOST_INTEGRATION=1
stage "go test -race (integration tests enabled)" go test -race -count=1 -timeout 60m ${containers:+-skip '^TestPodman'} "$@" ./...
if [ $# -eq 0 ]; then
  lint() { await golangci-lint && scripts/lint.sh; }
  stage "golangci-lint (.golangci.yml)" lint
  # Every fuzz target for a short time, its seed corpus included (scripts/fuzz.sh 60s for longer).
  stage "fuzz targets, ${EVENTPOST_FUZZ_TIME:-10s} each" scripts/fuzz.sh "${EVENTPOST_FUZZ_TIME:-10s}"
fi

# stack_tests NAME VARIABLE: starts the stack NAME (compose, kube) under Podman with
# scripts/NAME-up.sh, runs deploy/'s TestPodman*/NAME against it with VARIABLE=1, and removes it
# with scripts/NAME-down.sh, whether they passed or not.
stack_tests() {
  local rc=0
  as_root "scripts/$1-up.sh" || rc=$?
  if [ $rc = 0 ]; then
    env "$2=1" go test -race -count=1 -timeout 15m -run "^TestPodman/^$1\$" -v ./deploy/ || rc=$?
  fi
  as_root "scripts/$1-down.sh" || true
  return $rc
}
if [ -n "$containers" ]; then
  # deploy/docker-compose.yml and deploy/k8s run for real under Podman, one after the other (they
  # publish the same ports on 127.0.0.1), every image built here (docs/containers.md); the
  # images stay for the next run. EVENTPOST_TEST_CONTAINERS=0 leaves this stage out.
  stage "images for the container stacks" await images
  stage "compose stack under Podman: up, tests, down" stack_tests compose EVENTPOST_COMPOSE
  stage "deploy/k8s under podman kube play: up, tests, down" stack_tests kube EVENTPOST_KUBE
fi
log "total: $SECONDS s"
