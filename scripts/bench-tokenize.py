#!/usr/bin/env python3
"""Side by side, interleaved: the wall time of one process that reads a model
file and prints the ids of a sentence, parci (gguf-dump --tokenize) against
llama.cpp (llama-tokenize), 9 runs each on both published models; median and
range. docs/performance.md, "Tokenizer". Needs target/release/gguf-dump,
scripts/models.sh and scripts/llama-cpp.sh."""
import subprocess, time, statistics, sys
M="target/parci/models/"
runs={}
for model in ["gemma-3-270m-q4_k_m.gguf","SmolLM2-135M-Instruct.Q4_1.gguf"]:
    cmds={
     "parci gguf-dump --tokenize": ["target/release/gguf-dump", M+model, "--tokenize", "The capital of France is", "-q", "--receipt", "/tmp/tb.json"],
     "llama-tokenize": ["target/llama.cpp/build/bin/llama-tokenize", "-m", M+model, "-p", "The capital of France is", "--ids", "--log-disable"],
    }
    res={k:[] for k in cmds}
    for i in range(9):
        for k,c in cmds.items():
            t=time.perf_counter(); subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); res[k].append((time.perf_counter()-t)*1e3)
    for k,v in res.items():
        v.sort()
        print(f"{model} | {k} | median {statistics.median(v):.1f} ms | min {v[0]:.1f} max {v[-1]:.1f}")
