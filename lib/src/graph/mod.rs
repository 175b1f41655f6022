//! Graph specs for the `llama` architecture: per-tensor, per-layer and per-KV
//! cache specifications built from a GGUF file's metadata and tensor table.
//!
//! Two phases: layer and KV-cache specs are created independently (in
//! parallel with rayon, each validating its own tensors), then one sequential
//! pass assembles them in a fixed order into an [`ExecutionPlan`] and checks
//! the dependencies (every op input is a weight or an earlier op's output;
//! tensors no op reads are listed in the plan). The parallel and sequential builds give
//! the same plan, byte for byte (its `digest`).

use crate::gguf::{GgmlType, Gguf, KeyError};
use crate::quant::kernels::Op as KernelOp;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// Hyper-parameters of a llama model, as llama.cpp reads them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hparams {
    pub n_vocab: u64,
    pub n_ctx_train: u64,
    pub n_embd: u64,
    pub n_layer: u64,
    pub n_ff: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub n_rot: u64,
    pub rms_eps: f32,
    pub rope_freq_base: f32,
}

impl Hparams {
    pub fn head_dim(&self) -> u64 {
        self.n_embd / self.n_head
    }
    pub fn n_embd_kv(&self) -> u64 {
        self.head_dim() * self.n_head_kv
    }
}

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

/// One operation: what it reads (weights by tensor name, values by name) and
/// the value it writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpSpec {
    pub op: &'static str,
    pub inputs: Vec<String>,
    pub output: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutionPlan {
    pub arch: &'static str,
    pub hparams: Hparams,
    pub n_ctx: u64,
    pub globals: Vec<TensorSpec>,
    pub layers: Vec<LayerSpec>,
    pub kv_cache: Vec<KvCacheSpec>,
    /// Every op in execution order (globals, then each layer, then the head).
    pub ops: Vec<OpSpec>,
    /// Whether the output head reuses the token embedding (no `output.weight`).
    pub tied_output: bool,
    /// Tensors in the file that no op reads (e.g. llama.cpp's `rope_freqs`):
    /// reported to the user as a warning, never silently dropped.
    pub unused: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("architecture is {0:?}; parci runs \"llama\" models only")]
    Arch(String),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("tensor {name:?} is missing; a llama model with these hyper-parameters needs it")]
    Missing { name: String },
    #[error("tensor {name:?} has shape {got:?}, expected {want:?} from the metadata")]
    Shape {
        name: String,
        want: Vec<u64>,
        got: Vec<u64>,
    },
    #[error("tensor {name:?} has type {ty}; the kernels support F32, F16, BF16, Q8_0, Q4_0, TQ1_0, TQ2_0")]
    Type { name: String, ty: GgmlType },
    #[error("hyper-parameters do not fit: {0}")]
    Hparams(String),
    #[error("op {op} reads {input:?}, which is neither a weight nor the output of an earlier op")]
    Dangling { op: String, input: String },
}

/// Reads the llama hyper-parameters (u32 keys as llama.cpp writes them).
pub fn hparams(g: &Gguf) -> Result<Hparams, GraphError> {
    let arch = g.get_str("general.architecture")?;
    if arch != "llama" {
        return Err(GraphError::Arch(arch.into()));
    }
    let u = |k: &str| g.get_u32(k).map(u64::from);
    let n_embd = u("llama.embedding_length")?;
    let n_head = u("llama.attention.head_count")?;
    let n_head_kv = match g.get_u32("llama.attention.head_count_kv") {
        Err(KeyError::Missing(_)) => n_head,
        r => r? as u64,
    };
    let n_vocab = match g.get_u32("llama.vocab_size") {
        Ok(v) => v as u64,
        Err(_) => g.get_array("tokenizer.ggml.tokens")?.len,
    };
    let h = Hparams {
        n_vocab,
        n_ctx_train: u("llama.context_length")?,
        n_embd,
        n_layer: u("llama.block_count")?,
        n_ff: u("llama.feed_forward_length")?,
        n_head,
        n_head_kv,
        n_rot: match g.get_u32("llama.rope.dimension_count") {
            Err(KeyError::Missing(_)) => n_embd / n_head.max(1),
            r => r? as u64,
        },
        rms_eps: g.get_f32("llama.attention.layer_norm_rms_epsilon")?,
        rope_freq_base: match g.get_f32("llama.rope.freq_base") {
            Err(KeyError::Missing(_)) => 10000.0,
            r => r?,
        },
    };
    if h.n_head == 0
        || h.n_head_kv == 0
        || !h.n_embd.is_multiple_of(h.n_head)
        || !h.n_head.is_multiple_of(h.n_head_kv)
        || h.n_rot > h.head_dim()
        || !h.n_rot.is_multiple_of(2)
    {
        return Err(GraphError::Hparams(format!(
            "n_embd {} / n_head {} / n_head_kv {} / n_rot {}",
            h.n_embd, h.n_head, h.n_head_kv, h.n_rot
        )));
    }
    Ok(h)
}

fn spec(g: &Gguf, name: &str, want: &[u64]) -> Result<TensorSpec, GraphError> {
    let t = g
        .tensor(name)
        .ok_or_else(|| GraphError::Missing { name: name.into() })?;
    if t.shape() != want {
        return Err(GraphError::Shape {
            name: name.into(),
            want: want.to_vec(),
            got: t.shape().to_vec(),
        });
    }
    if KernelOp::for_weights(t.ty).is_none() {
        return Err(GraphError::Type {
            name: name.into(),
            ty: t.ty,
        });
    }
    Ok(TensorSpec {
        name: name.into(),
        ty: t.ty.name(),
        shape: want.to_vec(),
        offset: t.offset,
        bytes: t.size,
    })
}

fn op(op: &'static str, inputs: &[&str], output: &str) -> OpSpec {
    OpSpec {
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        output: output.into(),
    }
}

/// One layer's spec, validating its nine tensors.
pub fn layer_spec(g: &Gguf, h: &Hparams, l: u64) -> Result<LayerSpec, GraphError> {
    let (e, kv, ff) = (h.n_embd, h.n_embd_kv(), h.n_ff);
    let n = |s: &str| format!("blk.{l}.{s}.weight");
    let tensors = vec![
        spec(g, &n("attn_norm"), &[e])?,
        spec(g, &n("attn_q"), &[e, e])?,
        spec(g, &n("attn_k"), &[e, kv])?,
        spec(g, &n("attn_v"), &[e, kv])?,
        spec(g, &n("attn_output"), &[e, e])?,
        spec(g, &n("ffn_norm"), &[e])?,
        spec(g, &n("ffn_gate"), &[e, ff])?,
        spec(g, &n("ffn_up"), &[e, ff])?,
        spec(g, &n("ffn_down"), &[ff, e])?,
    ];
    let v = |s: &str| format!("l{l}.{s}");
    let input = if l == 0 {
        "embd".to_string()
    } else {
        format!("l{}.out", l - 1)
    };
    let ops = vec![
        op("rms_norm", &[&input, &n("attn_norm")], &v("attn_in")),
        op("matvec", &[&n("attn_q"), &v("attn_in")], &v("q")),
        op("matvec", &[&n("attn_k"), &v("attn_in")], &v("k")),
        op("matvec", &[&n("attn_v"), &v("attn_in")], &v("v")),
        op("rope", &[&v("q"), &v("k")], &v("qk_rot")),
        op("attention", &[&v("qk_rot"), &v("v")], &v("attn")),
        op("matvec", &[&n("attn_output"), &v("attn")], &v("attn_out")),
        op("add", &[&input, &v("attn_out")], &v("h")),
        op("rms_norm", &[&v("h"), &n("ffn_norm")], &v("ffn_in")),
        op("matvec", &[&n("ffn_gate"), &v("ffn_in")], &v("gate")),
        op("matvec", &[&n("ffn_up"), &v("ffn_in")], &v("up")),
        op("swiglu", &[&v("gate"), &v("up")], &v("act")),
        op("matvec", &[&n("ffn_down"), &v("act")], &v("ffn_out")),
        op("add", &[&v("h"), &v("ffn_out")], &v("out")),
    ];
    Ok(LayerSpec {
        index: l,
        tensors,
        ops,
    })
}

pub fn kv_spec(h: &Hparams, l: u64, n_ctx: u64) -> KvCacheSpec {
    let shape = [h.n_embd_kv(), n_ctx];
    KvCacheSpec {
        layer: l,
        k_shape: shape,
        v_shape: shape,
        elem: "f32",
        bytes: 2 * 4 * shape[0] * shape[1],
    }
}

/// Builds the execution plan. `parallel` runs the spec phase on the current
/// rayon pool (callers size it); the assembly is always sequential.
pub fn build(g: &Gguf, n_ctx: u64, parallel: bool) -> Result<ExecutionPlan, GraphError> {
    build_counted(g, n_ctx, parallel, &AtomicU64::new(0))
}

/// [`build`], adding 1 to `done` as each layer spec is finished (twice per
/// layer: its ops and tensors, then its KV cache), so a progress display can
/// poll it from another thread without a callback in the hot loop.
pub fn build_counted(
    g: &Gguf,
    n_ctx: u64,
    parallel: bool,
    done: &AtomicU64,
) -> Result<ExecutionPlan, GraphError> {
    let h = hparams(g)?;
    tracing::info!(
        target: "parci_core::graph",
        n_layer = h.n_layer,
        n_embd = h.n_embd,
        n_ctx,
        parallel,
        threads = rayon::current_num_threads(),
        "building execution plan"
    );
    let e = h.n_embd;
    let layer = |l: u64| {
        let r = layer_spec(g, &h, l);
        match &r {
            Ok(s) => {
                tracing::debug!(target: "parci_core::graph", layer = l, tensors = s.tensors.len(), ops = s.ops.len(), thread = ?std::thread::current().name(), "layer spec")
            }
            Err(e) => {
                tracing::debug!(target: "parci_core::graph", layer = l, error = %e, "layer spec refused")
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
        r
    };
    let kv = |l: u64| {
        let s = kv_spec(&h, l, n_ctx);
        tracing::trace!(target: "parci_core::graph", layer = l, bytes = s.bytes, "kv cache spec");
        done.fetch_add(1, Ordering::Relaxed);
        s
    };
    let (layers, kv_cache): (Vec<LayerSpec>, Vec<KvCacheSpec>) = if parallel {
        let layers = (0..h.n_layer)
            .into_par_iter()
            .map(layer)
            .collect::<Result<Vec<_>, _>>()?;
        (layers, (0..h.n_layer).into_par_iter().map(kv).collect())
    } else {
        let layers = (0..h.n_layer).map(layer).collect::<Result<Vec<_>, _>>()?;
        (layers, (0..h.n_layer).map(kv).collect())
    };
    // Sequential assembly in a fixed order.
    let mut globals = vec![
        spec(g, "token_embd.weight", &[e, h.n_vocab])?,
        spec(g, "output_norm.weight", &[e])?,
    ];
    let tied_output = g.tensor("output.weight").is_none();
    let head = if tied_output {
        "token_embd.weight"
    } else {
        "output.weight"
    };
    if !tied_output {
        globals.push(spec(g, "output.weight", &[e, h.n_vocab])?);
    }
    let last = if h.n_layer == 0 {
        "embd".to_string()
    } else {
        format!("l{}.out", h.n_layer - 1)
    };
    let mut ops = vec![op("embed", &["token_embd.weight", "token"], "embd")];
    for l in &layers {
        ops.extend(l.ops.iter().cloned());
    }
    ops.push(op("rms_norm", &[&last, "output_norm.weight"], "final"));
    ops.push(op("matvec", &[head, "final"], "logits"));
    let plan = ExecutionPlan {
        arch: "llama",
        hparams: h,
        n_ctx,
        globals,
        layers,
        kv_cache,
        ops,
        tied_output,
        unused: Vec::new(),
    };
    let unused = validate(g, &plan)?;
    for t in &unused {
        tracing::warn!(target: "parci_core::graph", tensor = %t, "tensor in the file that no op reads");
    }
    tracing::info!(target: "parci_core::graph", ops = plan.ops.len(), "plan assembled and validated");
    Ok(ExecutionPlan { unused, ..plan })
}

/// Checks every op input is a weight or an earlier output; returns the file
/// tensors no op reads.
fn validate(g: &Gguf, plan: &ExecutionPlan) -> Result<Vec<String>, GraphError> {
    let weights: HashSet<&str> = plan
        .globals
        .iter()
        .chain(plan.layers.iter().flat_map(|l| &l.tensors))
        .map(|t| t.name.as_str())
        .collect();
    let mut values: HashSet<&str> = ["token"].into_iter().collect();
    let mut read: HashSet<&str> = HashSet::new();
    for o in &plan.ops {
        for i in &o.inputs {
            if !weights.contains(i.as_str()) && !values.contains(i.as_str()) {
                return Err(GraphError::Dangling {
                    op: format!("{} -> {}", o.op, o.output),
                    input: i.clone(),
                });
            }
            read.insert(i.as_str());
        }
        values.insert(&o.output);
    }
    Ok(g.tensors()
        .iter()
        .map(|t| t.name)
        .filter(|n| !read.contains(n))
        .map(str::to_string)
        .collect())
}

impl ExecutionPlan {
    /// sha256 of the plan's canonical JSON: equal plans, equal digests.
    pub fn digest(&self) -> String {
        let v = serde_json::to_value(self).expect("plan serializes");
        format!(
            "sha256:{}",
            crate::fsutil::sha256_hex(crate::receipt::canonical::to_string(&v).as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::fixture::{generate, Preset};

    #[test]
    fn parallel_and_sequential_plans_are_identical() {
        let bytes = generate(Preset::Tiny, 0);
        let g = Gguf::parse(&bytes).unwrap();
        let a = build(&g, 128, true).unwrap();
        let b = build(&g, 128, false).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.layers.len(), 2);
        assert_eq!(a.ops.len(), 1 + 2 * 14 + 2);
        assert!(!a.tied_output);
        assert!(a.unused.is_empty());
    }

    #[test]
    fn missing_wrong_shape_and_wrong_type_are_named() {
        use crate::gguf::Writer;
        let bytes = generate(Preset::Tiny, 0);
        let g = Gguf::parse(&bytes).unwrap();
        // rebuild the file without one tensor / with one tensor reshaped or retyped
        let rebuild = |skip: &str, reshape: Option<&str>, retype: Option<&str>| {
            let mut w = Writer::new();
            for kv in g.kvs() {
                w.kv(kv.key, crate::gguf::OwnedValue::from_value(&kv.value))
                    .unwrap();
            }
            for t in g.tensors() {
                if t.name == skip {
                    continue;
                }
                if Some(t.name) == retype {
                    w.tensor(
                        t.name,
                        GgmlType::Q8_K,
                        &[256, t.shape()[1]],
                        vec![0; 292 * t.shape()[1] as usize],
                    )
                    .unwrap();
                    continue;
                }
                let mut shape = t.shape().to_vec();
                if Some(t.name) == reshape {
                    shape.reverse();
                }
                w.tensor(t.name, t.ty, &shape, t.data.to_vec()).unwrap();
            }
            w.to_bytes()
        };
        let b = rebuild("blk.1.ffn_up.weight", None, None);
        let e = build(&Gguf::parse(&b).unwrap(), 64, true).unwrap_err();
        assert_eq!(
            e,
            GraphError::Missing {
                name: "blk.1.ffn_up.weight".into()
            }
        );
        let b = rebuild("", Some("token_embd.weight"), None);
        let e = build(&Gguf::parse(&b).unwrap(), 64, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"token_embd.weight\" has shape [512, 256], expected [256, 512]"),
            "{e}"
        );
        let b = rebuild("", None, Some("blk.0.attn_q.weight"));
        let e = build(&Gguf::parse(&b).unwrap(), 64, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has type Q8_K"), "{e}");
    }
}
