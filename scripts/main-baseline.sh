#!/usr/bin/env bash
# The pull-request gate against the main branch's signed baseline: downloads
# the newest successful main-branch push's perf-baseline artifact (the
# instruction receipt CI measured there and its Sigstore bundle) and
# compares this build's instruction count with it under --require-attested:
# the baseline must be attested by this repository's ci.yml on refs/heads/main,
# so a baseline edited, swapped, or signed anywhere else fails (exit 2).
# Runs only in GitHub Actions on a pull request (GITHUB_EVENT_NAME,
# GITHUB_REPOSITORY, GH_TOKEN and the gh CLI); elsewhere, and before main has
# ever published a baseline, it says so and exits 0.
# Expects target/release/perf-smoke built. docs/receipts.md has the threat model.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${GITHUB_EVENT_NAME:-}" != pull_request ] || [ -z "${GITHUB_REPOSITORY:-}" ]; then
  echo "main-baseline: not a GitHub pull request: nothing to compare" >&2
  exit 0
fi
command -v gh >/dev/null || { echo "main-baseline: the gh CLI is required on the runner" >&2; exit 2; }
run_id=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow ci.yml --branch main --event push \
  --status success --limit 1 --json databaseId --jq '.[0].databaseId // empty')
if [ -z "$run_id" ]; then
  echo "main-baseline: main has no successful push run yet, so no signed baseline: nothing to compare" >&2
  exit 0
fi
dir=target/main-baseline
rm -rf "$dir"
gh run download "$run_id" --repo "$GITHUB_REPOSITORY" --name perf-baseline --dir "$dir"
target/release/perf-smoke --measure instructions \
  --baseline "$dir/perf-smoke-instructions.receipt.json" --require-attested \
  --signer-workflow "$GITHUB_REPOSITORY/.github/workflows/ci.yml@refs/heads/main" \
  --receipt target/parci/perf-smoke-instructions-vs-main.receipt.json
