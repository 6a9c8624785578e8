#!/usr/bin/env bash
# scripts/scan.sh — runs three outside scanners (sqlmap, nikto, wapiti) against a local
# EventPost in the all-in-one mode, the same way on any Debian 12 machine, and writes what they
# found to a summary. Not part of the test command; CI does not run it.
#
# Usage:
#   scripts/scan.sh            the full run (23 minutes on 2 cores shared with other work; bounded as said below)
#   scripts/scan.sh --quick    a smoke run of about 6 minutes (same as SCAN_QUICK=1): every
#                              target, with the scanners' lightest settings
# Environment:
#   SCAN_QUICK=1    as --quick
#   SCAN_PORT=N     the gateway's port on 127.0.0.1 (default: a free port)
#   SCAN_OUT=DIR    where the results go (default: scan-results/ in the repository; the script
#                   puts a .gitignore of "*" in it, so git ignores it and nothing is added)
#   SCAN_NETNS=0    do not run in a network namespace of its own (see "Network" below)
# Needs: Debian 12, root or sudo (for apt-get), go and curl.
#
# What it changes on the machine — nothing else:
#   - installs the Debian packages sqlmap, nikto and wapiti (and what they depend on) when they
#     are missing, after `apt-get update`;
#   - nikto is in Debian's non-free component: when nikto is missing and apt cannot find it, the
#     script ADDS /etc/apt/sources.list.d/eventpost-scan-non-free.sources, which enables
#     non-free for the Debian mirror and release apt already uses (Components: non-free), prints
#     the file, and runs `apt-get update` again. The file stays; to undo: delete it and run
#     `apt-get update`.
#   A package that cannot be had stops the script with a message naming it. The scanners run
#   with HOME set to a temporary directory, so they write nothing in your home directory; the
#   build, EventPost's data and mail, and the scanners' sessions live in a temporary directory
#   that is removed at the end.
#
# What it does:
#  1. Installs the scanners (above).
#  2. Builds EventPost (`go build -o <tmp>/eventpost ./cmd/eventpost`) and starts the all-in-one
#     mode on 127.0.0.1:<port> with its own temporary data directory, EVENTPOST_RATE_LIMIT and
#     EVENTPOST_RATE_BURST at 100000 (with the default 20/s nearly every scanner request is
#     answered 429, which the scanners read as "nothing found"), EVENTPOST_LOG_LEVEL=debug (every
#     request logged, probes included) and nothing else from the environment (no SMTP, no OTLP,
#     no Consul: mail goes to .eml files). It waits until /readyz answers (60 s at most), and at
#     the end, whatever happens (trap), stops EventPost and its helpers and says what it leaves
#     running: nothing.
#  3. Prepares, through the API with curl, what the scanners need to get past the front door: an
#     account, an access token (refreshed before each authenticated scan: tokens live 15
#     minutes), three events (so that a search with every filter and a cursor still finds one),
#     a reminder, a second account (so that sign-up's base request is a stable 409), and two web
#     sessions logged in through the form at /login.
#  4. Runs the scanners one after the other, so that EventPost's log can be told apart per scan:
#       nikto   at the root.
#       wapiti  anonymous, from /, the search API URL, an event and its .ics; then logged in (the
#               web session's cookies and a bearer header), from the pages of the account too;
#               modules xss, permanentxss, sql, exec, file, crlf, redirect, csrf and ssrf (this
#               wapiti, 3.0.4, has all of them). Its SSRF endpoint is scripts/scan/ssrf_endpoint.py
#               on loopback instead of wapiti3.ovh, and it runs through scripts/scan/wapiti.py,
#               which fixes its --exclude for Python 3.11; the logged-in scan excludes /logout,
#               /signup, /account/delete and the delete and cancel forms, which would end or
#               change its session.
#       sqlmap  on every parameter of GET /api/v1/events (q, from, to, category, tag, near,
#               radius_km, organizer_id, limit, cursor — one URL where each matches, so that a
#               true condition still finds an event), the id in GET /api/v1/events/{id}, the JSON
#               bodies of POST /api/v1/accounts, /auth/token, /events and /notifications (the
#               last two with the bearer token), GET /api/v1/notifications with its query and the
#               headers Authorization, X-Request-ID, X-Forwarded-For, traceparent, User-Agent and
#               Referer, and the web session's cookies on GET /account. POST /auth/token goes
#               through scripts/scan/source_proxy.py, which sends each request from a loopback
#               source address of its own: the login throttle counts failures per client address,
#               so from one address all but the first few payloads would be answered 429 before
#               reaching the code under test. The email is tested that way, with --code 200 (a
#               payload that makes the lookup find the account logs in). The password, with a
#               fixed email, meets the account-wide limit of failures after a while — the
#               throttle working, counted in the summary as 429s from the auth service.
#     Bounds: full — sqlmap --level 3 --risk 2, at most 15 min per target; wapiti
#     --max-scan-time 120 (the crawl) and --max-attack-time 120 (per module), at most 20 min per
#     scan; nikto at most 15 min (its -maxtime is not used: nikto 2.1.5 prints a false "maximum
#     execution time reached" error with it). Quick — sqlmap --level 1 --risk 1 (5 min), wapiti
#     60/20 s (7 min), nikto 3 min. Each scanner runs in batch mode under `timeout`.
#  5. Writes <out>/summary.md and prints where it is: per scan the command (secrets shown as
#     $TOKEN etc.), its duration, the requests EventPost's gateway answered meanwhile (from its
#     log: no scanner but nikto counts them; the web interface's in-process calls to the API
#     counted apart), the scanner's own count where it gives one, what it found (sqlmap:
#     injectable parameters; nikto: its items; wapiti: vulnerabilities and anomalies by
#     category), and the 5xx and 429 answers EventPost logged ("msg":"request" lines), with
#     the log's ERROR and WARN lines. Raw outputs are kept beside it, EventPost's log as
#     eventpost.log.gz.
#
# Network: after the build, the scan runs in a network namespace of its own (`unshare --net`,
# with --map-root-user when not root) whose only interface is loopback, so neither EventPost nor
# a scanner can reach anything else (wapiti, for one, tries to download a database from the web
# when it has none; the script gives it an empty one). The summary says whether that was so.
# Without unshare, or with SCAN_NETNS=0, it runs in the host's network and only the options keep
# it on loopback (targets on 127.0.0.1, wapiti's --no-bugreport and local SSRF endpoint).
#
# Exit status: 0 when every scanner ran to its end; non-zero when a package cannot be installed,
# EventPost does not build or start, the set-up through the API fails, or a scanner fails, times
# out or never reaches EventPost (the summary is written all the same when the scans ran).
# Findings do not change the exit status: they are in the summary, each to be checked by hand
# (docs/security.md says what was).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCAN_DIR=$ROOT/scripts/scan
log() { printf '== %s\n' "$*"; }
die() { printf 'scan.sh: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = "--quick" ]; then SCAN_QUICK=1; shift; fi
if [ "${1:-}" = "--inner" ]; then INNER=1; shift; else INNER=0; fi
[ $# -eq 0 ] || die "unknown argument: $1 (usage: scripts/scan.sh [--quick])"
export SCAN_QUICK=${SCAN_QUICK:-0}
OUT=${SCAN_OUT:-$ROOT/scan-results}

# ---------------------------------------------------------------------------------------------
# Outside the namespace: packages, build.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "root or sudo is needed to run: $*"; fi
}
apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
candidate() {
  local c
  c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  [ "$c" != "(none)" ] && printf '%s' "$c"
  return 0
}

install_scanners() {
  local missing=() p
  for p in sqlmap nikto wapiti; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then log "sqlmap, nikto and wapiti are installed"; return; fi
  command -v apt-get >/dev/null || die "apt-get not found: this script installs from Debian's packages (Debian 12)"
  log "installing ${missing[*]} from Debian's packages (apt-get update first)"
  apt_get update -qq || die "apt-get update failed"
  if [[ " ${missing[*]} " == *" nikto "* ]] && [ -z "$(candidate nikto)" ]; then
    enable_non_free
  fi
  for p in "${missing[@]}"; do
    [ -n "$(candidate "$p")" ] || die "package $p cannot be had: apt finds no candidate for it in the sources of /etc/apt (Debian 12 has sqlmap and wapiti in main, nikto in non-free)"
  done
  apt_get install -y -qq --no-install-recommends "${missing[@]}" || die "apt-get install ${missing[*]} failed"
  for p in "${missing[@]}"; do installed "$p" || die "package $p did not install"; done
}

# enable_non_free adds a sources file enabling Debian's non-free component, for nikto.
enable_non_free() {
  local codename mirror src=/etc/apt/sources.list.d/eventpost-scan-non-free.sources
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || die "cannot tell the Debian release (no VERSION_CODENAME in /etc/os-release): enable non-free by hand to install nikto"
  if apt-cache policy | awk -v s="$codename/non-free" '$3 == s {f = 1} END {exit !f}'; then
    die "nikto cannot be had: Debian's non-free component is enabled but apt finds no nikto in it"
  fi
  mirror=$(apt-cache policy | awk -v s="$codename/main" '$3 == s && $NF == "Packages" {print $2; exit}')
  [ -n "$mirror" ] || die "nikto is in Debian's non-free component, and apt has no Debian mirror for $codename/main to enable it on: enable non-free by hand"
  log "nikto is in Debian's non-free component, which is not enabled: enabling it"
  {
    echo "# Added by EventPost's scripts/scan.sh to install nikto, which is in Debian's non-free component."
    echo "# To undo: delete this file and run apt-get update."
    echo "Types: deb"
    echo "URIs: $mirror"
    echo "Suites: $codename"
    echo "Components: non-free"
    if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
      echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
  } | as_root tee "$src" >/dev/null
  log "changed in /etc/apt: added $src:"
  sed 's/^/    /' "$src"
  apt_get update -qq || die "apt-get update failed"
  [ -n "$(candidate nikto)" ] || die "nikto cannot be had: still no candidate after enabling non-free ($src)"
}

if [ "$INNER" = 0 ]; then
  log "EventPost scanner run ($([ "$SCAN_QUICK" = 1 ] && echo quick || echo full)), results in $OUT"
  command -v go >/dev/null || die "go not found: Go is needed to build EventPost"
  command -v curl >/dev/null || die "curl not found"
  install_scanners
  for c in sqlmap nikto wapiti /usr/bin/python3 timeout; do
    command -v "$c" >/dev/null || die "$c not found after the install"
  done

  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  [ -f "$OUT/.gitignore" ] || printf '*\n' > "$OUT/.gitignore"
  # Only this script's own files are removed from the out directory.
  rm -rf "$OUT/summary.md" "$OUT/runs.tsv" "$OUT/notes.txt" "$OUT/meta.env" "$OUT/eventpost.log" "$OUT/eventpost.log.gz" "$OUT/fixtures.txt" \
    "$OUT/sqlmap" "$OUT/nikto" "$OUT/wapiti" "$OUT/helpers"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/eventpost-scan.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT

  log "building EventPost: go build -o $WORK/eventpost ./cmd/eventpost"
  (cd "$ROOT" && go build -buildvcs=false -o "$WORK/eventpost" ./cmd/eventpost) || die "EventPost does not build"

  netns="no (SCAN_NETNS=0)"
  runner=()
  if [ "${SCAN_NETNS:-1}" != 0 ]; then
    if ! command -v unshare >/dev/null; then
      netns="no (unshare not found)"
    elif [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
      runner=(unshare --net); netns="yes"
    elif unshare --net --map-root-user true 2>/dev/null; then
      runner=(unshare --net --map-root-user); netns="yes"
    else
      netns="no (unshare --net is not permitted here)"
    fi
  fi
  if [ "$netns" = yes ]; then
    log "the scan runs in a network namespace of its own, with loopback only (${runner[*]})"
  else
    log "network namespace: $netns; the scan runs in the host's network, kept on loopback by its options"
  fi
  {
    echo "quick=$SCAN_QUICK"
    echo "netns=$netns"
    echo "go_version=$(go version)"
    echo "git_commit=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "git_dirty=$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
    echo "sqlmap_version=$(dpkg-query -W -f='${Version}' sqlmap)"
    echo "nikto_version=$(dpkg-query -W -f='${Version}' nikto)"
    echo "wapiti_version=$(dpkg-query -W -f='${Version}' wapiti)"
    echo "machine=$(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "load_at_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  } > "$OUT/meta.env"
  status=0
  SCAN_WORK=$WORK SCAN_OUT=$OUT "${runner[@]}" "$0" --inner || status=$?
  # EventPost has stopped: its log (about 100 MB for the full run) is kept compressed.
  if [ -f "$OUT/eventpost.log" ]; then gzip -f "$OUT/eventpost.log"; fi
  if [ -f "$OUT/summary.md" ]; then
    log "summary: $OUT/summary.md"
  fi
  log "total: $SECONDS s"
  exit "$status"
fi

# ---------------------------------------------------------------------------------------------
# Inside the namespace (or not): EventPost, the fixtures, the scanners, the summary.

WORK=${SCAN_WORK:?}
PY=/usr/bin/python3
mkdir -p "$OUT/sqlmap" "$OUT/nikto" "$OUT/wapiti" "$OUT/helpers" "$WORK/home"
if grep -q '^netns=yes' "$OUT/meta.env"; then
  if command -v ip >/dev/null; then ip link set lo up
  else "$PY" - <<'EOF'
import fcntl, socket, struct
s = socket.socket()
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))
EOF
  fi
fi

PIDS=()
cleanup() {
  local rc=$? pid left=()
  trap - EXIT INT TERM
  if [ -n "${SUMMARY_PENDING:-}" ]; then # stopped half-way: a summary of the scans that ran
    "$PY" "$SCAN_DIR/summary.py" "$OUT" || true
  fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 40); do
    left=()
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && break
    sleep 0.5
  done
  for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  left=()
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
  if [ ${#left[@]} -eq 0 ]; then
    log "stopped EventPost and the helpers; left running: nothing"
  else
    log "left running: processes ${left[*]} (could not be stopped)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

PORT=${SCAN_PORT:-$(free_port)}
[[ "$PORT" =~ ^[0-9]+$ ]] || die "SCAN_PORT must be a port number, got $PORT"
port_open "$PORT" && die "something already answers on 127.0.0.1:$PORT (SCAN_PORT): choose another port"
BASE=http://127.0.0.1:$PORT
API=$BASE/api/v1
EP_LOG=$OUT/eventpost.log

log "starting EventPost (all-in-one) on $BASE, data in $WORK/data, rate limit 100000/s, burst 100000"
env -i PATH="$PATH" HOME="$WORK/home" TMPDIR="$WORK" \
  EVENTPOST_HTTP_ADDR="127.0.0.1:$PORT" EVENTPOST_PUBLIC_URL="$BASE" EVENTPOST_DATA_DIR="$WORK/data" \
  EVENTPOST_RATE_LIMIT=100000 EVENTPOST_RATE_BURST=100000 EVENTPOST_LOG_LEVEL=debug \
  "$WORK/eventpost" > "$EP_LOG" 2>&1 &
EP_PID=$!
PIDS+=("$EP_PID")
ready=""
for _ in $(seq 1 120); do
  kill -0 "$EP_PID" 2>/dev/null || break
  if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/readyz")" = 200 ]; then ready=1; break; fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  tail -n 20 "$EP_LOG" >&2 || true
  die "EventPost did not become ready on $BASE within 60 s (its log: $EP_LOG)"
fi
log "EventPost is ready (pid $EP_PID)"

# Helpers: wapiti's SSRF endpoint and the source-address proxy for the login.
"$PY" "$SCAN_DIR/ssrf_endpoint.py" "$WORK/ssrf.port" "$OUT/helpers/ssrf-hits.jsonl" > "$OUT/helpers/ssrf-endpoint.log" 2>&1 &
PIDS+=("$!")
"$PY" "$SCAN_DIR/source_proxy.py" "$WORK/proxy.port" > "$OUT/helpers/source-proxy.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 50); do [ -s "$WORK/ssrf.port" ] && [ -s "$WORK/proxy.port" ] && break; sleep 0.1; done
[ -s "$WORK/ssrf.port" ] && [ -s "$WORK/proxy.port" ] || die "the helpers (scripts/scan/*.py) did not start"
SSRF_URL=http://127.0.0.1:$(cat "$WORK/ssrf.port")/
PROXY_URL=http://127.0.0.1:$(cat "$WORK/proxy.port")

# ---------------------------------------------------------------------------------------------
# Fixtures, through the API.

json_get() { "$PY" -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$1"; }
# call EXPECTED_STATUS curl-args...: prints the body; dies on another status.
call() {
  local want=$1 code
  shift
  code=$(curl -sS -o "$WORK/body" -w '%{http_code}' --max-time 30 "$@") || die "curl $* failed"
  if [ "$code" != "$want" ]; then
    cat "$WORK/body" >&2; echo >&2
    die "set-up: expected $want from curl $*, got $code"
  fi
  cat "$WORK/body"
}
post_json() { local want=$1 url=$2 body=$3; shift 3; call "$want" "$url" -H 'Content-Type: application/json' --data-binary "$body" "$@"; }
ts() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }

OWNER_EMAIL=scan-owner@example.com
OWNER_PASSWORD="correct horse battery staple"
log "set-up: an account, a token, three events, a reminder, two web sessions"
ACCOUNT_ID=$(post_json 201 "$API/accounts" "{\"email\":\"$OWNER_EMAIL\",\"password\":\"$OWNER_PASSWORD\",\"display_name\":\"Scan Owner\"}" | json_get id)
PAIR=$(post_json 200 "$API/auth/token" "{\"email\":\"$OWNER_EMAIL\",\"password\":\"$OWNER_PASSWORD\"}")
TOKEN=$(json_get access_token <<<"$PAIR")
REFRESH=$(json_get refresh_token <<<"$PAIR")
# refresh_token: a new access token (and refresh token) for the same login, before each
# authenticated scan; tokens live 15 minutes.
refresh_token() {
  local pair
  pair=$(post_json 200 "$API/auth/refresh" "{\"refresh_token\":\"$REFRESH\"}")
  TOKEN=$(json_get access_token <<<"$pair")
  REFRESH=$(json_get refresh_token <<<"$pair")
}
event_body() { # title hours-from-now
  printf '{"title":"%s","description":"A fixture of scripts/scan.sh: jazz on the roof.","starts_at":"%s","ends_at":"%s","timezone":"Europe/Berlin","category":"music","tags":["jazz","scan"],"location":{"name":"Sky Bar","address":"Alexanderplatz 1, Berlin","lat":52.52,"lon":13.41},"online_url":"https://example.com/live","capacity":100}' \
    "$1" "$(ts "+$2 hours")" "$(ts "+$(($2 + 2)) hours")"
}
EVENT_IDS=()
for i in 1 2 3; do
  EVENT_IDS+=("$(post_json 201 "$API/events" "$(event_body "Scan jazz night $i" $((i + 2)))" -H "Authorization: Bearer $TOKEN" | json_get id)")
done
EVENT=${EVENT_IDS[0]}
FROM=$(ts "+1 hour")
TO=$(ts "+2 days")
SEARCH="q=jazz&from=$FROM&to=$TO&category=music&tag=jazz&near=52.52,13.41&radius_km=5&organizer_id=$ACCOUNT_ID&limit=1"
CURSOR=$(call 200 "$API/events?$SEARCH" | json_get next_cursor)
SEARCH_URL="$API/events?$SEARCH&cursor=$CURSOR"
[ "$(call 200 "$SEARCH_URL" | json_get items.0.id)" = "${EVENT_IDS[1]}" ] ||
  die "set-up: the search with every filter and the cursor does not find the second event"
SIGNUP='{"email":"sqlmap-signup@example.com","password":"sqlmap password 1","display_name":"Sqlmap"}'
post_json 201 "$API/accounts" "$SIGNUP" >/dev/null
REMINDER=$(post_json 201 "$API/notifications" "{\"event_id\":\"$EVENT\",\"minutes_before\":30,\"note\":\"Bring earplugs\"}" -H "Authorization: Bearer $TOKEN" | json_get id)

# web_login JAR: logs in through the form at /login, keeping the cookies in JAR.
web_login() {
  local jar=$1 csrf
  rm -f "$jar"
  csrf=$(call 200 "$BASE/login" -c "$jar" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n 1)
  [ -n "$csrf" ] || die "set-up: no CSRF token in the login form"
  call 303 "$BASE/login" -b "$jar" -c "$jar" --data-urlencode "csrf=$csrf" --data-urlencode "next=/" \
    --data-urlencode "email=$OWNER_EMAIL" --data-urlencode "password=$OWNER_PASSWORD" >/dev/null
  grep -q 'ep_access' "$jar" || die "set-up: the login form set no session cookie"
  [ "$(call 200 "$BASE/account" -b "$jar" | grep -c "$OWNER_EMAIL")" -gt 0 ] ||
    die "set-up: the web session does not show the account"
}
cookie() { awk -v n="$2" '$6 == n {v = $7} END {print v}' "$1"; }
{
  echo "account: $OWNER_EMAIL ($ACCOUNT_ID)"
  echo "events: ${EVENT_IDS[*]}"
  echo "reminder: $REMINDER"
  echo "search URL (finds the second event): $SEARCH_URL"
  echo "gateway: $BASE; SSRF endpoint: $SSRF_URL; source proxy: $PROXY_URL"
} > "$OUT/fixtures.txt"

# ---------------------------------------------------------------------------------------------
# Running the scanners.

RUNS=$OUT/runs.tsv
note() { log "$*"; printf '%s\n' "$*" >> "$OUT/notes.txt"; }
SUMMARY_PENDING=1
printf 'name\ttool\tstatus\texit\tseconds\tlog_from\tlog_to\toutput\tnote\tcommand\n' > "$RUNS"
FAILED=()
SECRETS=()
# show_cmd ARGS...: the command as a shell line, with the secrets replaced by their names.
show_cmd() {
  local s="" word kv
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then s+=" $word"; else s+=" ${word@Q}"; fi
  done
  for kv in "${SECRETS[@]}"; do
    [ -n "${kv#*=}" ] && s=${s//"${kv#*=}"/"\$${kv%%=*}"}
  done
  printf '%s' "${s# }"
}
loglines() { wc -l < "$EP_LOG"; }
# scan NAME TOOL TIMEOUT_S OUTPUT_FILE ARGS...: runs one scanner, records it in runs.tsv.
scan() {
  local name=$1 tool=$2 limit=$3 output=$4 from to start rc=0 secs st note=""
  shift 4
  from=$(loglines); start=$SECONDS
  log "$name: $(show_cmd "$@")"
  env HOME="$WORK/home" TERM=dumb timeout -k 30 "$limit" "$@" > "$output" 2>&1 < /dev/null || rc=$?
  secs=$((SECONDS - start)); to=$(loglines)
  st=ok
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then st="timed out"; note="killed after ${limit} s"
  elif [ "$rc" != 0 ]; then st=failed; note="exit status $rc"
  fi
  if [ "$st" = ok ]; then note=$(check_"$tool" "$output" "$name") || st=failed; fi
  note=${note//$'\n'/ }
  if [ "$st" = ok ] && [ "$to" -le "$from" ]; then st=failed; note="EventPost logged no request during the scan"; fi
  if ! kill -0 "$EP_PID" 2>/dev/null; then st=failed; note="EventPost exited during the scan${note:+; $note}"; fi
  [ "$st" = ok ] || FAILED+=("$name: $st${note:+ ($note)}")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tool" "$st" "$rc" "$secs" "$from" "$to" \
    "${output#"$OUT"/}" "${note//$'\t'/ }" "$(show_cmd "$@")" >> "$RUNS"
  log "$name: $st in $secs s${note:+ — $note}"
  kill -0 "$EP_PID" 2>/dev/null || die "EventPost exited during $name (its log: $EP_LOG)"
}
# check_TOOL OUTPUT NAME: prints why the run failed and returns 1, when it did.
# sqlmap ends a target with its verdict — "all tested parameters do not appear to be
# injectable" or the injection points it identified — or else with an error "skipping to the
# next target"; its exit status is 0 either way.
check_sqlmap() {
  if ! grep -qE 'all tested parameters do not appear to be injectable|identified the following injection point' "$1"; then
    grep -E '\[(CRITICAL|ERROR)\]' "$1" | tail -n 2 | tr '\n' ' '
    printf '(no verdict)'
    return 1
  fi
}
check_nikto() {
  local bad
  bad=$(grep -E '^\+ ERROR' "$1" | head -n 3 || true)
  if [ -n "$bad" ]; then printf '%s' "$bad" | tr '\n' ' '; return 1; fi
  grep -qE 'host\(s\) tested' "$1" || { printf 'nikto did not finish'; return 1; }
}
check_wapiti() {
  local report=${1%.out}.json
  [ -s "$report" ] || { printf 'no report written'; return 1; }
  if grep -qE 'Traceback|Error sending crash report' "$1"; then
    grep -m1 -E '^[A-Za-z]+Error' "$1" || printf 'a module crashed'
    return 1
  fi
}

if [ "$SCAN_QUICK" = 1 ]; then
  SQLMAP_LEVEL=(--level 1 --risk 1); LIMIT_SQLMAP=300
  LIMIT_NIKTO=180
  WAPITI_TIME=60; WAPITI_ATTACK=20; LIMIT_WAPITI=420
else
  SQLMAP_LEVEL=(--level 3 --risk 2); LIMIT_SQLMAP=900
  LIMIT_NIKTO=900
  WAPITI_TIME=120; WAPITI_ATTACK=120; LIMIT_WAPITI=1200
fi

# nikto, at the root.
scan nikto nikto "$LIMIT_NIKTO" "$OUT/nikto/nikto.out" \
  nikto -host 127.0.0.1 -port "$PORT" -nolookup -ask no -nointeractive \
  -Format txt -output "$OUT/nikto/nikto.txt"

# wapiti, anonymous and logged in.
WAPITI_MODULES=xss,permanentxss,sql,exec,file,crlf,redirect,csrf,ssrf
wapiti_cmd() { # name extra-args...
  local name=$1
  shift
  printf '%s\n' "$PY" "$SCAN_DIR/wapiti.py" -u "$BASE/" --scope folder -m "$WAPITI_MODULES" \
    -s "$SEARCH_URL" -s "$API/events/$EVENT" -s "$API/events/$EVENT/ics" -s "$BASE/events/$EVENT" \
    --max-scan-time "$WAPITI_TIME" --max-attack-time "$WAPITI_ATTACK" -t 15 \
    --flush-session --store-session "$WORK/wapiti-$name" --store-config "$WORK/wapiti-$name" \
    --external-endpoint "$SSRF_URL" --internal-endpoint "$SSRF_URL" --no-bugreport -v 1 \
    -f json -o "$OUT/wapiti/$name.json" "$@"
}
# wapiti loads every module, and its wapp module downloads a technology database from the web
# when it has none: an empty one keeps it from trying (wapp is not run).
for name in anonymous session; do
  mkdir -p "$WORK/wapiti-$name"
  printf '{}\n' > "$WORK/wapiti-$name/apps.json"
done
mapfile -t cmd < <(wapiti_cmd anonymous)
scan wapiti-anonymous wapiti "$LIMIT_WAPITI" "$OUT/wapiti/anonymous.out" "${cmd[@]}"

refresh_token
web_login "$WORK/wapiti.jar"
"$PY" - "$WORK/wapiti.jar" "$WORK/wapiti-cookies.json" <<'EOF'
import json, sys
cookies = {}
for line in open(sys.argv[1]):
    if line.startswith("#HttpOnly_"):
        line = line[len("#HttpOnly_"):]
    elif line.startswith("#") or not line.strip():
        continue
    domain, _, path, secure, expires, name, value = line.rstrip("\n").split("\t")
    cookies.setdefault(domain, {}).setdefault(path, {})[name] = {
        "value": value, "expires": int(expires) or None, "secure": secure == "TRUE", "port": None, "version": 0}
json.dump(cookies, open(sys.argv[2], "w"))
EOF
SECRETS=("TOKEN=$TOKEN")
mapfile -t cmd < <(wapiti_cmd session -c "$WORK/wapiti-cookies.json" -H "Authorization: Bearer $TOKEN" \
  -s "$BASE/my/events" -s "$BASE/reminders" -s "$BASE/account" -s "$BASE/my/events/new" \
  -s "$API/notifications?status=scheduled&event_id=$EVENT" -s "$API/accounts/me" \
  -x "$BASE/logout" -x "$BASE/signup*" -x "$BASE/account/delete*" -x "$BASE/my/events/*/delete*" \
  -x "$BASE/reminders/*/cancel*")
scan wapiti-session wapiti "$LIMIT_WAPITI" "$OUT/wapiti/session.out" "${cmd[@]}"
if [ "$(call 200 "$BASE/account" -b "$WORK/wapiti.jar" | grep -c "$OWNER_EMAIL")" -gt 0 ]; then
  note "wapiti-session: the web session was still logged in after the scan."
else
  note "wapiti-session: the web session was NOT logged in any more after the scan: part of it may have been anonymous."
fi

# sqlmap.
sqlmap_scan() { # name args...
  local name=$1
  shift
  scan "sqlmap-$name" sqlmap "$LIMIT_SQLMAP" "$OUT/sqlmap/$name.out" \
    sqlmap --batch --disable-coloring "${SQLMAP_LEVEL[@]}" --timeout 30 --retries 2 \
    --output-dir "$OUT/sqlmap/$name" "$@"
}
JSON=(-H 'Content-Type: application/json')
sqlmap_scan events-search -u "$SEARCH_URL" -p q,from,to,category,tag,near,radius_km,organizer_id,limit,cursor
sqlmap_scan event-id -u "$API/events/$EVENT*"
refresh_token; SECRETS=("TOKEN=$TOKEN")
sqlmap_scan events-create -u "$API/events" "${JSON[@]}" -H "Authorization: Bearer $TOKEN" \
  --data "$(event_body "Sqlmap night" 30)"
refresh_token; SECRETS=("TOKEN=$TOKEN")
sqlmap_scan notifications-create -u "$API/notifications" "${JSON[@]}" -H "Authorization: Bearer $TOKEN" \
  --data "{\"event_id\":\"${EVENT_IDS[2]}\",\"send_at\":\"$(ts '+90 minutes')\",\"email\":\"scan-reminder@example.com\",\"note\":\"Bring earplugs\"}"
refresh_token; SECRETS=("TOKEN=$TOKEN")
sqlmap_scan headers -u "$API/notifications?status=scheduled*&event_id=$EVENT*" --ignore-code 401 \
  -H "Authorization: Bearer $TOKEN*" -H "X-Request-ID: scan-request-1*" -H "X-Forwarded-For: 127.0.0.1*" \
  -H "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01*" -H "User-Agent: scan*" -H "Referer: $BASE/*"
web_login "$WORK/sqlmap.jar"
ACCESS_COOKIE=$(cookie "$WORK/sqlmap.jar" ep_access)
CSRF_COOKIE=$(cookie "$WORK/sqlmap.jar" ep_csrf)
SECRETS=("ACCESS_COOKIE=$ACCESS_COOKIE" "CSRF_COOKIE=$CSRF_COOKIE")
sqlmap_scan web-cookies -u "$BASE/account" --cookie "ep_access=$ACCESS_COOKIE*; ep_csrf=$CSRF_COOKIE*"
SECRETS=()
# The account exists (made in the set-up), so the base request is a stable 409.
sqlmap_scan accounts -u "$API/accounts" "${JSON[@]}" --data "$SIGNUP"
# The base request logs in (200, new tokens each time): a payload that makes the email
# lookup find the owner logs in too, so --code 200 is sqlmap's "true" (the tokens differ
# every time, so the page itself cannot be compared); every other answer is 401 (or 429 from
# the login throttle), which sqlmap must not take for an abort (--ignore-code 401).
sqlmap_scan auth-token -u "$API/auth/token" "${JSON[@]}" --proxy "$PROXY_URL" --code 200 --ignore-code 401 -p email,password \
  --data "{\"email\":\"$OWNER_EMAIL\",\"password\":\"$OWNER_PASSWORD\"}"

# ---------------------------------------------------------------------------------------------
# The summary.

sleep 1 # the last log lines
SUMMARY_PENDING=
"$PY" "$SCAN_DIR/summary.py" "$OUT" || die "the summary could not be written"
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'scan.sh: %s\n' "${FAILED[@]}" >&2
  die "${#FAILED[@]} scan(s) did not run to their end (summary: $OUT/summary.md)"
fi
