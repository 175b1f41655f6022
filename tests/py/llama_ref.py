#!/usr/bin/env python3
"""A NumPy reference of llama.cpp's llama forward pass, for parci's tests.

  llama_ref.py make-llama OUT
      write a small llama GGUF with gguf-py's GGUFWriter: F32 embedding and
      norms, Q8_0 and Q4_0 projections quantized by gguf-py, Q8_0 output head
  llama_ref.py compare MODEL TOKENS LOGITS [MIN_COSINE]
      teacher-force TOKENS (comma-separated ids) through MODEL and compare the
      logits at every step with LOGITS (f32 LE, steps x n_vocab, as parci
      computed them); print {"cosine": [...]} and exit 1 if any step is below
      MIN_COSINE (default 0.995)

Weights come from gguf-py (GGUFReader + gguf.dequantize); the maths follows
llama.cpp's published formulas, in float64: RMSNorm x / sqrt(mean(x^2) + eps)
* w; rope "norm" mode (adjacent pairs of each head rotated by pos *
base^(-2i/n_rot)); grouped-query attention, softmax(q.k / sqrt(head_dim)) over
positions <= pos, KV head = head // (n_head / n_head_kv); SwiGLU FFN
down(silu(gate x) * up x); final norm; output head, tied to token_embd when
output.weight is absent. No code from parci is used here.
"""
import json
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q


def field(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        if default is None:
            raise KeyError(key)
        return default
    return f.contents()


def load(path):
    r = gguf.GGUFReader(path)
    arch = field(r, "general.architecture")
    assert arch == "llama", arch
    hp = {
        "n_embd": int(field(r, "llama.embedding_length")),
        "n_layer": int(field(r, "llama.block_count")),
        "n_head": int(field(r, "llama.attention.head_count")),
        "eps": float(field(r, "llama.attention.layer_norm_rms_epsilon")),
        "base": float(field(r, "llama.rope.freq_base", 10000.0)),
    }
    hp["n_head_kv"] = int(field(r, "llama.attention.head_count_kv", hp["n_head"]))
    hp["n_rot"] = int(field(r, "llama.rope.dimension_count", hp["n_embd"] // hp["n_head"]))
    w = {}
    for t in r.tensors:
        a = gguf.dequantize(t.data, t.tensor_type)
        w[t.name] = np.asarray(a, dtype=np.float64).reshape([int(d) for d in reversed(t.shape)])
    return hp, w


def rms_norm(x, g, eps):
    return x / np.sqrt(np.mean(x * x) + eps) * g


def rope(x, n_head, hd, n_rot, pos, base):
    x = x.reshape(n_head, hd).copy()
    i = np.arange(0, n_rot, 2)
    theta = pos * base ** (-i / n_rot)
    c, s = np.cos(theta), np.sin(theta)
    a, b = x[:, i].copy(), x[:, i + 1].copy()
    x[:, i] = a * c - b * s
    x[:, i + 1] = a * s + b * c
    return x.reshape(-1)


def forward_all(hp, w, tokens):
    e, nh, nkv = hp["n_embd"], hp["n_head"], hp["n_head_kv"]
    hd = e // nh
    group = nh // nkv
    head = w.get("output.weight", w["token_embd.weight"])
    ks = [[] for _ in range(hp["n_layer"])]
    vs = [[] for _ in range(hp["n_layer"])]
    out = []
    for pos, tok in enumerate(tokens):
        x = w["token_embd.weight"][tok].copy()
        for l in range(hp["n_layer"]):
            p = f"blk.{l}."
            xn = rms_norm(x, w[p + "attn_norm.weight"], hp["eps"])
            q = rope(w[p + "attn_q.weight"] @ xn, nh, hd, hp["n_rot"], pos, hp["base"])
            k = rope(w[p + "attn_k.weight"] @ xn, nkv, hd, hp["n_rot"], pos, hp["base"])
            v = w[p + "attn_v.weight"] @ xn
            ks[l].append(k.reshape(nkv, hd))
            vs[l].append(v.reshape(nkv, hd))
            K, V = np.stack(ks[l]), np.stack(vs[l])  # [t, nkv, hd]
            att = np.empty((nh, hd))
            for h in range(nh):
                sc = K[:, h // group, :] @ q[h * hd:(h + 1) * hd] / np.sqrt(hd)
                p_ = np.exp(sc - sc.max())
                p_ /= p_.sum()
                att[h] = p_ @ V[:, h // group, :]
            x = x + w[p + "attn_output.weight"] @ att.reshape(-1)
            xn = rms_norm(x, w[p + "ffn_norm.weight"], hp["eps"])
            g = w[p + "ffn_gate.weight"] @ xn
            u = w[p + "ffn_up.weight"] @ xn
            x = x + w[p + "ffn_down.weight"] @ (g / (1 + np.exp(-g)) * u)
        out.append(head @ rms_norm(x, w["output_norm.weight"], hp["eps"]))
    return np.stack(out)


def make_llama(path):
    rng = np.random.default_rng(7)
    vocab, e, ff, n_layer, nh, nkv = 320, 256, 512, 2, 4, 2
    hd = e // nh
    wr = gguf.GGUFWriter(path, "llama")
    wr.add_name("gguf-py reference llama")
    wr.add_context_length(128)
    wr.add_embedding_length(e)
    wr.add_block_count(n_layer)
    wr.add_feed_forward_length(ff)
    wr.add_head_count(nh)
    wr.add_head_count_kv(nkv)
    wr.add_rope_dimension_count(hd)
    wr.add_rope_freq_base(10000.0)
    wr.add_layer_norm_rms_eps(1e-5)
    wr.add_vocab_size(vocab)

    def mat(rows, cols, qt):
        a = (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)
        if qt == Q.F32:
            return a, None
        return gguf.quantize(a, qt), qt

    def add(name, arr_qt):
        arr, qt = arr_qt
        if qt is None:
            wr.add_tensor(name, arr)
        else:
            wr.add_tensor(name, arr, raw_dtype=qt)

    add("token_embd.weight", (rng.standard_normal((vocab, e)).astype(np.float32), None))
    for l in range(n_layer):
        p = f"blk.{l}."
        norm = lambda: ((1 + 0.1 * rng.standard_normal(e)).astype(np.float32), None)  # noqa: E731
        add(p + "attn_norm.weight", norm())
        add(p + "attn_q.weight", mat(e, e, Q.Q8_0))
        add(p + "attn_k.weight", mat(nkv * hd, e, Q.Q8_0))
        add(p + "attn_v.weight", mat(nkv * hd, e, Q.Q4_0))
        add(p + "attn_output.weight", mat(e, e, Q.Q4_0))
        add(p + "ffn_norm.weight", norm())
        add(p + "ffn_gate.weight", mat(ff, e, Q.Q4_0))
        add(p + "ffn_up.weight", mat(ff, e, Q.Q8_0))
        add(p + "ffn_down.weight", mat(e, ff, Q.F32))
    add("output_norm.weight", (np.ones(e, dtype=np.float32), None))
    add("output.weight", mat(vocab, e, Q.Q8_0))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def main(argv):
    if argv[:1] == ["make-llama"] and len(argv) == 2:
        make_llama(argv[1])
        return 0
    if argv[:1] == ["compare"] and len(argv) in (4, 5):
        hp, w = load(argv[1])
        tokens = [int(t) for t in argv[2].split(",")]
        ours = np.fromfile(argv[3], dtype="<f4").astype(np.float64)
        ref = forward_all(hp, w, tokens)
        ours = ours.reshape(ref.shape)
        cos = [float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in zip(ours, ref)]
        same_argmax = [int(np.argmax(a) == np.argmax(b)) for a, b in zip(ours, ref)]
        print(json.dumps({"cosine": cos, "same_argmax": same_argmax}))
        floor = float(argv[4]) if len(argv) == 5 else 0.995
        return 0 if min(cos) >= floor else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
