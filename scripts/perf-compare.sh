#!/usr/bin/env bash
# The pull-request performance gate: this build's perf-smoke against the
# merge base's, on the default workload (the small fixture, one thread).
#   1. instruction counts under callgrind: the base's count is the baseline,
#      more than 1% more instructions per decode token fails;
#   2. paired wall-clock runs (perf-smoke --against): fails when this build
#      is slower per decode token beyond 1% with 99% confidence;
#   3. when the instruction comparison fails, flame graphs of base and head
#      and their differential graph under target/parci/flamegraphs/regression.
# The base ref comes from the first argument or PARCI_BASE_REF (the workflow
# sets it to the pull request's base commit); without one (a push) there is
# nothing to compare and it exits 0. The base build is a git worktree of the
# merge base built into target/base/ (the workflow caches it by base commit).
# Expects target/release/perf-smoke built. Exit 1 if a comparison failed.
set -euo pipefail
cd "$(dirname "$0")/.."
base_ref=${1:-${PARCI_BASE_REF:-}}
if [ -z "$base_ref" ]; then
  echo "perf-compare: no base ref (not a pull request): nothing to compare" >&2
  exit 0
fi
. scripts/tools.sh
ensure_valgrind
head=target/release/perf-smoke
[ -x "$head" ] || { echo "perf-compare: $head is not built; run cargo build --release --bins" >&2; exit 2; }
base_commit=$(git rev-parse --verify "$base_ref^{commit}")
merge_base=$(git merge-base HEAD "$base_commit")
base=target/base/$merge_base/perf-smoke
if [ ! -x "$base" ]; then
  wt=target/base/worktree
  git worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
  git worktree prune
  git worktree add --detach "$wt" "$merge_base" >/dev/null
  echo "perf-compare: building the merge base ${merge_base:0:12}'s perf-smoke" >&2
  CARGO_TARGET_DIR=target/base/target cargo build --release --locked --manifest-path "$wt/Cargo.toml" --bin perf-smoke
  mkdir -p "$(dirname "$base")"
  cp target/base/target/release/perf-smoke "$base"
  git worktree remove --force "$wt"
fi
out=target/compare
mkdir -p "$out" target/parci
failed=()
instructions_failed=0
"$base" --help > "$out/base-help.txt" 2>&1 || true
if grep -q -- '--measure' "$out/base-help.txt"; then
  "$base" --measure instructions --quiet --receipt "$out/base-instructions.receipt.json"
  if ! "$head" --measure instructions --baseline "$out/base-instructions.receipt.json" \
      --receipt target/parci/perf-smoke-instructions-vs-base.receipt.json; then
    failed+=("instruction count"); instructions_failed=1
  fi
else
  echo "perf-compare: the base build has no --measure instructions; instruction counts not compared" >&2
fi
if ! "$head" --against "$base" --threads 1 \
    --receipt target/parci/perf-smoke-against-base.receipt.json --bmf "$out/against.bmf.json"; then
  failed+=("paired wall clock")
fi
if [ "$instructions_failed" = 1 ]; then
  # What grew: profiles of both builds on the same workload, then the diff.
  fg=target/parci/flamegraphs/regression
  cargo build --profile profiling --locked --bin flamegraph
  target/profiling/flamegraph --perf-smoke "$base" --threads 1 --tokens 32 --name base --out-dir "$fg" --receipt "$out/flamegraph-base.receipt.json" || true
  target/profiling/flamegraph --perf-smoke "$head" --threads 1 --tokens 32 --name head --out-dir "$fg" \
    --diff "$fg/base-32tok.folded" --receipt "$out/flamegraph-head.receipt.json" || true
fi
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'perf-compare: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "perf-compare: no regression against ${merge_base:0:12}" >&2
