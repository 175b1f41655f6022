#!/usr/bin/env bash
# The main job, on your machine: runs the `run:` steps of the `gates` job in
# .github/workflows/ci.yml, in order, from the repo root, exactly as CI does
# (every program on its embedded defaults, then verify-receipt over what they
# wrote), and ends with one table of the receipts. Exit 1 if any step failed.
# With a base ref (`scripts/ci-local.sh origin/main`), the pull-request path
# runs too: scripts/perf-compare.sh compares this build with the merge base's
# (the workflow passes the pull request's base commit as PARCI_BASE_REF).
set -uo pipefail
cd "$(dirname "$0")/.."
workflow=.github/workflows/ci.yml

# The gates job's steps: single-line `run:` values between `gates:` and the
# next job (tests/workflows.rs checks this agrees with a YAML parser).
mapfile -t steps < <(awk '
  /^  [A-Za-z0-9_-]+:$/ { injob = ($1 == "gates:") }
  injob && /^ *(- )?run: / { sub(/^ *(- )?run: /, ""); print }
' "$workflow")
[ "${#steps[@]}" -gt 0 ] || { echo "ci-local: no run steps found in the gates job of $workflow" >&2; exit 2; }
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${steps[@]}"; exit 0; fi
export PARCI_BASE_REF="${1:-}"

rm -rf target/parci
failed=()
for step in "${steps[@]}"; do
  echo "ci-local: \$ $step" >&2
  if ! bash -c "$step"; then failed+=("$step"); fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'ci-local: FAILED step: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "ci-local: all ${#steps[@]} gate steps passed" >&2
