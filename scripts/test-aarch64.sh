#!/usr/bin/env bash
# Runs parci-core's unit tests and the kernel equality tests for aarch64 under
# qemu-user, so the NEON kernels are checked against scalar on an x86-64 host.
# Needs: rustup target aarch64-unknown-linux-gnu, Debian packages
# gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user (installed here when
# run as root). Not part of CI: the target's std comes from rustup, not a registry.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
cargo clippy --target aarch64-unknown-linux-gnu -p parci-core --all-targets -- -D warnings
cargo test --target aarch64-unknown-linux-gnu -p parci-core --lib --test kernels_equal --test kernels_legacy --test kernels_kquants "$@"
