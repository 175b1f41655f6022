//! The forward pass over an [`ExecutionPlan`], for any architecture the
//! plan describes (llama, gemma3; `graph::arch`). [`Model`] resolves the
//! plan's ops once into steps over numbered value slots, weight matrices and
//! norm vectors; [`Engine`] executes the steps for one token at a time with
//! its KV cache. Weight matrix-vector products go through the kernel registry
//! ([`MatVec`]); everything else is scalar code in one fixed order, so the
//! logits do not depend on ISA or thread count.

mod engine;
pub mod mathfn;
pub mod smoke;
pub mod workload;

pub use engine::Engine;

use crate::gguf::{GgmlType, Gguf};
use crate::graph::{ExecutionPlan, Hparams, Op as GraphOp};
use crate::quant::kernels::Op;
use crate::quant::matvec::MatVecError;
use std::collections::HashMap;

/// A weight matrix: `rows` rows of `cols` elements, borrowed from the file.
pub struct Weights<'a> {
    pub name: String,
    pub ty: GgmlType,
    pub op: Op,
    pub data: &'a [u8],
    pub rows: usize,
    pub cols: usize,
}

/// What a step reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    /// A value computed earlier in this forward pass.
    Value(usize),
    /// A weight matrix (index into `Model::matrices`).
    Matrix(usize),
    /// A 1-D weight, dequantized at load (index into `Model::vectors`).
    Vector(usize),
    /// The token id being run.
    Token,
}

/// One op of the plan, resolved.
#[derive(Clone, Debug)]
struct Step {
    op: GraphOp,
    args: Vec<Arg>,
    out: usize,
    /// Whether a later position depends on this step (it writes the KV
    /// cache, or feeds a step that does). The others (the last layer's tail,
    /// the final norm, the output head) only make this position's logits,
    /// which a prompt token before the last does not need.
    state: bool,
}

/// The model's weights and the plan's ops resolved into steps.
pub struct Model<'a> {
    pub h: Hparams,
    matrices: Vec<Weights<'a>>,
    vectors: Vec<Vec<f32>>,
    steps: Vec<Step>,
    /// Length of each value slot.
    slot_len: Vec<usize>,
    /// The slot holding the logits.
    logits: usize,
    n_kv_layers: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("token id {token} is outside the vocabulary (0..{n_vocab})")]
    Token { token: u32, n_vocab: u64 },
    #[error("context is full: {n_ctx} positions")]
    ContextFull { n_ctx: usize },
    #[error(transparent)]
    MatVec(#[from] MatVecError),
    #[error("tensor {0:?}: {1}")]
    Decode(String, crate::quant::DecodeError),
    #[error("the plan's op {op} -> {output} cannot run: {why}")]
    Plan {
        op: &'static str,
        output: String,
        why: String,
    },
}

/// Resolves names to slots, matrices and vectors while walking the plan.
struct Resolver<'g, 'a> {
    g: &'g Gguf<'a>,
    matrices: Vec<Weights<'a>>,
    matrix_ix: HashMap<String, usize>,
    vectors: Vec<Vec<f32>>,
    vector_ix: HashMap<String, usize>,
    slots: HashMap<String, usize>,
    slot_len: Vec<usize>,
}

impl<'a> Resolver<'_, 'a> {
    fn matrix(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.matrix_ix.get(name) {
            return Some(i);
        }
        let t = self.g.tensor(name)?;
        let i = self.matrices.len();
        self.matrices.push(Weights {
            name: name.into(),
            ty: t.ty,
            op: Op::for_weights(t.ty)?,
            data: t.data,
            rows: t.ne[1] as usize,
            cols: t.ne[0] as usize,
        });
        self.matrix_ix.insert(name.into(), i);
        Some(i)
    }
    fn vector(&mut self, name: &str) -> Result<Option<usize>, ModelError> {
        if let Some(&i) = self.vector_ix.get(name) {
            return Ok(Some(i));
        }
        let Some(t) = self.g.tensor(name) else {
            return Ok(None);
        };
        let mut v = Vec::with_capacity(t.n_elements() as usize);
        crate::quant::dequantize(t.ty, t.data, &mut v)
            .map_err(|e| ModelError::Decode(name.into(), e))?;
        let i = self.vectors.len();
        self.vectors.push(v);
        self.vector_ix.insert(name.into(), i);
        Ok(Some(i))
    }
}

impl<'a> Model<'a> {
    pub fn new(g: &Gguf<'a>, plan: &ExecutionPlan) -> Result<Model<'a>, ModelError> {
        let mut r = Resolver {
            g,
            matrices: Vec::new(),
            matrix_ix: HashMap::new(),
            vectors: Vec::new(),
            vector_ix: HashMap::new(),
            slots: HashMap::new(),
            slot_len: Vec::new(),
        };
        let mut steps = Vec::with_capacity(plan.ops.len());
        for o in &plan.ops {
            let bad = |why: String| ModelError::Plan {
                op: o.op.name(),
                output: o.output.clone(),
                why,
            };
            // which inputs are matrices, vectors or values, by op and position
            let mut args = Vec::with_capacity(o.inputs.len());
            for (pos, name) in o.inputs.iter().enumerate() {
                let arg = match (&o.op, pos) {
                    (_, _) if name == "token" => Arg::Token,
                    (GraphOp::Embed, 0) | (GraphOp::MatVec, 0) => Arg::Matrix(
                        r.matrix(name)
                            .ok_or_else(|| bad(format!("{name:?} is not a weight matrix")))?,
                    ),
                    (GraphOp::RmsNorm { .. } | GraphOp::HeadRmsNorm { .. }, 1) => Arg::Vector(
                        r.vector(name)?
                            .ok_or_else(|| bad(format!("{name:?} is not a tensor")))?,
                    ),
                    _ => Arg::Value(
                        *r.slots
                            .get(name.as_str())
                            .ok_or_else(|| bad(format!("{name:?} is not computed before")))?,
                    ),
                };
                args.push(arg);
            }
            let len_of = |a: &Arg| match *a {
                Arg::Value(s) => r.slot_len[s],
                Arg::Vector(v) => r.vectors[v].len(),
                Arg::Matrix(m) => r.matrices[m].rows,
                Arg::Token => 1,
            };
            let len = match &o.op {
                GraphOp::Embed => match args.first() {
                    Some(Arg::Matrix(m)) => r.matrices[*m].cols,
                    _ => return Err(bad("embed reads a table".into())),
                },
                GraphOp::MatVec => match args.as_slice() {
                    [Arg::Matrix(m), x] if r.matrices[*m].cols == len_of(x) => r.matrices[*m].rows,
                    _ => {
                        return Err(bad(
                            "matvec reads a matrix and a vector of its row length".into()
                        ))
                    }
                },
                GraphOp::Attention {
                    n_head, head_dim, ..
                } => (n_head * head_dim) as usize,
                _ => args.first().map(len_of).unwrap_or(0),
            };
            let out = r.slot_len.len();
            r.slot_len.push(len);
            if r.slots.insert(o.output.clone(), out).is_some() {
                return Err(bad("the value is written twice".into()));
            }
            steps.push(Step {
                op: o.op.clone(),
                args,
                out,
                state: false,
            });
        }
        // Slots are written once, so one backward pass finds the steps
        // whose values reach a KV-cache write.
        let mut needed = vec![false; r.slot_len.len()];
        for st in steps.iter_mut().rev() {
            st.state = matches!(st.op, GraphOp::Attention { .. }) || needed[st.out];
            if st.state {
                for a in &st.args {
                    if let Arg::Value(v) = a {
                        needed[*v] = true;
                    }
                }
            }
        }
        let logits = *r.slots.get("logits").ok_or_else(|| ModelError::Plan {
            op: "plan",
            output: "logits".into(),
            why: "no op writes the logits".into(),
        })?;
        Ok(Model {
            h: plan.hparams.clone(),
            matrices: r.matrices,
            vectors: r.vectors,
            steps,
            slot_len: r.slot_len,
            logits,
            n_kv_layers: plan.kv_cache.len(),
        })
    }

    /// The weight matrices the plan's matrix-vector products read.
    pub fn matrices(&self) -> &[Weights<'a>] {
        &self.matrices
    }
}

// The element-wise steps take their operands as slice arguments, which the
// compiler knows do not overlap. Written inline over the engine's buffers
// (a `Vec` field and an output `Vec`), the vectorized loop carries a
// run-time overlap check whose outcome, and so the instructions the step
// runs, depends on where the allocator happened to put the two buffers:
// perf-smoke's instruction count must not (parci_core::bench::callgrind).

/// `out[i] = x[i] · f`.
pub fn scale(x: &[f32], f: f32, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v * f;
    }
}

/// `out[i] = a[i] + b[i]`.
pub fn add(a: &[f32], b: &[f32], out: &mut [f32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

/// `out = [x[i] − m as f64]` (replacing what it held).
pub fn minus_as_f64(x: &[f32], m: f32, out: &mut Vec<f64>) {
    map_to_f64(x, out, |v| (v - m) as f64);
}

/// `out = [f(x[i])]` (replacing what it held). Filling a `Vec` with
/// `extend` over another buffer vectorizes behind a run-time overlap check
/// (the `Vec`'s buffer is a pointer loaded from it, not a slice argument),
/// so the element-wise write goes through [`map_into`]'s slice instead.
fn map_to_f64(x: &[f32], out: &mut Vec<f64>, f: impl Fn(f32) -> f64) {
    out.resize(x.len(), 0.0);
    map_into(x, out, f);
}

/// `out[i] = f(x[i])`.
fn map_into(x: &[f32], out: &mut [f64], f: impl Fn(f32) -> f64) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// `acc[i] += a · x[i]`.
pub fn mul_add(acc: &mut [f32], a: f32, x: &[f32]) {
    for (o, &v) in acc.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// `x / sqrt(mean(x²) + eps) * w`, the sum in f64 as ggml does.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = (v * scale) * g;
    }
}

/// The rotation of each pair at one position: `(sin, cos)` of
/// pos · freq_scale · base^(−2i/n_rot) for i in 0..n_rot/2 (linear scaling:
/// freq_scale = 1 / factor), as llama.cpp's rope "norm"
/// mode computes theta (scaled step by step in f32). The same for every head
/// and layer, so a forward step computes it once.
pub fn rope_table(n_rot: usize, pos: usize, base: f32, freq_scale: f32, out: &mut Vec<(f32, f32)>) {
    let theta_scale = mathfn::exp(mathfn::ln(base as f64) * (-2.0 / n_rot as f64)) as f32;
    out.clear();
    let mut theta = pos as f32 * freq_scale;
    for _ in (0..n_rot).step_by(2) {
        let (s, c) = mathfn::sin_cos(theta as f64);
        out.push((s as f32, c as f32));
        theta *= theta_scale;
    }
}

/// llama.cpp's rope "norm" mode: rotate adjacent pairs of the first `n_rot`
/// dimensions of each head by the angles of [`rope_table`].
pub fn rope(x: &mut [f32], head_dim: usize, table: &[(f32, f32)]) {
    for head in x.chunks_exact_mut(head_dim) {
        for (pair, &(s, c)) in head.chunks_exact_mut(2).zip(table) {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * c - b * s;
            pair[1] = a * s + b * c;
        }
    }
}

/// `x · σ(x)`.
pub fn silu(x: f32) -> f32 {
    let x = x as f64;
    (x / (1.0 + mathfn::exp(-x))) as f32
}

/// `out[i] = silu(g[i]) · u[i]`, the bits of [`silu`], its exponentials
/// computed together ([`mathfn::exp_in_place`]) in `scratch`.
pub fn swiglu(g: &[f32], u: &[f32], out: &mut [f32], scratch: &mut Vec<f64>) {
    map_to_f64(g, scratch, |x| -(x as f64));
    mathfn::exp_in_place(scratch);
    for (((o, &x), &u), &e) in out.iter_mut().zip(g).zip(u).zip(scratch.iter()) {
        *o = ((x as f64 / (1.0 + e)) as f32) * u;
    }
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

/// The argument of [`gelu`]'s tanh.
fn gelu_z(x: f64) -> f64 {
    SQRT_2_OVER_PI * x * (1.0 + 0.044715 * x * x)
}

/// `out[i] = gelu(g[i]) · u[i]`, the bits of [`gelu`] (and of
/// [`mathfn::tanh`] inside it), its exponentials computed together.
pub fn geglu(g: &[f32], u: &[f32], out: &mut [f32], scratch: &mut Vec<f64>) {
    map_to_f64(g, scratch, |x| 2.0 * gelu_z(x as f64).abs());
    mathfn::exp_in_place(scratch);
    for (((o, &x), &u), &e) in out.iter_mut().zip(g).zip(u).zip(scratch.iter()) {
        let x = x as f64;
        let t = mathfn::tanh_from_exp(gelu_z(x), e);
        *o = ((0.5 * x * (1.0 + t)) as f32) * u;
    }
}

/// RMS norm of each `head_dim` slice of `x`, with the same weight.
pub fn head_rms_norm(x: &[f32], w: &[f32], eps: f32, head_dim: usize, out: &mut [f32]) {
    for (xh, oh) in x.chunks_exact(head_dim).zip(out.chunks_exact_mut(head_dim)) {
        rms_norm(xh, w, eps, oh);
    }
}

/// llama.cpp's rope "neox" mode: rotate pairs (i, i + n_rot/2) of the first
/// `n_rot` dimensions of each head by the angles of [`rope_table`].
pub fn rope_neox(x: &mut [f32], head_dim: usize, table: &[(f32, f32)]) {
    let half = table.len();
    for head in x.chunks_exact_mut(head_dim) {
        for (i, &(s, c)) in table.iter().enumerate() {
            let (a, b) = (head[i], head[i + half]);
            head[i] = a * c - b * s;
            head[i + half] = a * s + b * c;
        }
    }
}

/// GELU in its tanh form, as ggml's `gelu`: 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))).
pub fn gelu(x: f32) -> f32 {
    let x = x as f64;
    (0.5 * x * (1.0 + mathfn::tanh(gelu_z(x)))) as f32
}

/// The index of the largest logit (the first on ties): greedy decoding.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    /// The slice GLUs (exponentials computed together) are the scalar
    /// functions' bits, over every alignment and across the ±700 edge.
    #[test]
    fn glu_slices_are_the_scalar_functions() {
        let mut g: Vec<f32> = (-3000..3000).map(|i| i as f32 * 0.0137).collect();
        g.extend([0.0, -0.0, 400.0, -400.0, 800.0, -800.0, 1e6, -1e6, f32::NAN]);
        let u: Vec<f32> = (0..g.len()).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let mut scratch = Vec::new();
        for shift in 0..4 {
            let (g, u) = (&g[shift..], &u[shift..]);
            let mut out = vec![0f32; g.len()];
            super::swiglu(g, u, &mut out, &mut scratch);
            for ((&x, &u), &o) in g.iter().zip(u).zip(&out) {
                let want = super::silu(x) * u;
                assert!(
                    want.to_bits() == o.to_bits() || (want.is_nan() && o.is_nan()),
                    "silu {x}"
                );
            }
            super::geglu(g, u, &mut out, &mut scratch);
            for ((&x, &u), &o) in g.iter().zip(u).zip(&out) {
                let want = super::gelu(x) * u;
                assert!(
                    want.to_bits() == o.to_bits() || (want.is_nan() && o.is_nan()),
                    "gelu {x}"
                );
            }
        }
    }

    use super::*;
    use crate::gguf::fixture::{generate as fixture, Preset};
    use crate::quant::kernels::KernelMode;

    fn run(mode: KernelMode, threads: usize) -> (Vec<u32>, Vec<u32>, Vec<(String, u64)>) {
        run_on(&fixture(Preset::Tiny, 0), mode, threads)
    }

    fn run_on(
        bytes: &[u8],
        mode: KernelMode,
        threads: usize,
    ) -> (Vec<u32>, Vec<u32>, Vec<(String, u64)>) {
        let g = Gguf::parse(bytes).unwrap();
        let plan = crate::graph::build(&g, 64, true).unwrap();
        let model = Model::new(&g, &plan).unwrap();
        let w = workload::Workload {
            prompt: vec![1, 300, 301, 302],
            tokens: 8,
            threads,
            mode,
            stop: vec![],
        };
        let p = workload::run(&model, &w).unwrap();
        assert!(p.last_logits.iter().all(|v| v.is_finite()));
        (
            p.tokens,
            p.last_logits.iter().map(|v| v.to_bits()).collect(),
            p.kernels,
        )
    }

    /// Feeding a prompt token skips the steps that only make its logits
    /// (the output head among them), and every later logit is the same bits
    /// as after a full forward.
    #[test]
    fn feeding_skips_the_head_and_changes_no_later_logit() {
        let bytes = fixture(Preset::Tiny, 0);
        let g = Gguf::parse(&bytes).unwrap();
        let plan = crate::graph::build(&g, 64, true).unwrap();
        let model = Model::new(&g, &plan).unwrap();
        let rows = |e: &Engine| -> u64 { e.counters().snapshot().iter().map(|(_, n)| n).sum() };
        let (mut full, mut fed) = (
            Engine::new(&model, KernelMode::Auto, 1, 16).unwrap(),
            Engine::new(&model, KernelMode::Auto, 1, 16).unwrap(),
        );
        for t in [1, 300, 301] {
            full.forward(t).unwrap();
            fed.feed(t).unwrap();
        }
        let vocab = model.h.n_vocab;
        assert!(
            rows(&full) - rows(&fed) >= 3 * vocab,
            "the head's {vocab} rows per token still ran"
        );
        for t in [302, 7, 8] {
            let a: Vec<u32> = full
                .forward(t)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            let b: Vec<u32> = fed
                .forward(t)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(a, b);
        }
    }

    /// A prompt fed as one batch leaves the same KV cache as token by
    /// token: every later logit is the same bits, on 1 and 2 threads.
    #[test]
    fn a_batch_feeds_the_same_bits_as_single_tokens() {
        let bytes = fixture(Preset::Tiny, 0);
        let g = Gguf::parse(&bytes).unwrap();
        let plan = crate::graph::build(&g, 64, true).unwrap();
        let model = Model::new(&g, &plan).unwrap();
        let prompt = [1, 300, 301, 302, 5, 6, 7, 8, 9, 10, 11];
        for (mode, threads) in [
            (KernelMode::Auto, 1),
            (KernelMode::Auto, 2),
            (KernelMode::Scalar, 2),
        ] {
            let mut one = Engine::new(&model, mode, threads, 32).unwrap();
            let mut batch = Engine::new(&model, mode, threads, 32).unwrap();
            for &t in &prompt {
                one.feed(t).unwrap();
            }
            batch.feed_batch(&prompt[..4]).unwrap();
            batch.feed_batch(&prompt[4..]).unwrap();
            assert_eq!(batch.pos(), prompt.len());
            for t in [12, 13, 14] {
                let a: Vec<u32> = one
                    .forward(t)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                let b: Vec<u32> = batch
                    .forward(t)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                assert_eq!(a, b, "{mode:?} on {threads} threads");
            }
        }
    }

    #[test]
    fn same_tokens_and_logits_for_every_kernel_mode_and_thread_count() {
        let (t0, l0, k0) = run(KernelMode::Scalar, 1);
        assert_eq!(t0.len(), 8);
        assert!(
            k0.iter().any(|(id, _)| id == "tq2_0_dot_q8k_scalar"),
            "{k0:?}"
        );
        for (mode, threads) in [
            (KernelMode::Auto, 1),
            (KernelMode::Auto, 2),
            (KernelMode::Avx2, 2),
            (KernelMode::Avx512, 1),
        ] {
            if mode.resolve().is_err() {
                continue;
            }
            let (t, l, _) = run(mode, threads);
            assert_eq!(t, t0, "{mode:?} x{threads}");
            assert!(l == l0, "{mode:?} x{threads}: logits differ");
        }
    }

    #[test]
    fn gemma3_gives_the_same_bits_for_every_kernel_mode_and_thread_count() {
        let bytes = crate::gguf::fixture::generate_gemma3(0);
        // 12 positions: past the 4-position window of the sliding layers
        let (t0, l0, k0) = run_on(&bytes, KernelMode::Scalar, 1);
        assert!(
            k0.iter().any(|(id, _)| id == "q8_0_dot_q8_0_scalar"),
            "{k0:?}"
        );
        for (mode, threads) in [
            (KernelMode::Auto, 1),
            (KernelMode::Auto, 2),
            (KernelMode::Avx2, 2),
            (KernelMode::Avx512, 1),
        ] {
            if mode.resolve().is_err() {
                continue;
            }
            let (t, l, _) = run_on(&bytes, mode, threads);
            assert_eq!(t, t0, "{mode:?} x{threads}");
            assert!(l == l0, "{mode:?} x{threads}: logits differ");
        }
    }

    #[test]
    fn sliding_window_changes_what_a_late_position_sees() {
        // The same tokens through a window of 4 and of 64: equal while every
        // position is inside both windows, different after.
        use crate::gguf::{OwnedValue, Writer};
        let bytes = crate::gguf::fixture::generate_gemma3(0);
        let g = Gguf::parse(&bytes).unwrap();
        let mut w = Writer::new();
        for kv in g.kvs() {
            let v = if kv.key == "gemma3.attention.sliding_window" {
                OwnedValue::U32(64)
            } else {
                OwnedValue::from_value(&kv.value)
            };
            w.kv(kv.key, v).unwrap();
        }
        for t in g.tensors() {
            w.tensor(t.name, t.ty, t.shape(), t.data.to_vec()).unwrap();
        }
        let wide = w.to_bytes();
        let logits = |b: &[u8]| -> Vec<Vec<f32>> {
            let g = Gguf::parse(b).unwrap();
            let plan = crate::graph::build(&g, 8, false).unwrap();
            let model = Model::new(&g, &plan).unwrap();
            let mut e = Engine::new(&model, KernelMode::Scalar, 1, 8).unwrap();
            [5u32, 9, 77, 120, 3, 200, 41, 8]
                .iter()
                .map(|&t| e.forward(t).unwrap().to_vec())
                .collect()
        };
        let (a, b) = (logits(&bytes), logits(&wide));
        assert_eq!(a[..4], b[..4]);
        assert_ne!(a[4..], b[4..]);
    }

    #[test]
    fn token_outside_vocabulary_is_an_error() {
        let bytes = fixture(Preset::Tiny, 0);
        let g = Gguf::parse(&bytes).unwrap();
        let plan = crate::graph::build(&g, 8, false).unwrap();
        let model = Model::new(&g, &plan).unwrap();
        let mut e = Engine::new(&model, KernelMode::Scalar, 1, 8).unwrap();
        assert!(matches!(
            e.forward(512),
            Err(ModelError::Token { token: 512, .. })
        ));
    }
}
