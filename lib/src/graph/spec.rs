//! The plan's vocabulary: tensor, op, layer and KV-cache specs. An
//! architecture description (`arch.rs`) states its model in these terms; the
//! builder (`mod.rs`) validates and assembles them; the engine
//! (`crate::model`) executes the ops in order. Everything here serializes
//! into the plan digest, so two plans that compute differently never share a
//! digest.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TensorSpec {
    pub name: String,
    pub ty: &'static str,
    /// ggml order: shape[0] is the row length.
    pub shape: Vec<u64>,
    /// Byte range in the data section.
    pub offset: u64,
    pub bytes: u64,
}

/// How RoPE pairs the dimensions of a head (llama.cpp's rope modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RopeMode {
    /// Adjacent pairs (2i, 2i+1): llama.
    Norm,
    /// Pairs (i, i + n_rot/2): gemma3 and the GPT-NeoX family.
    Neox,
}

/// What an op computes. Parameters the computation depends on are fields, so
/// they are part of the plan (and its digest), not constants in the engine.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    /// inputs [table, "token"]: the token's row of the table, as f32.
    Embed,
    /// inputs [x]: x · factor.
    Scale { factor: f32 },
    /// inputs [x, weight]: x / sqrt(mean(x²) + eps) · weight.
    RmsNorm { eps: f32 },
    /// inputs [x, weight]: RMS norm of each `head_dim` slice of x with the
    /// same `head_dim`-long weight.
    HeadRmsNorm { eps: f32, head_dim: u64 },
    /// inputs [weight, x]: weight · x through the kernel registry.
    MatVec,
    /// inputs [x]: rotate the first `n_rot` dimensions of each head by
    /// pos · base^(−2i/n_rot) · freq_scale.
    Rope {
        mode: RopeMode,
        n_rot: u64,
        head_dim: u64,
        base: f32,
        freq_scale: f32,
    },
    /// inputs [q, k, v] at this position: appends k and v to the layer's KV
    /// cache, then softmax(q·k · scale) over the visible positions · v, per
    /// head, KV head = head / (n_head / n_head_kv). `window`: positions t
    /// with pos − t >= window are masked (llama.cpp's standard SWA).
    Attention {
        layer: u64,
        n_head: u64,
        n_head_kv: u64,
        head_dim: u64,
        scale: f32,
        window: Option<u64>,
    },
    /// inputs [a, b]: a + b.
    Add,
    /// inputs [gate, up]: silu(gate) · up.
    SwiGlu,
    /// inputs [gate, up]: gelu(gate) · up, GELU in its tanh form.
    GeGlu,
    /// inputs [x]: cap · tanh(x / cap).
    Softcap { cap: f32 },
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Embed => "embed",
            Op::Scale { .. } => "scale",
            Op::RmsNorm { .. } => "rms_norm",
            Op::HeadRmsNorm { .. } => "head_rms_norm",
            Op::MatVec => "matvec",
            Op::Rope { .. } => "rope",
            Op::Attention { .. } => "attention",
            Op::Add => "add",
            Op::SwiGlu => "swiglu",
            Op::GeGlu => "geglu",
            Op::Softcap { .. } => "softcap",
        }
    }
}

/// One operation: what it reads (weights by tensor name, values by name) and
/// the value it writes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpSpec {
    pub op: Op,
    pub inputs: Vec<String>,
    pub output: String,
}

impl OpSpec {
    pub fn new(op: Op, inputs: &[&str], output: &str) -> OpSpec {
        OpSpec {
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSpec {
    pub index: u64,
    pub tensors: Vec<TensorSpec>,
    pub ops: Vec<OpSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KvCacheSpec {
    pub layer: u64,
    /// [n_embd_kv, n_ctx] for K and for V.
    pub k_shape: [u64; 2],
    pub v_shape: [u64; 2],
    pub elem: &'static str,
    pub bytes: u64,
}
