#!/usr/bin/env bash
# The scale benchmark (issue 17): the search benchmark's shapes over sample events of two
# sizes (by default 100,000 and 1,000,000), on SQLite and PostgreSQL, the sizes measured in
# turn, then one table per engine: p50, p95 and p99 of one search at a time, searches per
# second at 16 connections, and the large size's figure over the small one's.
#
#   scripts/bench-scale.sh [SMALL LARGE]
#
# Settings (environment):
#   BENCH_SCALE_DIR    where the SQLite files and the raw benchmark output go
#                      (default /tmp/eventpost-scale; the files are kept and reused)
#   BENCH_SCALE_PG     the PostgreSQL server, as a URL without a database
#                      (default postgres://postgres@127.0.0.1:5432); each size gets a database
#                      eventpost_scale_<size>, created and seeded on the first run and kept
#                      (drop them with dropdb when done)
#   BENCH_SCALE_ENGINES  sqlite, postgres or both (default "sqlite postgres")
#   BENCH_SCALE_ROUNDS   how many times each size is measured, alternating (default 1); the
#                      table shows the last round, the raw output keeps every one
#   BENCH_SCALE_TIME   -test.benchtime of each shape, one search at a time (default 300x)
#   BENCH_SCALE_PARALLEL_TIME  -test.benchtime of each shape at 16 connections (default 3s)
#
# The first run seeds each size once (SQLite 11 min and PostgreSQL 3 min for 1,000,000 events
# on a 2-core machine; the whole first run took 18 min on 2026-12-05); later runs reuse the
# seeds (6 min). It starts nothing and leaves nothing running; PostgreSQL must answer for the
# postgres engine.
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-100000}
large=${2:-1000000}
dir=${BENCH_SCALE_DIR:-/tmp/eventpost-scale}
pg=${BENCH_SCALE_PG:-postgres://postgres@127.0.0.1:5432}
engines=${BENCH_SCALE_ENGINES:-sqlite postgres}
rounds=${BENCH_SCALE_ROUNDS:-1}
benchtime=${BENCH_SCALE_TIME:-300x}
ptime=${BENCH_SCALE_PARALLEL_TIME:-3s}
mkdir -p "$dir"

stage() { # stage NAME CMD...: runs a step and prints how long it took
  local name=$1 start=$SECONDS
  shift
  printf '== %s\n' "$name"
  "$@"
  printf '== %s: %d s\n' "$name" $((SECONDS - start))
}

bin=$dir/events.test
stage "build the events benchmarks" go test -c -o "$bin" ./internal/events/

pgdb() { # pgdb SIZE: the URL of the size's database, created when missing
  local db=eventpost_scale_$1
  if [ -z "$(psql "$pg/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
  fi
  printf '%s/%s?sslmode=disable' "$pg" "$db"
}

run() { # run ENGINE SIZE ROUND: one measurement, its output in $dir/ENGINE-SIZE.txt
  local engine=$1 n=$2 out=$dir/$1-$2.txt prefix=Search
  local env=(EVENTPOST_BENCH_DIR="$dir" EVENTPOST_BENCH_EVENTS="$n")
  if [ "$engine" = postgres ]; then
    prefix=PostgresSearch
    env=(EVENTPOST_BENCH_PG_URL="$(pgdb "$n")" EVENTPOST_BENCH_PG_EVENTS="$n")
  fi
  {
    env "${env[@]}" "$bin" -test.run '^$' -test.bench "^Benchmark$prefix\$" -test.benchtime "$benchtime"
    env "${env[@]}" "$bin" -test.run '^$' -test.bench "^Benchmark${prefix}Parallel\$" -test.benchtime "$ptime"
  } | tee "$out.round$3"
  cp "$out.round$3" "$out"
}

for engine in $engines; do
  for round in $(seq 1 "$rounds"); do
    for n in "$small" "$large"; do
      stage "$engine, $n events, round $round" run "$engine" "$n" "$round"
    done
  done
done

# table ENGINE: the figures of both sizes side by side, and their ratio.
table() {
  awk -v small="$small" -v large="$large" -v engine="$1" '
    function metric(name,   i) { for (i = 4; i < NF; i++) if ($(i+1) == name) return $i; return "" }
    /^Benchmark/ {
      size = (FILENAME ~ ("-" large "\\.txt$")) ? large : small
      name = $1; sub(/-[0-9]+$/, "", name)
      parallel = (name ~ /SearchParallel\//)
      sub(/^Benchmark(Postgres)?Search(Parallel)?\//, "", name)
      if (!(name in seen)) { seen[name] = 1; order[++count] = name }
      if (parallel) rps[name, size] = metric("req/s")
      else { p50[name, size] = metric("p50-ms"); p95[name, size] = metric("p95-ms"); p99[name, size] = metric("p99-ms") }
    }
    function ratio(a, b) { return (a != "" && b != "" && a + 0 > 0) ? sprintf("%.2f", b / a) : "-" }
    function show(v) { return v == "" ? "-" : v }
    END {
      printf "\n%s: %s and %s events (ms; req/s at 16 connections; ratio = %s / %s)\n", engine, small, large, large, small
      printf "| shape | p50 | p50 | ratio | p95 | p95 | p99 | p99 | req/s | req/s | ratio |\n"
      printf "|---|---|---|---|---|---|---|---|---|---|---|\n"
      for (i = 1; i <= count; i++) {
        s = order[i]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s,
          show(p50[s, small]), show(p50[s, large]), ratio(p50[s, small], p50[s, large]),
          show(p95[s, small]), show(p95[s, large]), show(p99[s, small]), show(p99[s, large]),
          show(rps[s, small]), show(rps[s, large]), ratio(rps[s, small], rps[s, large])
      }
    }' "$dir/$1-$small.txt" "$dir/$1-$large.txt"
}

for engine in $engines; do table "$engine"; done
printf '\nraw output: %s/<engine>-<size>.txt.round<N>\n' "$dir"
