#!/usr/bin/env bash
# Builds a pinned llama.cpp, the oracle for tokenization, quantization and
# greedy decoding. The pin is the copy of llama.cpp vendored in the source
# package of llama-cpp-python (LLAMA_CPP_PYTHON_VERSION below), fetched from
# the Python package index and checked against its sha256 (pip download of
# that sdist would try to build its metadata, which compiles llama.cpp: the
# file is fetched directly instead).
#
#   target/llama.cpp/llama_cpp_python-<version>.tar.gz   the sdist
#   target/llama.cpp/src                                  its vendor/llama.cpp
#   target/llama.cpp/build/bin                            the programs
#
# Built targets (static, Release, -march=native): llama-quantize,
# llama-tokenize, llama-simple (greedy decoding), llama-completion (the
# classic CLI: --temp 0 -no-cnv decodes greedily) and llama-debug
# (--save-logits writes the last position's logits of a prompt). Needs cmake, ninja and g++ (apt-get installs them
# when missing and we are root). A stamp makes re-runs free; changing the pin,
# the flags or the target list rebuilds. Prints the bin directory on stdout.
# A cold build takes about 7.5 minutes on 2 cores (445 s measured).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh

LLAMA_CPP_PYTHON_VERSION=0.3.36
SDIST_URL=https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/llama_cpp_python-0.3.36.tar.gz
SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
TARGETS=(llama-quantize llama-tokenize llama-simple llama-completion llama-debug)

dir=target/llama.cpp
src=$dir/src
build=$dir/build
bin=$build/bin

cflags=""
# The CPUs of these machines list AMX, but the VMs do not enable it: with
# -march=native the compiler would emit AMX code that faults.
if grep -q GenuineIntel /proc/cpuinfo 2>/dev/null; then
  cflags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
fi
cmake_args=(
  -G Ninja
  -DCMAKE_BUILD_TYPE=Release
  -DLLAMA_CURL=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_SERVER=OFF
  -DGGML_NATIVE=ON
  -DBUILD_SHARED_LIBS=OFF
  "-DCMAKE_C_FLAGS=$cflags"
  "-DCMAKE_CXX_FLAGS=$cflags"
)

want=$(printf '%s\n' "$SDIST_SHA256" "${cmake_args[@]}" "${TARGETS[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$build/.stamp" ] && [ "$(cat "$build/.stamp")" = "$want" ]; then
  echo "$PWD/$bin"
  exit 0
fi

for tool in cmake:cmake ninja:ninja-build g++:g++; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || apt_install "${tool#*:}"
done

mkdir -p "$dir"
tarball=$dir/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz
if ! echo "$SDIST_SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
  echo "llama-cpp: fetching llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (sdist)" >&2
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$tarball.tmp" "$SDIST_URL"
  else
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "$SDIST_URL" "$tarball.tmp"
  fi
  echo "$SDIST_SHA256  $tarball.tmp" | sha256sum -c --status ||
    { echo "llama-cpp: sha256 mismatch for $SDIST_URL" >&2; rm -f "$tarball.tmp"; exit 1; }
  mv "$tarball.tmp" "$tarball"
fi

rm -rf "$src" "$src.tmp" "$build"
mkdir -p "$src.tmp"
tar -xzf "$tarball" -C "$src.tmp" --strip-components=3 \
  "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
mv "$src.tmp" "$src"

echo "llama-cpp: building ${TARGETS[*]} (a cold build takes minutes)" >&2
start=$(date +%s)
cmake -S "$src" -B "$build" "${cmake_args[@]}" >"$dir/cmake.log" 2>&1 ||
  { tail -n 40 "$dir/cmake.log" >&2; exit 1; }
cmake --build "$build" -j2 --target "${TARGETS[@]}" >"$dir/build.log" 2>&1 ||
  { tail -n 40 "$dir/build.log" >&2; exit 1; }
for t in "${TARGETS[@]}"; do
  [ -x "$bin/$t" ] || { echo "llama-cpp: $bin/$t was not built" >&2; exit 1; }
done
echo "llama-cpp: built in $(($(date +%s) - start)) s: ${TARGETS[*]}" >&2
echo "$want" >"$build/.stamp"
echo "$PWD/$bin"
