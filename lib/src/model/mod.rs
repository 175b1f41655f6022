//! The llama forward pass over an [`ExecutionPlan`], as llama.cpp computes it:
//! token embedding, RMSNorm, Q/K/V projections, RoPE (llama.cpp's "norm" mode
//! for `llama`: adjacent pairs), grouped-query attention over a KV cache,
//! output projection, SwiGLU FFN, final norm, output head (tied to the token
//! embedding when `output.weight` is absent). Weight matrix-vector products go
//! through the kernel registry ([`MatVec`]); everything else is scalar code in
//! one fixed order, so the logits do not depend on ISA or thread count.

pub mod mathfn;
pub mod smoke;
pub mod workload;

use crate::gguf::{GgmlType, Gguf};
use crate::graph::{ExecutionPlan, Hparams};
use crate::quant::kernels::{Counters, KernelMode, Op};
use crate::quant::matvec::{Activations, MatVec, MatVecError};

/// A weight matrix: `rows` rows of `cols` elements, borrowed from the file.
pub struct Weights<'a> {
    pub ty: GgmlType,
    pub op: Op,
    pub data: &'a [u8],
    pub rows: usize,
    pub cols: usize,
}

struct Layer<'a> {
    attn_norm: Vec<f32>,
    q: Weights<'a>,
    k: Weights<'a>,
    v: Weights<'a>,
    o: Weights<'a>,
    ffn_norm: Vec<f32>,
    gate: Weights<'a>,
    up: Weights<'a>,
    down: Weights<'a>,
}

/// The model's weights, resolved from a plan.
pub struct Model<'a> {
    pub h: Hparams,
    embd: Weights<'a>,
    out_norm: Vec<f32>,
    output: Weights<'a>,
    layers: Vec<Layer<'a>>,
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
}

fn weights<'a>(g: &Gguf<'a>, name: &str) -> Weights<'a> {
    let t = g.tensor(name).expect("the plan validated every tensor");
    Weights {
        ty: t.ty,
        op: Op::for_weights(t.ty).expect("the plan validated the types"),
        data: t.data,
        rows: t.ne[1] as usize,
        cols: t.ne[0] as usize,
    }
}

fn vector(g: &Gguf, name: &str) -> Result<Vec<f32>, ModelError> {
    let t = g.tensor(name).expect("the plan validated every tensor");
    let mut v = Vec::with_capacity(t.n_elements() as usize);
    crate::quant::dequantize(t.ty, t.data, &mut v)
        .map_err(|e| ModelError::Decode(name.into(), e))?;
    Ok(v)
}

impl<'a> Model<'a> {
    pub fn new(g: &Gguf<'a>, plan: &ExecutionPlan) -> Result<Model<'a>, ModelError> {
        let layers = (0..plan.hparams.n_layer)
            .map(|l| {
                let n = |s: &str| format!("blk.{l}.{s}.weight");
                Ok(Layer {
                    attn_norm: vector(g, &n("attn_norm"))?,
                    q: weights(g, &n("attn_q")),
                    k: weights(g, &n("attn_k")),
                    v: weights(g, &n("attn_v")),
                    o: weights(g, &n("attn_output")),
                    ffn_norm: vector(g, &n("ffn_norm"))?,
                    gate: weights(g, &n("ffn_gate")),
                    up: weights(g, &n("ffn_up")),
                    down: weights(g, &n("ffn_down")),
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Model {
            h: plan.hparams.clone(),
            embd: weights(g, "token_embd.weight"),
            out_norm: vector(g, "output_norm.weight")?,
            output: weights(
                g,
                if plan.tied_output {
                    "token_embd.weight"
                } else {
                    "output.weight"
                },
            ),
            layers,
        })
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
/// pos · base^(−2i/n_rot) for i in 0..n_rot/2, as llama.cpp's rope "norm"
/// mode computes theta (scaled step by step in f32). The same for every head
/// and layer, so a forward step computes it once.
pub fn rope_table(n_rot: usize, pos: usize, base: f32, out: &mut Vec<(f32, f32)>) {
    let theta_scale = mathfn::exp(mathfn::ln(base as f64) * (-2.0 / n_rot as f64)) as f32;
    out.clear();
    let mut theta = pos as f32;
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

/// A forward pass runner with its KV cache, kernel choice and counters.
pub struct Engine<'m, 'a> {
    model: &'m Model<'a>,
    mv: MatVec,
    counters: Counters,
    n_ctx: usize,
    pos: usize,
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    act: Activations,
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    tmp: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    scores: Vec<f32>,
    logits: Vec<f32>,
    rope: Vec<(f32, f32)>,
}

impl<'m, 'a> Engine<'m, 'a> {
    pub fn new(
        model: &'m Model<'a>,
        mode: KernelMode,
        threads: usize,
        n_ctx: usize,
    ) -> Result<Self, ModelError> {
        let h = &model.h;
        let (e, kv, ff) = (h.n_embd as usize, h.n_embd_kv() as usize, h.n_ff as usize);
        Ok(Engine {
            model,
            mv: MatVec::new(mode, threads)?,
            counters: Counters::new(),
            n_ctx,
            pos: 0,
            k_cache: (0..h.n_layer).map(|_| vec![0.0; n_ctx * kv]).collect(),
            v_cache: (0..h.n_layer).map(|_| vec![0.0; n_ctx * kv]).collect(),
            act: Activations::default(),
            x: vec![0.0; e],
            xn: vec![0.0; e],
            q: vec![0.0; e],
            k: vec![0.0; kv],
            v: vec![0.0; kv],
            att: vec![0.0; e],
            tmp: vec![0.0; e],
            gate: vec![0.0; ff],
            up: vec![0.0; ff],
            scores: vec![0.0; n_ctx],
            logits: vec![0.0; h.n_vocab as usize],
            rope: Vec::with_capacity(h.n_rot as usize / 2),
        })
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn matvec(&self) -> &MatVec {
        &self.mv
    }
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Runs one token at the next position; returns the logits.
    pub fn forward(&mut self, token: u32) -> Result<&[f32], ModelError> {
        let h = self.model.h.clone();
        if token as u64 >= h.n_vocab {
            return Err(ModelError::Token {
                token,
                n_vocab: h.n_vocab,
            });
        }
        if self.pos >= self.n_ctx {
            return Err(ModelError::ContextFull { n_ctx: self.n_ctx });
        }
        let model = self.model;
        let (hd, n_head, kv_dim) = (
            h.head_dim() as usize,
            h.n_head as usize,
            h.n_embd_kv() as usize,
        );
        let group = n_head / h.n_head_kv as usize;
        // embedding row
        let embd = &model.embd;
        let row_bytes = embd.data.len() / embd.rows;
        self.x.clear();
        let row = &embd.data[token as usize * row_bytes..(token as usize + 1) * row_bytes];
        crate::quant::dequantize(embd.ty, row, &mut self.x)
            .map_err(|e| ModelError::Decode("token_embd.weight".into(), e))?;
        let pos = self.pos;
        rope_table(h.n_rot as usize, pos, h.rope_freq_base, &mut self.rope);
        for (l, layer) in model.layers.iter().enumerate() {
            rms_norm(&self.x, &layer.attn_norm, h.rms_eps, &mut self.xn);
            self.act.prepare(layer.q.op, &self.xn);
            self.mv.matvec(
                layer.q.op,
                layer.q.data,
                &self.act,
                &mut self.q,
                &self.counters,
            );
            for (w, out) in [(&layer.k, &mut self.k), (&layer.v, &mut self.v)] {
                if !self.act.suits(w.op) {
                    self.act.prepare(w.op, &self.xn);
                }
                self.mv.matvec(w.op, w.data, &self.act, out, &self.counters);
            }
            rope(&mut self.q, hd, &self.rope);
            rope(&mut self.k, hd, &self.rope);
            self.k_cache[l][pos * kv_dim..(pos + 1) * kv_dim].copy_from_slice(&self.k);
            self.v_cache[l][pos * kv_dim..(pos + 1) * kv_dim].copy_from_slice(&self.v);
            let scale = 1.0 / (hd as f32).sqrt();
            for head in 0..n_head {
                let kvh = head / group;
                let q = &self.q[head * hd..(head + 1) * hd];
                let scores = &mut self.scores[..=pos];
                for (t, s) in scores.iter_mut().enumerate() {
                    let k = &self.k_cache[l][t * kv_dim + kvh * hd..t * kv_dim + (kvh + 1) * hd];
                    *s = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale;
                }
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f64;
                for s in scores.iter_mut() {
                    *s = mathfn::exp((*s - max) as f64) as f32;
                    sum += *s as f64;
                }
                let inv = (1.0 / sum) as f32;
                let out = &mut self.att[head * hd..(head + 1) * hd];
                out.fill(0.0);
                for (t, &p) in scores.iter().enumerate() {
                    let v = &self.v_cache[l][t * kv_dim + kvh * hd..t * kv_dim + (kvh + 1) * hd];
                    for (o, &vv) in out.iter_mut().zip(v) {
                        *o += (p * inv) * vv;
                    }
                }
            }
            self.act.prepare(layer.o.op, &self.att);
            self.mv.matvec(
                layer.o.op,
                layer.o.data,
                &self.act,
                &mut self.tmp,
                &self.counters,
            );
            for (x, t) in self.x.iter_mut().zip(&self.tmp) {
                *x += t;
            }
            rms_norm(&self.x, &layer.ffn_norm, h.rms_eps, &mut self.xn);
            self.act.prepare(layer.gate.op, &self.xn);
            self.mv.matvec(
                layer.gate.op,
                layer.gate.data,
                &self.act,
                &mut self.gate,
                &self.counters,
            );
            if !self.act.suits(layer.up.op) {
                self.act.prepare(layer.up.op, &self.xn);
            }
            self.mv.matvec(
                layer.up.op,
                layer.up.data,
                &self.act,
                &mut self.up,
                &self.counters,
            );
            for (g, u) in self.gate.iter_mut().zip(&self.up) {
                *g = silu(*g) * u;
            }
            self.act.prepare(layer.down.op, &self.gate);
            self.mv.matvec(
                layer.down.op,
                layer.down.data,
                &self.act,
                &mut self.tmp,
                &self.counters,
            );
            for (x, t) in self.x.iter_mut().zip(&self.tmp) {
                *x += t;
            }
        }
        rms_norm(&self.x, &model.out_norm, h.rms_eps, &mut self.xn);
        self.act.prepare(model.output.op, &self.xn);
        self.mv.matvec(
            model.output.op,
            model.output.data,
            &self.act,
            &mut self.logits,
            &self.counters,
        );
        self.pos += 1;
        Ok(&self.logits)
    }
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
    use super::*;
    use crate::gguf::fixture::{generate as fixture, Preset};

    fn run(mode: KernelMode, threads: usize) -> (Vec<u32>, Vec<u32>, Vec<(String, u64)>) {
        let bytes = fixture(Preset::Tiny, 0);
        let g = Gguf::parse(&bytes).unwrap();
        let plan = crate::graph::build(&g, 64, true).unwrap();
        let model = Model::new(&g, &plan).unwrap();
        let w = workload::Workload {
            prompt: vec![1, 300, 301, 302],
            tokens: 8,
            threads,
            mode,
        };
        let p = workload::run(&model, &w).unwrap();
        assert!(p.last_logits.iter().all(|v| v.is_finite()));
        (
            p.tokens,
            p.last_logits.iter().map(|v| v.to_bits()).collect(),
            p.kernels,
        )
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
