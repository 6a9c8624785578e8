#!/usr/bin/env bash
# Runs every fuzz target of the module (every func FuzzXxx in a _test.go file, as
# `go test -list` finds them) for a while each, one after the other, and fails when any of
# them fails. Needs only Go.
#
#   scripts/fuzz.sh          # 10 s of fuzzing per target
#   scripts/fuzz.sh 60s      # 60 s per target, as the issue asks for CI
#
# An input that makes a target fail is written by `go test` under the package's
# testdata/fuzz/<target>/, where it stays as a seed of that target's tests once fixed.
# A target whose only failure is a bare "context deadline exceeded" when its time is up,
# with no failing input, is not a failure of the target but a race in Go's fuzzing
# coordinator (golang/go#75804, fixed in Go 1.27): it is reported as such and not counted.
# FUZZ_MINIMIZE_TIME (default 10s) bounds how long the fuzzer minimizes each new input
# (`-fuzzminimizetime`; Go's default, 60 s, can stall the fuzzing of a large package for
# most of a short run). FUZZ_PACKAGES (default ./...) narrows the packages searched.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-10s}"
minimize="${FUZZ_MINIMIZE_TIME:-10s}"
packages="${FUZZ_PACKAGES:-./...}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

case "$duration" in
  *[0-9]s | *[0-9]m | *[0-9]h | *[0-9]x) ;;
  *) echo "usage: $0 [duration, such as 10s, 2m or 1000x]" >&2; exit 2 ;;
esac

# Each package whose test files declare a fuzz target is built once, instrumented for
# fuzzing (`go test -c -fuzz`), into $bins; its binary lists the targets and fuzzes each in
# turn, run in the package's directory as `go test` runs it (seed corpus and new failing
# inputs under testdata/fuzz/), with the cache `go test` uses. A `go test -fuzz` per target
# would link the package's test binary again for each (7-11 s apiece here).
bins="$(mktemp -d)"
out="$(mktemp)"
trap 'rm -rf "$bins" "$out"' EXIT
cache="$(go env GOCACHE)/fuzz"
targets=()
while read -r pkg dir; do
  grep -qs '^func Fuzz' "$dir"/*_test.go || continue
  bin="$bins/$(echo "$pkg" | tr / _).test"
  go test -c -fuzz . -o "$bin" "$pkg"
  while read -r name; do
    targets+=("$pkg $dir $bin $name")
  done < <("$bin" -test.list '^Fuzz' | grep '^Fuzz' || true)
done < <(go list -f '{{.ImportPath}} {{.Dir}}' $packages)

if [ "${#targets[@]}" -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
echo "== ${#targets[@]} fuzz targets, $duration each"

# coordinator_race reports whether the output of a failed run, in file $2, of target $1 shows
# only golang/go#75804: the target's failure message is "context deadline exceeded" alone.
coordinator_race() {
  awk -v name="$1" '
    index($0, "--- FAIL: " name " (") == 1 { inside = 1; next }
    inside && /^(FAIL|ok|exit status)/ { inside = 0 }
    inside && /^=== / { next } # go test -v names the running test again
    inside && NF { lines++; if ($0 != "    context deadline exceeded") other = 1 }
    END { exit !(lines == 1 && !other) }
  ' "$2"
}

failed=()
races=()
for target in "${targets[@]}"; do
  read -r pkg dir bin name <<<"$target"
  echo "== $name ($pkg)"
  start=$SECONDS
  status=0
  (cd "$dir" && "$bin" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$duration" \
    -test.fuzzminimizetime "$minimize" -test.fuzzcachedir "$cache/$pkg" -test.timeout 10m) 2>&1 | tee "$out" || status=$?
  if [ "$status" -eq 0 ]; then
    echo "-- $name passed in $((SECONDS - start)) s"
  elif coordinator_race "$name" "$out"; then
    echo "-- $name ran its $duration; its end met Go's fuzzing coordinator race (golang/go#75804), not a failure"
    races+=("$name ($pkg)")
  else
    echo "-- $name FAILED after $((SECONDS - start)) s"
    failed+=("$name ($pkg)")
  fi
done

if [ "${#races[@]}" -gt 0 ]; then
  echo "== ${#races[@]} targets ended on golang/go#75804 (no failing input):"
  printf '   %s\n' "${races[@]}"
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "== ${#failed[@]} of ${#targets[@]} fuzz targets failed:" >&2
  printf '   %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "== ${#targets[@]} fuzz targets run, none failed"
