#!/usr/bin/env bash
# Runs the fuzz targets under fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer)
# for SECONDS each, starting from the committed corpora in fuzz/corpus/<target>.
# A crash, a leak, an out-of-memory or a 10 s hang fails the script, and
# libFuzzer leaves the input in fuzz/artifacts/<target>/ (see docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 60 s, every target
#
# .ci/run calls it with 60 s per target. cargo-fuzz is installed from the crate
# registry when missing; the build needs the nightly toolchain (or, without
# one, stable with RUSTC_BOOTSTRAP=1, which unlocks the same -Z flags).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-60}
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^parci-fuzz$')
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz: cargo install cargo-fuzz@$CARGO_FUZZ_VERSION" >&2
  cargo install --locked --quiet "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  echo "fuzz: no nightly toolchain; building with stable and RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

# libgit2's bundled llhttp defines two static `lookup_table`s, which ASan
# reports as an ODR violation at start-up, before any input: not parci's code.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

cd fuzz
"${fuzz[@]}" build -O
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${seconds} s ($(find "corpus/$t" -type f | wc -l) corpus inputs)" >&2
  # -max_len: every parser here reads whole files, and 64 KiB covers every
  # structure of each format; -timeout: one input taking 10 s is a hang.
  "${fuzz[@]}" run -O "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1
done
