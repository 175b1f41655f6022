#!/usr/bin/env python3
"""parci against llama.cpp's llama-bench, side by side in one run (issue 16).

For every row (model x workload x threads) each repeat runs llama-bench once
and perf-smoke once, back to back, so both see the same machine load; rows
are interleaved too. Prints a Markdown table with min / median / max of the
repeats and the ratio of medians (parci / llama.cpp).

  decode  tg64:  llama-bench -p 0 -n 64       perf-smoke --prompt-tokens 1 --tokens 64
  prefill pp128: llama-bench -p 128 -n 0      perf-smoke --prompt-tokens 128 --tokens 1

Usage: scripts/bench-vs-llama.py [--repeats 5] [--threads 1,2] [--rows decode,prefill]
                                 [--models smollm2,gemma3] [--parci target/release/perf-smoke]
                                 [--llama-bench PATH]
--models also takes small-tq2_0 and small-q4_0: parci's `small` fixture
requantized by llama-quantize --pure (made on first use).
The pinned llama.cpp (scripts/llama-cpp.sh) gets its llama-bench target built
on first use; the models come from scripts/models.sh.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "smollm2": "target/parci/models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "target/parci/models/gemma-3-270m-q4_k_m.gguf",
}
# The 52 M llama files: parci's `small` fixture (58 M parameters)
# requantized by llama-quantize --pure, every matrix the one type.
PURE = {"small-tq2_0": "TQ2_0", "small-q4_0": "Q4_0"}
FIXTURE = "target/parci/models/parci-small-seed0.gguf"


def model_path(name, parci_exe, bindir):
    if name not in PURE:
        return MODELS.get(name, name)
    ty = PURE[name]
    out = FIXTURE.replace(".gguf", f".{ty}-pure.gguf")
    if not os.path.exists(os.path.join(ROOT, out)):
        if not os.path.exists(os.path.join(ROOT, FIXTURE)):
            subprocess.run([parci_exe, "--preset", "small", "--tokens", "1",
                            "--receipt", os.devnull], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        quantize = build_target(bindir, "llama-quantize")
        tmp = out + ".tmp"
        subprocess.run([quantize, "--allow-requantize", "--pure", FIXTURE, tmp, ty],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        os.replace(os.path.join(ROOT, tmp), os.path.join(ROOT, out))
    return out


def llama_bindir():
    return subprocess.run(
        ["bash", "scripts/llama-cpp.sh"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def build_target(bindir, name):
    exe = os.path.join(bindir, name)
    if not os.path.exists(exe):
        build = os.path.dirname(bindir)
        print(f"bench: building {name} in", build, file=sys.stderr)
        subprocess.run(["cmake", "--build", build, "--target", name], check=True,
                       stdout=sys.stderr)
    return exe


def llama(exe, model, row, threads):
    p, n = (0, 64) if row == "decode" else (128, 0)
    out = subprocess.run(
        [exe, "-m", model, "-p", str(p), "-n", str(n), "-t", str(threads), "-r", "1", "-o", "json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)[0]["avg_ts"]


def parci(exe, model, row, threads):
    p, n = (1, 64) if row == "decode" else (128, 1)
    out = subprocess.run(
        [exe, "--model", model, "--prompt-tokens", str(p), "--tokens", str(n),
         "--threads", str(threads), "--repeats", "1", "--warmup", "1", "--format", "json",
         "--receipt", os.devnull],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    m = json.loads(out)["measurements"]
    return m["decode_tok_s"] if row == "decode" else m["prefill_tok_s"]


def fmt(xs):
    return f"{min(xs):.1f} / **{statistics.median(xs):.1f}** / {max(xs):.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rows", default="decode,prefill")
    ap.add_argument("--models", default="smollm2,gemma3")
    ap.add_argument("--parci", default="target/release/perf-smoke")
    ap.add_argument("--llama-bench", default=None)
    a = ap.parse_args()
    bindir = llama_bindir()
    lb = a.llama_bench or build_target(bindir, "llama-bench")
    rows = [(m, r, int(t)) for m in a.models.split(",") for r in a.rows.split(",")
            for t in a.threads.split(",")]
    res = {row: ([], []) for row in rows}
    for rep in range(a.repeats):
        for m, r, t in rows:
            path = model_path(m, a.parci, bindir)
            res[(m, r, t)][0].append(parci(a.parci, path, r, t))
            res[(m, r, t)][1].append(llama(lb, path, r, t))
        print(f"bench: repeat {rep + 1}/{a.repeats} done", file=sys.stderr)
    print("| model | workload | threads | parci tok/s (min / median / max) "
          "| llama.cpp tok/s (min / median / max) | parci / llama.cpp |")
    print("|---|---|---|---|---|---|")
    for (m, r, t), (ps, ls) in res.items():
        work = "decode tg64" if r == "decode" else "prefill pp128"
        ratio = statistics.median(ps) / statistics.median(ls)
        print(f"| {m} | {work} | {t} | {fmt(ps)} | {fmt(ls)} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
