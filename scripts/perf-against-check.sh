#!/usr/bin/env bash
# The end-to-end check of perf-smoke --against on this machine: RUNS
# comparisons of HEAD against BASE (two perf-smoke executables; the same one
# twice is the A/A check) while a busy loop keeps the other core loaded, on
# the default workload on one thread. Prints each verdict with its estimate
# and interval, then how many passed. Not a test: it takes minutes and its
# outcome is a rate (docs/performance.md quotes it).
#   bash scripts/perf-against-check.sh 20 target/release/perf-smoke target/release/perf-smoke
set -uo pipefail
runs=${1:?runs}; head=${2:?head perf-smoke}; base=${3:?base perf-smoke}
shift 3
out=$(mktemp -d)
trap 'kill "$load" 2>/dev/null; rm -rf "$out"' EXIT
( while :; do :; done ) & load=$!
pass=0
for i in $(seq 1 "$runs"); do
  "$head" --against "$base" --threads 1 --quiet --receipt "$out/$i.json" "$@"
  code=$?
  [ "$code" = 0 ] && pass=$((pass + 1))
  python3 - "$out/$i.json" "$i" "$code" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["measurements"]["paired"]
c = p["change_pct"]
print(f"run {sys.argv[2]:>3}: exit {sys.argv[3]}  change {c['estimate']:+.2f}%  "
      f"interval {c['low']:+.2f}% to {c['high']:+.2f}%  pairs {len(p['pairs'])}")
PY
done
echo "passed $pass of $runs"
