# What scripts/compose-up.sh and scripts/kube-up.sh share; sourced by both, after they set
# `me`, the name their log lines carry.

log() { printf '[%s %s] %s\n' "$me" "$(date -u +%H:%M:%S)" "$*"; }

# step NAME CMD...: runs CMD and prints how long it took.
step() {
  local name="$1" start=$SECONDS
  shift
  log "$name ..."
  "$@"
  log "$name: $((SECONDS - start)) s"
}

# wait_ready SECONDS CONTAINER: until the gateway answers GET /readyz on 127.0.0.1 (port
# EVENTPOST_STACK_HTTP_PORT, default 8080) with 200; if it does not in time, shows the last
# lines of CONTAINER's log (the gateway's).
wait_ready() {
  local i
  for ((i = 0; i < $1; i++)); do
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${EVENTPOST_STACK_HTTP_PORT:-8080}/readyz" 2>/dev/null && { log "gateway: ready"; return; }
    sleep 1
  done
  echo "the gateway is not ready after $1 s; podman logs $2:" >&2
  podman logs --tail 30 "$2" >&2
  return 1
}
