#!/usr/bin/env bash
# Runs the fuzz targets under fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer)
# for SECONDS each, starting from the committed corpora in fuzz/corpus/<target>.
# A crash, a leak, an out-of-memory or a 10 s hang fails the script, and
# libFuzzer leaves the input in fuzz/artifacts/<target>/ (see docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 60 s, every target
#   FUZZ_RUNS=N [FUZZ_SEED=S] scripts/fuzz.sh   N inputs per target from seed S
#                                               (default 1): the same inputs on
#                                               every run of the same commit
#
# .ci/run and the workflow use FUZZ_RUNS: a time-bound pass explores
# differently on every run, so a landing check could fail at random on a bug
# the commit did not touch. Deterministic runs fail the commit that exposes a
# bug, every time; open-ended campaigns stay time-bound (docs/fuzzing.md). cargo-fuzz is installed from the crate
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
  if [ -n "${FUZZ_RUNS:-}" ]; then
    # the time cap only guards against a pathologically slow machine
    budget=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}" -max_total_time=900)
    echo "fuzz: $t for $FUZZ_RUNS inputs, seed ${FUZZ_SEED:-1} ($(find "corpus/$t" -type f | wc -l) corpus inputs)" >&2
  else
    budget=(-max_total_time="$seconds")
    echo "fuzz: $t for ${seconds} s ($(find "corpus/$t" -type f | wc -l) corpus inputs)" >&2
  fi
  # -max_len: every parser here reads whole files, and 64 KiB covers every
  # structure of each format; -timeout: one input taking 10 s is a hang.
  "${fuzz[@]}" run -O "$t" "corpus/$t" -- \
    "${budget[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1
done
