//! The architectures parci runs, each stated once as a description: the
//! metadata keys it reads, the tensors of a layer with their shapes, and the
//! op sequence of the model. The builder (`mod.rs`) turns a description into
//! a validated plan; the engine executes any plan. Adding an architecture is
//! adding a description here, not a forward pass.
//!
//! Both follow llama.cpp (src/models/llama.cpp, src/models/gemma3.cpp and the
//! hparams loading in src/llama-model.cpp).

use super::hparams::{check, common, HparamError, Hparams, Keys};
use super::spec::{Op, OpSpec, RopeMode};
use crate::gguf::Gguf;

/// The architectures parci has a description of (`general.architecture`).
pub const SUPPORTED: [&str; 2] = ["llama", "gemma3"];

/// Keys every description reads (suffixes after `<arch>.`).
const COMMON_KEYS: [&str; 15] = [
    "context_length",
    "embedding_length",
    "block_count",
    "feed_forward_length",
    "vocab_size",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "attention.layer_norm_rms_epsilon",
    "rope.freq_base",
    "rope.dimension_count",
    "rope.scaling.type",
    "rope.scaling.factor",
    // llama.cpp writes it for the record; the maths does not depend on it
    "rope.scaling.original_context_length",
];

const GEMMA3_KEYS: [&str; 4] = [
    "attention.sliding_window",
    "attention.sliding_window_pattern",
    "rope.freq_base_swa",
    "final_logit_softcapping",
];

/// Reads the hyper-parameters of architecture `arch` (one of [`SUPPORTED`]).
pub fn hparams(g: &Gguf, arch: &'static str) -> Result<Hparams, HparamError> {
    let k = Keys { g, arch };
    let h = match arch {
        "llama" => {
            k.only(&COMMON_KEYS)?;
            common(&k)?
        }
        "gemma3" => {
            let known: Vec<&str> = COMMON_KEYS.iter().chain(&GEMMA3_KEYS).copied().collect();
            k.only(&known)?;
            let mut h = common(&k)?;
            // llama.cpp: SWA only with a window; pattern 6 (5 sliding, 1 global)
            h.n_swa = k.u32_or("attention.sliding_window", 0)?;
            if k.is_array("attention.sliding_window_pattern") {
                return Err(HparamError::Value {
                    key: "gemma3.attention.sliding_window_pattern".into(),
                    value: "an array".into(),
                    why: "parci reads the pattern as one u32 period",
                });
            }
            h.swa_pattern = k.u32_or("attention.sliding_window_pattern", 6)?;
            h.rope_freq_base_swa = k.f32_or("rope.freq_base_swa", 10000.0)?;
            h.logit_softcap = k.f32_or("final_logit_softcapping", 0.0)?;
            h
        }
        other => unreachable!("{other} is not in SUPPORTED"),
    };
    check(&h)?;
    Ok(h)
}

/// A tensor a description needs: its name and ggml shape.
pub type Need = (String, Vec<u64>);

/// What one layer needs and does.
pub struct LayerDesc {
    pub tensors: Vec<Need>,
    pub ops: Vec<OpSpec>,
}

/// Layer `l` of architecture `h.arch`. Its input value is `l{l-1}.out` (or
/// `embd` for layer 0); its output is `l{l}.out`.
pub fn layer(h: &Hparams, l: u64) -> LayerDesc {
    match h.arch {
        "gemma3" => gemma3_layer(h, l),
        _ => llama_layer(h, l),
    }
}

/// Names inside layer `l`: its weights, its values, its input.
struct Names(u64);

impl Names {
    fn w(&self, s: &str) -> String {
        format!("blk.{}.{s}.weight", self.0)
    }
    fn v(&self, s: &str) -> String {
        format!("l{}.{s}", self.0)
    }
    fn input(&self) -> String {
        match self.0 {
            0 => "embd".to_string(),
            l => format!("l{}.out", l - 1),
        }
    }
    /// An op reading `ins` (weights as `w:<name>`, values as `<name>`, the
    /// layer input as `in`) and writing value `out`.
    fn op(&self, op: Op, ins: &[&str], out: &str) -> OpSpec {
        let ins: Vec<String> = ins
            .iter()
            .map(|i| match (i.strip_prefix("w:"), *i) {
                (Some(w), _) => self.w(w),
                (None, "in") => self.input(),
                (None, v) => self.v(v),
            })
            .collect();
        let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
        OpSpec::new(op, &ins, &self.v(out))
    }
}

fn rope(h: &Hparams, l: u64, mode: RopeMode) -> Op {
    let swa = h.is_swa(l);
    Op::Rope {
        mode,
        n_rot: h.n_rot,
        head_dim: h.head_dim,
        base: if swa {
            h.rope_freq_base_swa
        } else {
            h.rope_freq_base
        },
        freq_scale: if swa { 1.0 } else { h.rope_freq_scale },
    }
}

fn attention(h: &Hparams, l: u64, scale: f32) -> Op {
    Op::Attention {
        layer: l,
        n_head: h.n_head,
        n_head_kv: h.n_head_kv,
        head_dim: h.head_dim,
        scale,
        window: h.is_swa(l).then_some(h.n_swa),
    }
}

/// llama: pre-norm attention with RoPE in "norm" mode and scores scaled by
/// 1/sqrt(head_dim); SwiGLU FFN.
fn llama_layer(h: &Hparams, l: u64) -> LayerDesc {
    let (e, q, kv, ff) = (h.n_embd, h.n_embd_q(), h.n_embd_kv(), h.n_ff);
    let n = Names(l);
    let norm = Op::RmsNorm { eps: h.rms_eps };
    let rope = rope(h, l, RopeMode::Norm);
    LayerDesc {
        tensors: vec![
            (n.w("attn_norm"), vec![e]),
            (n.w("attn_q"), vec![e, q]),
            (n.w("attn_k"), vec![e, kv]),
            (n.w("attn_v"), vec![e, kv]),
            (n.w("attn_output"), vec![q, e]),
            (n.w("ffn_norm"), vec![e]),
            (n.w("ffn_gate"), vec![e, ff]),
            (n.w("ffn_up"), vec![e, ff]),
            (n.w("ffn_down"), vec![ff, e]),
        ],
        ops: vec![
            n.op(norm.clone(), &["in", "w:attn_norm"], "attn_in"),
            n.op(Op::MatVec, &["w:attn_q", "attn_in"], "q"),
            n.op(Op::MatVec, &["w:attn_k", "attn_in"], "k"),
            n.op(Op::MatVec, &["w:attn_v", "attn_in"], "v"),
            n.op(rope.clone(), &["q"], "q_rope"),
            n.op(rope, &["k"], "k_rope"),
            n.op(
                attention(h, l, 1.0 / (h.head_dim as f32).sqrt()),
                &["q_rope", "k_rope", "v"],
                "attn",
            ),
            n.op(Op::MatVec, &["w:attn_output", "attn"], "attn_out"),
            n.op(Op::Add, &["in", "attn_out"], "h"),
            n.op(norm, &["h", "w:ffn_norm"], "ffn_in"),
            n.op(Op::MatVec, &["w:ffn_gate", "ffn_in"], "gate"),
            n.op(Op::MatVec, &["w:ffn_up", "ffn_in"], "up"),
            n.op(Op::SwiGlu, &["gate", "up"], "act"),
            n.op(Op::MatVec, &["w:ffn_down", "act"], "ffn_out"),
            n.op(Op::Add, &["h", "ffn_out"], "out"),
        ],
    }
}

/// llama.cpp's gemma3 query scale: 1/sqrt(n_embd / n_head) for the 27B model
/// (62 layers), 1/sqrt(head_dim) for every other size.
fn f_attention_scale(h: &Hparams) -> f32 {
    if h.n_layer == 62 {
        1.0 / ((h.n_embd / h.n_head) as f32).sqrt()
    } else {
        1.0 / (h.head_dim as f32).sqrt()
    }
}

/// gemma3: per-head RMS norms of Q and K, RoPE in NEOX mode with the sliding
/// layers' own base, Q scaled by [`f_attention_scale`] and scores by 1, sliding-window
/// attention on 5 of every 6 layers, norms after attention and after the FFN,
/// GELU-gated FFN.
fn gemma3_layer(h: &Hparams, l: u64) -> LayerDesc {
    let (e, q, kv, ff, hd) = (h.n_embd, h.n_embd_q(), h.n_embd_kv(), h.n_ff, h.head_dim);
    let n = Names(l);
    let norm = Op::RmsNorm { eps: h.rms_eps };
    let head_norm = Op::HeadRmsNorm {
        eps: h.rms_eps,
        head_dim: hd,
    };
    let rope = rope(h, l, RopeMode::Neox);
    LayerDesc {
        tensors: vec![
            (n.w("attn_norm"), vec![e]),
            (n.w("attn_q"), vec![e, q]),
            (n.w("attn_k"), vec![e, kv]),
            (n.w("attn_v"), vec![e, kv]),
            (n.w("attn_q_norm"), vec![hd]),
            (n.w("attn_k_norm"), vec![hd]),
            (n.w("attn_output"), vec![q, e]),
            (n.w("post_attention_norm"), vec![e]),
            (n.w("ffn_norm"), vec![e]),
            (n.w("ffn_gate"), vec![e, ff]),
            (n.w("ffn_up"), vec![e, ff]),
            (n.w("ffn_down"), vec![ff, e]),
            (n.w("post_ffw_norm"), vec![e]),
        ],
        ops: vec![
            n.op(norm.clone(), &["in", "w:attn_norm"], "attn_in"),
            n.op(Op::MatVec, &["w:attn_q", "attn_in"], "q"),
            n.op(Op::MatVec, &["w:attn_k", "attn_in"], "k"),
            n.op(Op::MatVec, &["w:attn_v", "attn_in"], "v"),
            n.op(head_norm.clone(), &["q", "w:attn_q_norm"], "q_normed"),
            n.op(head_norm, &["k", "w:attn_k_norm"], "k_normed"),
            n.op(rope.clone(), &["q_normed"], "q_rope"),
            n.op(rope, &["k_normed"], "k_rope"),
            n.op(
                Op::Scale {
                    factor: f_attention_scale(h),
                },
                &["q_rope"],
                "q_scaled",
            ),
            n.op(attention(h, l, 1.0), &["q_scaled", "k_rope", "v"], "attn"),
            n.op(Op::MatVec, &["w:attn_output", "attn"], "attn_out"),
            n.op(
                norm.clone(),
                &["attn_out", "w:post_attention_norm"],
                "attn_post",
            ),
            n.op(Op::Add, &["in", "attn_post"], "h"),
            n.op(norm.clone(), &["h", "w:ffn_norm"], "ffn_in"),
            n.op(Op::MatVec, &["w:ffn_gate", "ffn_in"], "gate"),
            n.op(Op::MatVec, &["w:ffn_up", "ffn_in"], "up"),
            n.op(Op::GeGlu, &["gate", "up"], "act"),
            n.op(Op::MatVec, &["w:ffn_down", "act"], "ffn_out"),
            n.op(norm, &["ffn_out", "w:post_ffw_norm"], "ffn_post"),
            n.op(Op::Add, &["h", "ffn_post"], "out"),
        ],
    }
}

/// The ops before the first layer: the token's embedding row (gemma3 scales
/// it by sqrt(n_embd)), ending in the value `embd`.
pub fn input_ops(h: &Hparams) -> Vec<OpSpec> {
    if h.arch == "gemma3" {
        vec![
            OpSpec::new(Op::Embed, &["token_embd.weight", "token"], "embd_raw"),
            OpSpec::new(
                Op::Scale {
                    factor: (h.n_embd as f32).sqrt(),
                },
                &["embd_raw"],
                "embd",
            ),
        ]
    } else {
        vec![OpSpec::new(
            Op::Embed,
            &["token_embd.weight", "token"],
            "embd",
        )]
    }
}

/// The ops after the last layer (`last`): final norm and output head (`head`,
/// the token embedding when the file has no `output.weight`), ending in the
/// value `logits`.
pub fn output_ops(h: &Hparams, last: &str, head: &str) -> Vec<OpSpec> {
    let mut ops = vec![
        OpSpec::new(
            Op::RmsNorm { eps: h.rms_eps },
            &[last, "output_norm.weight"],
            "final",
        ),
        OpSpec::new(Op::MatVec, &[head, "final"], "logits"),
    ];
    if h.logit_softcap > 0.0 {
        ops[1].output = "logits_raw".into();
        ops.push(OpSpec::new(
            Op::Softcap {
                cap: h.logit_softcap,
            },
            &["logits_raw"],
            "logits",
        ));
    }
    ops
}
