#!/usr/bin/env python3
"""A NumPy reference of llama.cpp's forward pass (architectures llama and
gemma3), for parci's tests.

  llama_ref.py make-llama OUT
      write a small llama GGUF with gguf-py's GGUFWriter: F32 embedding and
      norms, Q8_0 and Q4_0 projections quantized by gguf-py, Q8_0 output head
  llama_ref.py compare MODEL TOKENS LOGITS [MIN_COSINE]
      teacher-force TOKENS (comma-separated ids) through MODEL and compare the
      logits at every step with LOGITS (f32 LE, steps x n_vocab, as parci
      computed them); print {"cosine": [...], "same_argmax": [...]} and exit 1
      if any step is below MIN_COSINE (default 0.995)
  llama_ref.py logits MODEL TOKENS OUT
      write the reference's own logits for TOKENS to OUT (f32 LE, steps x
      n_vocab), e.g. to check `compare` against itself
  llama_ref.py next MODEL TOKENS
      print {"id": ..., "token": ...}: the argmax after the last of TOKENS,
      spelled with the GGUF's tokenizer.ggml.tokens

  --float-activations (anywhere, with compare, logits, next): multiply the
      float64 activations as they are instead of rounding them as ggml does

The architecture is general.architecture. Weights come from gguf-py
(GGUFReader + gguf.dequantize, which knows every ggml type: Q4_0, Q4_1, Q5_0,
Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, F16, BF16...), each dequantized once and kept
in float32 (exact: dequantized values are float32 in ggml too). Before each
matrix product the activations are rounded as ggml's CPU backend rounds them
(the weight type's vec_dot_type in ggml-cpu.c), from their f32 values:
Q8_0 for Q4_0, Q5_0, Q8_0, IQ4_NL (ggml-quants.c quantize_row_q8_0_ref: per
32, d = amax/127, q = roundf(x/d), d stored as f16); Q8_1 for Q4_1, Q5_1
(quantize_row_q8_1_ref: Q8_0's q and d, plus s = f16(d * sum q), which the
weights' minimums multiply: the block dot is d_w d_a sum(q_w q_a) + m_w s_a);
Q8_K for Q2_K..Q6_K, the IQ K-formats, TQ1_0, TQ2_0 (quantize_row_q8_K_ref:
per 256, iscale = -127/max with max the value of largest |x|, q =
min(127, nearest_int(iscale x)) half to even, d = 1/iscale in f32); f16 resp.
bf16 for F16 resp. BF16 weights; none for F32. The products of the rounded
values are computed in float64. The maths follows llama.cpp's
(src/models/*.cpp):

llama: RMSNorm x / sqrt(mean(x^2) + eps) * w; rope "norm" mode (adjacent
pairs of each head rotated by pos * base^(-2i/n_rot)); grouped-query
attention, softmax(q.k / sqrt(head_dim)) over positions <= pos, KV head =
head // (n_head / n_head_kv); SwiGLU FFN down(silu(gate x) * up x); final
norm; output head, tied to token_embd when output.weight is absent.

gemma3: the embedding row scaled by sqrt(n_embd); per layer: attn_norm; Q, K,
V with head_dim = gemma3.attention.key_length; RMSNorm of each head of Q and K
(attn_q_norm, attn_k_norm); rope "neox" mode (pairs (i, i + n_rot/2)); Q
scaled by 1/sqrt(head_dim) (1/sqrt(n_embd/n_head) for the 62-layer 27B) and
no further scale in the softmax; layer il is sliding-window when
il % pattern < pattern - 1 (gemma3.attention.sliding_window_pattern, default
6; every layer is global when gemma3.attention.sliding_window is absent or 0),
masks keys at p0 with pos - p0 >= sliding_window and uses rope base
gemma3.rope.freq_base_swa (default 10000); global layers use
gemma3.rope.freq_base and the linear rope scaling factor if any;
attn_output; post_attention_norm; residual; ffn_norm; GeGLU FFN
down(gelu_tanh(gate x) * up x), gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi)
(x + 0.044715 x^3))) (exact here; ggml's CPU backend looks it up in an f16
table); post_ffw_norm; residual; output_norm; tied head; tanh soft-capping
when gemma3.final_logit_softcapping is present. Norm weights are used as
stored (the GGUF converter already added Gemma's 1).
No code from parci is used here.

Beware: with the rounding, the forward pass of models whose activations have
outliers (SmolLM2, Gemma 3) is chaotic: a one-ulp change of an f32 activation
flips a rounded code now and then, and the flips grow layer by layer to the
size of the rounding noise (this reference against itself with 1e-7 relative
noise on its activations: cosine down to 0.989 over 16 steps). Two
implementations whose f32 arithmetic differs (this one, parci, llama.cpp) are
then two draws of that noise; the float reference (--float-activations) is
its centre and the closer oracle (tests/reference_logits.rs).
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


# Matrices larger than this stay float32 (Gemma's 262144 x 640 embedding is
# 671 MB so); the others are widened to float64 once.
BIG = 1 << 24


def load(path):
    r = gguf.GGUFReader(path)
    arch = field(r, "general.architecture")
    if arch not in ("llama", "gemma3"):
        raise SystemExit(f"llama_ref.py: unsupported architecture {arch!r}")

    def kv(key, default=None):
        return field(r, f"{arch}.{key}", default)

    hp = {
        "reader": r,
        "arch": arch,
        "n_embd": int(kv("embedding_length")),
        "n_layer": int(kv("block_count")),
        "n_head": int(kv("attention.head_count")),
        "eps": float(kv("attention.layer_norm_rms_epsilon")),
        "base": float(kv("rope.freq_base", 10000.0)),
    }
    hp["n_head_kv"] = int(kv("attention.head_count_kv", hp["n_head"]))
    hp["head_dim"] = int(kv("attention.key_length", hp["n_embd"] // hp["n_head"]))
    hp["head_dim_v"] = int(kv("attention.value_length", hp["head_dim"]))
    hp["n_rot"] = int(kv("rope.dimension_count", hp["head_dim"]))
    scaling = str(kv("rope.scaling.type", "linear"))
    factor = float(kv("rope.scaling.factor", kv("rope.scale_linear", 0.0)))
    if scaling not in ("linear", "none") and factor not in (0.0, 1.0):
        raise SystemExit(f"llama_ref.py: rope scaling {scaling!r} is not implemented")
    hp["freq_scale"] = 1.0 if factor == 0.0 else 1.0 / factor
    hp["swa"] = [False] * hp["n_layer"]
    hp["n_swa"], hp["base_swa"], hp["softcap"] = 0, hp["base"], 0.0
    if arch == "llama":
        hp["rope_neox"] = False
        hp["q_scale"] = 1.0
        hp["kq_scale"] = 1.0 / np.sqrt(hp["head_dim"])
    else:  # gemma3
        hp["rope_neox"] = True
        hp["n_swa"] = int(kv("attention.sliding_window", 0))
        if hp["n_swa"] > 0:
            pattern = kv("attention.sliding_window_pattern", 6)
            if isinstance(pattern, list):  # one flag per layer
                hp["swa"] = [bool(b) for b in pattern]
            else:
                n = int(pattern)
                hp["swa"] = [n == 0 or il % n < n - 1 for il in range(hp["n_layer"])]
        hp["base_swa"] = float(kv("rope.freq_base_swa", 10000.0))
        hp["softcap"] = float(kv("final_logit_softcapping", 0.0))
        if hp["n_layer"] == 62:  # 27B: gemma_pytorch's query_pre_attn_scalar
            hp["q_scale"] = 1.0 / np.sqrt(float(hp["n_embd"] // hp["n_head"]))
        else:
            hp["q_scale"] = 1.0 / np.sqrt(float(hp["head_dim"]))
        hp["kq_scale"] = 1.0
    w, hp["types"], hp["mins"] = {}, {}, {}
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        a = gguf.dequantize(t.data, t.tensor_type).reshape(shape)
        w[t.name] = a.astype(np.float32 if a.size > BIG else np.float64, copy=False)
        hp["types"][t.name] = t.tensor_type.name
        if t.tensor_type.name in ("Q4_1", "Q5_1") and len(shape) == 2:
            # each block is d (f16), m (f16), codes: the minimums m [rows, blocks]
            size = gguf.GGML_QUANT_SIZES[t.tensor_type][1]
            m = np.ascontiguousarray(np.asarray(t.data).reshape(-1, size)[:, 2:4]).view("<f2")
            hp["mins"][t.name] = m.astype(np.float64).reshape(shape[0], -1)
    return hp, w


def rms_norm(x, g, eps):
    """RMSNorm of each row of x (the last axis)."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def rope(x, n_rot, pos, base, freq_scale, neox):
    """Rotates x [T, heads, hd] in place at positions pos [T]: "norm" mode pairs
    (i, i + 1), "neox" mode pairs (i, i + n_rot/2); dims past n_rot pass."""
    half = n_rot // 2
    theta = (pos[:, None] * freq_scale) * base ** (-2.0 * np.arange(half) / n_rot)  # [T, half]
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    if neox:
        ia, ib = np.arange(half), np.arange(half) + half
    else:
        ia, ib = np.arange(0, n_rot, 2), np.arange(1, n_rot, 2)
    a, b = x[:, :, ia].copy(), x[:, :, ib].copy()
    x[:, :, ia] = a * c - b * s
    x[:, :, ib] = a * s + b * c
    return x


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


# The activation format ggml's CPU backend rounds the activations to before a
# product with a weight of each type (type_traits_cpu[type].vec_dot_type in
# ggml/src/ggml-cpu/ggml-cpu.c); F32 weights multiply the f32 activations.
ACT_FORMAT = {
    **dict.fromkeys(("Q1_0", "Q4_0", "Q5_0", "Q8_0", "IQ4_NL", "MXFP4", "NVFP4"), "Q8_0"),
    **dict.fromkeys(("Q4_1", "Q5_1"), "Q8_1"),
    **dict.fromkeys(("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS",
                     "IQ3_S", "IQ2_S", "IQ1_S", "IQ1_M", "IQ4_XS", "TQ1_0", "TQ2_0"), "Q8_K"),
    "F16": "F16",
    "BF16": "BF16",
}

# `--float-activations`: multiply the float64 activations as they are (no
# rounding through the activation formats), for diagnosis.
FLOAT_ACTIVATIONS = False


def roundf(v):
    """C's roundf (half away from zero) of float32 values, exactly (in float64)."""
    v = v.astype(np.float64)
    return np.trunc(v + np.copysign(0.5, v))


def q8_0_act(x):
    """ggml's quantize_row_q8_0_ref of each row of x [T, n] (as f32), per 32:
    d = amax / 127, q = roundf(x / d), d stored as f16. Returns q [T, n/32,
    32], the f16 d widened [T, n/32, 1] and the f32 d."""
    b = x.astype(np.float32).reshape(x.shape[0], -1, 32)
    d = np.abs(b).max(axis=-1, keepdims=True) / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = roundf(b * inv)
    return q, d.astype(np.float16).astype(np.float64), d


def q8_1_act(x):
    """ggml's quantize_row_q8_1_ref: Q8_0's q and d, and s = f16(d · Σ q) with
    the f32 d. Returns q, the f16 d and the f16 s [T, n/32, 1]."""
    q, d16, d = q8_0_act(x)
    s = (q.sum(axis=-1, keepdims=True).astype(np.float32) * d).astype(np.float16)
    return q, d16, s.astype(np.float64)


def q8_k_act(x):
    """ggml's quantize_row_q8_K_ref of each row of x [T, n] (as f32), per 256:
    max = the value of largest |x| (the first on ties), iscale = -127 / max,
    q = min(127, nearest_int(iscale · x)) (half to even), d = 1 / iscale in f32
    (all zero when max is 0). Returns q [T, n/256, 256] and d [T, n/256, 1]."""
    b = x.astype(np.float32).reshape(x.shape[0], -1, 256)
    mx = np.take_along_axis(b, np.abs(b).argmax(axis=-1)[..., None], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = (np.float32(-127) / mx).astype(np.float32)
        q = np.minimum(np.rint((iscale * b).astype(np.float32)).astype(np.float64), 127.0)
        d = (np.float32(1) / iscale).astype(np.float32)
    zero = mx == 0
    return np.where(zero, 0.0, q), np.where(zero, 0.0, d.astype(np.float64))


def activations(fmt, x):
    """x [T, n] rounded through the activation format fmt as the values the
    dot products see (float64), and for Q8_1 the per-block correction
    s - d · Σ q [T, n/32] that the minimums of Q4_1/Q5_1 weights multiply:
    ggml's block dot d_w d_a Σ q_w q_a + m_w s_a is Σ w a_q + m_w (s_a - d_a Σ q_a)
    with w = d_w q_w + m_w the dequantized weight and a_q = d_a q_a."""
    if FLOAT_ACTIVATIONS or fmt is None:
        return x, None
    if fmt == "Q8_0":
        q, d, _ = q8_0_act(x)
        return (q * d).reshape(x.shape), None
    if fmt == "Q8_1":
        q, d, s = q8_1_act(x)
        corr = s - d * q.sum(axis=-1, keepdims=True)
        return (q * d).reshape(x.shape), corr[..., 0]
    if fmt == "Q8_K":
        q, d = q8_k_act(x)
        return (q * d).reshape(x.shape), None
    if fmt == "F16":
        return x.astype(np.float32).astype(np.float16).astype(np.float64), None
    if fmt == "BF16":
        b = np.asarray(x, dtype=np.float32)
        return gguf.dequantize(gguf.quantize(b, Q.BF16), Q.BF16).reshape(x.shape).astype(np.float64), None
    raise ValueError(fmt)


def matmul(hp, w, name, x):
    """The weight `name` [rows, cols] times each row of x [T, cols] as ggml's
    CPU backend computes it: x rounded through the weight type's activation
    format, then the product of the rounded values in float64, by chunks of
    rows when the weight is kept in float32."""
    m = w[name]
    a, corr = activations(ACT_FORMAT.get(hp["types"][name]), x)
    if m.dtype == np.float64:
        out = a @ m.T
    else:
        out = np.empty((a.shape[0], m.shape[0]))
        step = 16384
        for i in range(0, m.shape[0], step):
            out[:, i:i + step] = a @ m[i:i + step].astype(np.float64).T
    if corr is not None:
        out += corr @ hp["mins"][name].T
    return out


def attention(q, k, v, scale, n_swa):
    """q [T, nh, hd], k [T, nkv, hd], v [T, nkv, hdv]: causal grouped-query
    attention, keys at p0 masked for the query at p when p0 > p or, with a
    window, p - p0 >= n_swa."""
    t, nh, _ = q.shape
    group = nh // k.shape[1]
    p = np.arange(t)
    masked = p[None, :] > p[:, None]
    if n_swa:
        masked |= p[:, None] - p[None, :] >= n_swa
    out = np.empty((t, nh, v.shape[2]))
    for h in range(nh):
        sc = q[:, h, :] @ k[:, h // group, :].T * scale  # [T, T]
        sc[masked] = -np.inf
        e = np.exp(sc - sc.max(axis=1, keepdims=True))
        out[:, h, :] = (e / e.sum(axis=1, keepdims=True)) @ v[:, h // group, :]
    return out.reshape(t, -1)


def forward_all(hp, w, tokens):
    """The logits [T, n_vocab] at every position of the teacher-forced tokens."""
    gemma = hp["arch"] == "gemma3"
    mm = lambda name, x: matmul(hp, w, name, x)  # noqa: E731
    t = len(tokens)
    nh, nkv, hd, hdv, eps = hp["n_head"], hp["n_head_kv"], hp["head_dim"], hp["head_dim_v"], hp["eps"]
    pos = np.arange(t, dtype=np.float64)
    x = w["token_embd.weight"][np.asarray(tokens)].astype(np.float64)
    if gemma:
        x = x * np.sqrt(float(hp["n_embd"]))
    for il in range(hp["n_layer"]):
        p = f"blk.{il}."
        swa = hp["swa"][il]
        base = hp["base_swa"] if swa else hp["base"]
        fscale = 1.0 if swa else hp["freq_scale"]
        xn = rms_norm(x, w[p + "attn_norm.weight"], eps)
        q = mm(p + "attn_q.weight", xn).reshape(t, nh, hd)
        k = mm(p + "attn_k.weight", xn).reshape(t, nkv, hd)
        v = mm(p + "attn_v.weight", xn).reshape(t, nkv, hdv)
        if gemma:
            q = rms_norm(q, w[p + "attn_q_norm.weight"], eps)
            k = rms_norm(k, w[p + "attn_k_norm.weight"], eps)
        q = rope(q, hp["n_rot"], pos, base, fscale, hp["rope_neox"]) * hp["q_scale"]
        k = rope(k, hp["n_rot"], pos, base, fscale, hp["rope_neox"])
        att = attention(q, k, v, hp["kq_scale"], hp["n_swa"] if swa else 0)
        a = mm(p + "attn_output.weight", att)
        if gemma:
            a = rms_norm(a, w[p + "post_attention_norm.weight"], eps)
        x = x + a
        xn = rms_norm(x, w[p + "ffn_norm.weight"], eps)
        g = mm(p + "ffn_gate.weight", xn)
        u = mm(p + "ffn_up.weight", xn)
        act = gelu_tanh(g) if gemma else g / (1 + np.exp(-g))
        f = mm(p + "ffn_down.weight", act * u)
        if gemma:
            f = rms_norm(f, w[p + "post_ffw_norm.weight"], eps)
        x = x + f
    head = "output.weight" if "output.weight" in w else "token_embd.weight"
    logits = mm(head, rms_norm(x, w["output_norm.weight"], eps))
    if hp["softcap"]:
        logits = np.tanh(logits / hp["softcap"]) * hp["softcap"]
    return logits


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
    global FLOAT_ACTIVATIONS
    if "--float-activations" in argv:
        FLOAT_ACTIVATIONS = True
        argv = [a for a in argv if a != "--float-activations"]
    if argv[:1] == ["make-llama"] and len(argv) == 2:
        make_llama(argv[1])
        return 0
    if argv[:1] == ["compare"] and len(argv) in (4, 5):
        hp, w = load(argv[1])
        tokens = [int(t) for t in argv[2].split(",")]
        ours = np.fromfile(argv[3], dtype="<f4").astype(np.float64)
        ref = forward_all(hp, w, tokens)
        if ours.size != ref.size:
            raise SystemExit(f"llama_ref.py: {argv[3]} holds {ours.size} logits, expected {ref.shape}")
        ours = ours.reshape(ref.shape)
        cos = [float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in zip(ours, ref)]
        same_argmax = [int(np.argmax(a) == np.argmax(b)) for a, b in zip(ours, ref)]
        print(json.dumps({"cosine": cos, "same_argmax": same_argmax}))
        floor = float(argv[4]) if len(argv) == 5 else 0.995
        return 0 if min(cos) >= floor else 1
    if argv[:1] == ["logits"] and len(argv) == 4:
        hp, w = load(argv[1])
        tokens = [int(t) for t in argv[2].split(",")]
        forward_all(hp, w, tokens).astype("<f4").tofile(argv[3])
        return 0
    if argv[:1] == ["next"] and len(argv) == 3:
        hp, w = load(argv[1])
        tokens = [int(t) for t in argv[2].split(",")]
        top = int(np.argmax(forward_all(hp, w, tokens)[-1]))
        vocab = field(hp["reader"], "tokenizer.ggml.tokens")
        print(json.dumps({"id": top, "token": vocab[top]}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
