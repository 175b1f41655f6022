#!/usr/bin/env bash
# Writes the tokenizer golden data (docs/tokenizer-golden.md):
#   tests/data/tokenizer/corpus.json    the strings (defined in scripts/tokenizer_golden.py)
#   tests/data/tokenizer/smollm2.json   the pinned llama.cpp's ids for SmolLM2-135M-Instruct
#   tests/data/tokenizer/gemma3.json    the same for gemma-3-270m
# llama.cpp is the one scripts/llama-cpp.sh builds, the models are the ones
# scripts/models.sh places. A small C++ program (below), linked against that
# build's static libllama, tokenizes every string in both modes (parse_special
# on and off, add_special true: BOS/EOS as the model's metadata asks) and
# detokenizes the result, all in one process per model; a few strings are
# cross-checked against llama-tokenize. Deterministic: a re-run rewrites the
# same bytes. Takes about 10 s once llama.cpp and the models are in place.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(bash scripts/llama-cpp.sh)
models=$(bash scripts/models.sh)
smollm2=$(grep '/SmolLM2-135M-Instruct.Q4_1.gguf$' <<<"$models")
gemma3=$(grep '/gemma-3-270m-q4_k_m.gguf$' <<<"$models")
py=target/venv/bin/python

lcpp=target/llama.cpp
# llama.cpp's own vocabulary-only test files (in its source tree), one per
# pre-tokenizer family parci reads beyond the two models': gpt-2, llama-bpe
# (llama3), qwen2, gpt-neox (no tokenizer.ggml.pre: "default"), starcoder,
# falcon, mpt; and SentencePiece with a space prefix (llama-spm) and with
# Phi-3's stripped special tokens.
vocabs=()
for v in gpt-2 llama-bpe qwen2 gpt-neox starcoder falcon mpt llama-spm phi-3; do
  vocabs+=(--model "vocab-$v=$lcpp/src/models/ggml-vocab-$v.gguf")
done
version=$(sed -n 's/^LLAMA_CPP_PYTHON_VERSION=//p' scripts/llama-cpp.sh)
work=target/tokenizer-golden
mkdir -p "$work"

# The C++ tool. Input: records of a little-endian u32 byte length followed by
# the UTF-8 bytes. Output, one line each: "vocab <n_tokens> <add_bos> <add_eos>",
# "meta <key> <value>" for the tokenizer keys the file has, then per record
# "P <ids>" (parse_special on), "N <ids>" (off), "D <hex>" and "E <hex>":
# llama_detokenize of the P resp. N ids with remove_special=true (drops the
# BOS/EOS that add_special added) and unparse_special=true (control tokens are
# written as their text), and "F <hex>": the P ids with unparse_special=false
# (control tokens are dropped).
cat >"$work/golden.cpp.tmp" <<'EOF'
#include "llama.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

static void quiet(enum ggml_log_level, const char *, void *) {}

static std::vector<llama_token> tokenize(const llama_vocab * vocab, const std::string & s, bool parse_special) {
    std::vector<llama_token> ids(s.size() + 8);
    int32_t n = llama_tokenize(vocab, s.data(), (int32_t) s.size(), ids.data(), (int32_t) ids.size(), true, parse_special);
    if (n < 0) {
        ids.resize(-n);
        n = llama_tokenize(vocab, s.data(), (int32_t) s.size(), ids.data(), (int32_t) ids.size(), true, parse_special);
    }
    if (n < 0) {
        fprintf(stderr, "golden: llama_tokenize failed (%d)\n", n);
        exit(1);
    }
    ids.resize(n);
    return ids;
}

static std::string detokenize(const llama_vocab * vocab, const std::vector<llama_token> & ids, bool unparse_special) {
    std::string out(ids.size() * 16 + 16, '\0');
    int32_t n = llama_detokenize(vocab, ids.data(), (int32_t) ids.size(), &out[0], (int32_t) out.size(), true, unparse_special);
    if (n < 0) {
        out.resize(-n);
        n = llama_detokenize(vocab, ids.data(), (int32_t) ids.size(), &out[0], (int32_t) out.size(), true, unparse_special);
    }
    if (n < 0) {
        fprintf(stderr, "golden: llama_detokenize failed (%d)\n", n);
        exit(1);
    }
    out.resize(n);
    return out;
}

static void put_ids(char tag, const std::vector<llama_token> & ids) {
    putchar(tag);
    for (llama_token t : ids) {
        printf(" %d", t);
    }
    putchar('\n');
}

static void put_hex(char tag, const std::string & s) {
    putchar(tag);
    putchar(' ');
    for (unsigned char c : s) {
        printf("%02x", c);
    }
    putchar('\n');
}

int main(int argc, char ** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf INPUT.bin\n", argv[0]);
        return 2;
    }
    llama_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "golden: cannot load %s\n", argv[1]);
        return 1;
    }
    const llama_vocab * vocab = llama_model_get_vocab(model);

    FILE * in = fopen(argv[2], "rb");
    if (!in) {
        fprintf(stderr, "golden: cannot open %s\n", argv[2]);
        return 1;
    }
    printf("vocab %d %d %d\n", llama_vocab_n_tokens(vocab), (int) llama_vocab_get_add_bos(vocab),
           (int) llama_vocab_get_add_eos(vocab));
    printf("special %d %d %d\n", llama_vocab_bos(vocab), llama_vocab_eos(vocab), llama_vocab_eot(vocab));
    printf("eog");
    for (llama_token t = 0; t < llama_vocab_n_tokens(vocab); t++) {
        if (llama_vocab_is_eog(vocab, t)) {
            printf(" %d", t);
        }
    }
    printf("\n");
    for (const char * key : {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.add_space_prefix"}) {
        char val[256];
        if (llama_model_meta_val_str(model, key, val, sizeof(val)) >= 0) {
            printf("meta %s %s\n", key, val);
        }
    }
    unsigned char len_le[4];
    while (fread(len_le, 1, 4, in) == 4) {
        uint32_t len = len_le[0] | (len_le[1] << 8) | (len_le[2] << 16) | ((uint32_t) len_le[3] << 24);
        std::string s(len, '\0');
        if (len > 0 && fread(&s[0], 1, len, in) != len) {
            fprintf(stderr, "golden: truncated input\n");
            return 1;
        }
        std::vector<llama_token> p = tokenize(vocab, s, true);
        std::vector<llama_token> n = tokenize(vocab, s, false);
        put_ids('P', p);
        put_ids('N', n);
        put_hex('D', detokenize(vocab, p, true));
        put_hex('E', detokenize(vocab, n, true));
        put_hex('F', detokenize(vocab, p, false));
    }
    fclose(in);
    llama_model_free(model);
    llama_backend_free();
    return fflush(stdout) == 0 ? 0 : 1;
}
EOF
mv -f "$work/golden.cpp.tmp" "$work/golden.cpp"

# Rebuilt when its source or the llama.cpp build changes.
libs=("$lcpp/build/src/libllama.a" "$lcpp/build/ggml/src/libggml.a"
  "$lcpp/build/ggml/src/libggml-cpu.a" "$lcpp/build/ggml/src/libggml-base.a")
want=$(cat "$work/golden.cpp" "$lcpp/build/.stamp" | sha256sum | cut -d' ' -f1)
if ! [ -x "$work/golden" ] || [ "$(cat "$work/golden.stamp" 2>/dev/null)" != "$want" ]; then
  echo "tokenizer-golden: compiling $work/golden" >&2
  g++ -std=c++17 -O1 -o "$work/golden.tmp" "$work/golden.cpp" \
    -I"$lcpp/src/include" -I"$lcpp/src/ggml/include" \
    "${libs[@]}" -fopenmp -lpthread -ldl -lm
  mv -f "$work/golden.tmp" "$work/golden"
  echo "$want" >"$work/golden.stamp"
fi

"$py" scripts/tokenizer_golden.py \
  --tool "$work/golden" --llama-tokenize "$bin/llama-tokenize" \
  --sdist "$lcpp/llama_cpp_python-$version.tar.gz" --work "$work" \
  --model smollm2="$smollm2" --model gemma3="$gemma3" \
  "${vocabs[@]}" \
  --out tests/data/tokenizer
