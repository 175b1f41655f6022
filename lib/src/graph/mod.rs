//! The execution plan: per-tensor, per-layer and per-KV-cache specifications
//! built from a GGUF file's metadata and tensor table, following the file's
//! architecture description (`arch.rs`: llama, gemma3).
//!
//! Two phases: layer and KV-cache specs are created independently (in
//! parallel with rayon, each validating its own tensors), then one sequential
//! pass assembles them in a fixed order into an [`ExecutionPlan`] and checks
//! the dependencies (every op input is a weight or an earlier op's output;
//! tensors no op reads are listed in the plan). The parallel and sequential
//! builds give the same plan, byte for byte (its `digest`), for every
//! architecture.

pub mod arch;
pub mod hparams;
pub mod spec;

pub use hparams::{HparamError, Hparams};
pub use spec::{KvCacheSpec, LayerSpec, Op, OpSpec, RopeMode, TensorSpec};

use crate::gguf::{GgmlType, Gguf, KeyError};
use crate::quant::kernels::Op as KernelOp;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutionPlan {
    pub arch: &'static str,
    pub hparams: Hparams,
    pub n_ctx: u64,
    pub globals: Vec<TensorSpec>,
    pub layers: Vec<LayerSpec>,
    pub kv_cache: Vec<KvCacheSpec>,
    /// Every op in execution order (input, then each layer, then the head).
    pub ops: Vec<OpSpec>,
    /// Whether the output head reuses the token embedding (no `output.weight`).
    pub tied_output: bool,
    /// Tensors in the file that no op reads (e.g. llama.cpp's `rope_freqs`):
    /// reported to the user as a warning, never silently dropped.
    pub unused: Vec<String>,
}

/// The weight types parci has kernels for, for error messages.
fn supported_types() -> String {
    let mut types: Vec<GgmlType> = KernelOp::ALL.iter().map(|o| o.weights()).collect();
    types.sort_by_key(|t| t.id());
    types
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("architecture is {0:?}; parci runs {list}", list = arch::SUPPORTED.join(" and "))]
    Arch(String),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Hparam(#[from] HparamError),
    #[error("tensor {name:?} is missing; a {arch} model with these hyper-parameters needs it")]
    Missing { name: String, arch: &'static str },
    #[error("tensor {name:?} has shape {got:?}, expected {want:?} from the metadata")]
    Shape {
        name: String,
        want: Vec<u64>,
        got: Vec<u64>,
    },
    #[error("tensor {name:?} has type {ty}; parci's kernels support {list}", list = supported_types())]
    Type { name: String, ty: GgmlType },
    #[error("op {op} reads {input:?}, which is neither a weight nor the output of an earlier op")]
    Dangling { op: String, input: String },
}

/// The file's architecture, if parci has a description of it.
pub fn architecture(g: &Gguf) -> Result<&'static str, GraphError> {
    let name = g.get_str("general.architecture")?;
    arch::SUPPORTED
        .into_iter()
        .find(|&a| a == name)
        .ok_or_else(|| GraphError::Arch(name.into()))
}

/// Reads the hyper-parameters of the file's architecture.
pub fn hparams(g: &Gguf) -> Result<Hparams, GraphError> {
    Ok(arch::hparams(g, architecture(g)?)?)
}

fn spec(g: &Gguf, arch: &'static str, name: &str, want: &[u64]) -> Result<TensorSpec, GraphError> {
    let t = g.tensor(name).ok_or_else(|| GraphError::Missing {
        name: name.into(),
        arch,
    })?;
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

/// One layer's spec, validating its tensors.
pub fn layer_spec(g: &Gguf, h: &Hparams, l: u64) -> Result<LayerSpec, GraphError> {
    let d = arch::layer(h, l);
    let tensors = d
        .tensors
        .iter()
        .map(|(name, shape)| spec(g, h.arch, name, shape))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LayerSpec {
        index: l,
        tensors,
        ops: d.ops,
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
        arch = h.arch,
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
        spec(g, h.arch, "token_embd.weight", &[e, h.n_vocab])?,
        spec(g, h.arch, "output_norm.weight", &[e])?,
    ];
    let tied_output = g.tensor("output.weight").is_none();
    let head = if tied_output {
        "token_embd.weight"
    } else {
        "output.weight"
    };
    if !tied_output {
        globals.push(spec(g, h.arch, "output.weight", &[e, h.n_vocab])?);
    }
    let last = if h.n_layer == 0 {
        "embd".to_string()
    } else {
        format!("l{}.out", h.n_layer - 1)
    };
    let mut ops = arch::input_ops(&h);
    for l in &layers {
        ops.extend(l.ops.iter().cloned());
    }
    ops.extend(arch::output_ops(&h, &last, head));
    let plan = ExecutionPlan {
        arch: h.arch,
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
                    op: format!("{} -> {}", o.op.name(), o.output),
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
        assert_eq!(a.ops.len(), 1 + 2 * 15 + 2);
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
                name: "blk.1.ffn_up.weight".into(),
                arch: "llama"
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

    /// Rebuilds `bytes` with key `key` set to `value` (None: removed).
    fn with_key(bytes: &[u8], key: &str, value: Option<crate::gguf::OwnedValue>) -> Vec<u8> {
        use crate::gguf::{OwnedValue, Writer};
        let g = Gguf::parse(bytes).unwrap();
        let mut w = Writer::new();
        for kv in g.kvs() {
            if kv.key != key {
                w.kv(kv.key, OwnedValue::from_value(&kv.value)).unwrap();
            }
        }
        if let Some(v) = value {
            w.kv(key, v).unwrap();
        }
        for t in g.tensors() {
            w.tensor(t.name, t.ty, t.shape(), t.data.to_vec()).unwrap();
        }
        w.to_bytes()
    }

    #[test]
    fn gemma3_plan_is_the_same_built_in_parallel_or_in_sequence() {
        let bytes = crate::gguf::fixture::generate_gemma3(0);
        let g = Gguf::parse(&bytes).unwrap();
        let a = build(&g, 64, true).unwrap();
        let b = build(&g, 64, false).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.arch, "gemma3");
        assert!(a.tied_output && a.unused.is_empty(), "{:?}", a.unused);
        // 2 input ops, 20 per layer, 2 output ops
        assert_eq!(a.ops.len(), 2 + 7 * 20 + 2);
        // layers 0-4 and 6 slide over 4 positions with the local RoPE base,
        // layer 5 is global with the file's base
        let attn: Vec<(Option<u64>, f32)> = a
            .layers
            .iter()
            .map(|l| {
                let window = l.ops.iter().find_map(|o| match o.op {
                    Op::Attention { window, .. } => Some(window),
                    _ => None,
                });
                let base = l.ops.iter().find_map(|o| match o.op {
                    Op::Rope { base, mode, .. } => {
                        assert_eq!(mode, RopeMode::Neox);
                        Some(base)
                    }
                    _ => None,
                });
                (window.unwrap(), base.unwrap())
            })
            .collect();
        let (s, gl) = ((Some(4), 10_000.0), (None, 1_000_000.0));
        assert_eq!(attn, vec![s, s, s, s, s, gl, s]);
        // the digest covers the op parameters: another window, another plan
        let other = with_key(
            &bytes,
            "gemma3.attention.sliding_window",
            Some(crate::gguf::OwnedValue::U32(8)),
        );
        let c = build(&Gguf::parse(&other).unwrap(), 64, true).unwrap();
        assert_ne!(c.digest(), a.digest());
    }

    #[test]
    fn unknown_missing_and_unsupported_metadata_are_named() {
        use crate::gguf::OwnedValue;
        let bytes = crate::gguf::fixture::generate_gemma3(0);
        let err = |b: &[u8]| {
            build(&Gguf::parse(b).unwrap(), 8, true)
                .unwrap_err()
                .to_string()
        };
        let e = err(&with_key(
            &bytes,
            "gemma3.attention.logit_softcapping",
            Some(OwnedValue::F32(50.0)),
        ));
        assert!(
            e.contains("\"gemma3.attention.logit_softcapping\" is not one parci's gemma3 reads"),
            "{e}"
        );
        let e = err(&with_key(
            &bytes,
            "gemma3.attention.layer_norm_rms_epsilon",
            None,
        ));
        assert!(
            e.contains("\"gemma3.attention.layer_norm_rms_epsilon\" is missing"),
            "{e}"
        );
        let e = err(&with_key(
            &bytes,
            "gemma3.rope.scaling.type",
            Some(OwnedValue::Str("yarn".into())),
        ));
        assert!(e.contains("\"none\" and \"linear\" only"), "{e}");
        let e = err(&with_key(
            &bytes,
            "general.architecture",
            Some(OwnedValue::Str("qwen2".into())),
        ));
        assert_eq!(e, "architecture is \"qwen2\"; parci runs llama and gemma3");
    }
}
