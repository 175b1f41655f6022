//! Executes a [`Model`]'s steps, one token at a time, with a KV cache per
//! attention layer. One generic loop serves every architecture: what runs is
//! what the plan says.

use super::{
    geglu, head_rms_norm, mathfn, rms_norm, rope, rope_neox, rope_table, swiglu, Arg, Model,
    ModelError,
};
use crate::graph::{Op as GraphOp, RopeMode};
use crate::quant::kernels::{Counters, KernelMode};
use crate::quant::matvec::{Activations, MatVec};

/// RoPE angles for one (n_rot, base, freq_scale), valid at `pos`.
struct RopeCache {
    key: (u64, u32, u32),
    pos: usize,
    table: Vec<(f32, f32)>,
}

/// A forward pass runner with its KV cache, kernel choice and counters.
pub struct Engine<'m, 'a> {
    model: &'m Model<'a>,
    mv: MatVec,
    counters: Counters,
    n_ctx: usize,
    pos: usize,
    /// Per layer: K transposed, `[channel][position]` (n_embd_kv × n_ctx).
    k_cache: Vec<Vec<f32>>,
    /// Per layer: V, `[position][channel]`.
    v_cache: Vec<Vec<f32>>,
    act: Activations,
    /// The value slot `act` was prepared from in this pass, if any.
    act_from: Option<usize>,
    slots: Vec<Vec<f32>>,
    scores: Vec<f32>,
    /// Exponentials computed together (softmax, SiLU, GELU).
    exps: Vec<f64>,
    ropes: Vec<RopeCache>,
}

impl<'m, 'a> Engine<'m, 'a> {
    pub fn new(
        model: &'m Model<'a>,
        mode: KernelMode,
        threads: usize,
        n_ctx: usize,
    ) -> Result<Self, ModelError> {
        let kv = model.h.n_embd_kv() as usize;
        Ok(Engine {
            model,
            mv: MatVec::new(mode, threads)?,
            counters: Counters::new(),
            n_ctx,
            pos: 0,
            k_cache: (0..model.n_kv_layers)
                .map(|_| vec![0.0; n_ctx * kv])
                .collect(),
            v_cache: (0..model.n_kv_layers)
                .map(|_| vec![0.0; n_ctx * kv])
                .collect(),
            act: Activations::default(),
            act_from: None,
            slots: model.slot_len.iter().map(|&n| vec![0.0; n]).collect(),
            scores: vec![0.0; n_ctx],
            exps: Vec::new(),
            ropes: Vec::new(),
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
        self.step(token, false)?;
        Ok(&self.slots[self.model.logits])
    }

    /// Reads one token at the next position without computing its logits:
    /// only the steps a later position depends on run (a prompt's tokens
    /// before the last). The KV cache, and so every later logit, is the
    /// same bits as after [`Engine::forward`].
    pub fn feed(&mut self, token: u32) -> Result<(), ModelError> {
        self.step(token, true)
    }

    /// Reads a run of prompt tokens at the next positions without computing
    /// their logits, as one batch: every matrix is read once for all of them
    /// ([`MatVec::matmat`]) instead of once per token; the other ops run per
    /// token in position order (attention at position p sees 0..=p). The KV
    /// cache ends the same bits as after feeding the tokens one by one.
    pub fn feed_batch(&mut self, tokens: &[u32]) -> Result<(), ModelError> {
        let model = self.model;
        if let Some(&t) = tokens.iter().find(|&&t| t as u64 >= model.h.n_vocab) {
            return Err(ModelError::Token {
                token: t,
                n_vocab: model.h.n_vocab,
            });
        }
        if self.pos + tokens.len() > self.n_ctx {
            return Err(ModelError::ContextFull { n_ctx: self.n_ctx });
        }
        let state: Vec<&super::Step> = model.steps.iter().filter(|st| st.state).collect();
        // One slot table per token, holding only what the state steps write.
        let mut tables: Vec<Vec<Vec<f32>>> = (0..tokens.len())
            .map(|_| {
                let mut t = vec![Vec::new(); model.slot_len.len()];
                for st in &state {
                    t[st.out] = vec![0.0; model.slot_len[st.out]];
                }
                t
            })
            .collect();
        let mut acts = vec![Activations::default(); tokens.len()];
        let mut acts_from = None;
        let pos0 = self.pos;
        let mut result = Ok(());
        'steps: for st in &state {
            if let (GraphOp::MatVec, [Arg::Matrix(m), Arg::Value(x)]) = (&st.op, st.args.as_slice())
            {
                let w = &model.matrices[*m];
                if acts_from != Some(*x) || !acts[0].suits(w.op) {
                    for (a, t) in acts.iter_mut().zip(&tables) {
                        a.prepare(w.op, &t[*x]);
                    }
                    acts_from = Some(*x);
                }
                let mut outs: Vec<&mut [f32]> = tables
                    .iter_mut()
                    .map(|t| t[st.out].as_mut_slice())
                    .collect();
                self.mv
                    .matmat(w.op, w.data, &acts, &mut outs, &self.counters);
                continue;
            }
            for (b, table) in tables.iter_mut().enumerate() {
                self.pos = pos0 + b;
                std::mem::swap(&mut self.slots, table);
                let mut out = std::mem::take(&mut self.slots[st.out]);
                let r = self.run(&st.op, &st.args, tokens[b], &mut out);
                self.slots[st.out] = out;
                std::mem::swap(&mut self.slots, table);
                if r.is_err() {
                    result = r;
                    break 'steps;
                }
            }
        }
        self.act_from = None;
        self.pos = pos0 + tokens.len();
        result
    }

    fn step(&mut self, token: u32, state_only: bool) -> Result<(), ModelError> {
        let model = self.model;
        if token as u64 >= model.h.n_vocab {
            return Err(ModelError::Token {
                token,
                n_vocab: model.h.n_vocab,
            });
        }
        if self.pos >= self.n_ctx {
            return Err(ModelError::ContextFull { n_ctx: self.n_ctx });
        }
        self.act_from = None;
        for step in model.steps.iter().filter(|st| st.state || !state_only) {
            // The output slot leaves the table while the step reads the others.
            let mut out = std::mem::take(&mut self.slots[step.out]);
            self.run(&step.op, &step.args, token, &mut out)?;
            self.slots[step.out] = out;
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&self, a: Arg) -> &[f32] {
        match a {
            Arg::Value(s) => &self.slots[s],
            Arg::Vector(v) => &self.model.vectors[v],
            Arg::Matrix(_) | Arg::Token => unreachable!("resolved as a value"),
        }
    }

    fn run(
        &mut self,
        op: &GraphOp,
        args: &[Arg],
        token: u32,
        out: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        let model = self.model;
        match *op {
            GraphOp::Embed => {
                let Arg::Matrix(m) = args[0] else {
                    unreachable!()
                };
                let w = &model.matrices[m];
                let row_bytes = w.data.len() / w.rows;
                let t = token as usize;
                out.clear();
                crate::quant::dequantize(w.ty, &w.data[t * row_bytes..(t + 1) * row_bytes], out)
                    .map_err(|e| ModelError::Decode(w.name.clone(), e))?;
            }
            GraphOp::Scale { factor } => super::scale(self.value(args[0]), factor, out),
            GraphOp::Softcap { cap } => {
                for (o, &x) in out.iter_mut().zip(self.value(args[0])) {
                    *o = (cap as f64 * mathfn::tanh((x / cap) as f64)) as f32;
                }
            }
            GraphOp::RmsNorm { eps } => {
                rms_norm(self.value(args[0]), self.value(args[1]), eps, out)
            }
            GraphOp::HeadRmsNorm { eps, head_dim } => head_rms_norm(
                self.value(args[0]),
                self.value(args[1]),
                eps,
                head_dim as usize,
                out,
            ),
            GraphOp::MatVec => {
                let (Arg::Matrix(m), Arg::Value(x)) = (args[0], args[1]) else {
                    unreachable!()
                };
                let w = &model.matrices[m];
                if self.act_from != Some(x) || !self.act.suits(w.op) {
                    self.act.prepare(w.op, &self.slots[x]);
                    self.act_from = Some(x);
                }
                self.mv.matvec(w.op, w.data, &self.act, out, &self.counters);
            }
            GraphOp::Rope {
                mode,
                n_rot,
                head_dim,
                base,
                freq_scale,
            } => {
                out.copy_from_slice(self.value(args[0]));
                let table = self.rope_table(n_rot, base, freq_scale);
                match mode {
                    RopeMode::Norm => rope(out, head_dim as usize, table),
                    RopeMode::Neox => rope_neox(out, head_dim as usize, table),
                }
            }
            GraphOp::Attention {
                layer,
                n_head,
                n_head_kv,
                head_dim,
                scale,
                window,
            } => {
                let (q, k, v) = (args[0], args[1], args[2]);
                let (hd, kv_dim) = (head_dim as usize, (n_head_kv * head_dim) as usize);
                let (l, pos) = (layer as usize, self.pos);
                let row = pos * kv_dim..(pos + 1) * kv_dim;
                let (mut kc, mut vc) = (
                    std::mem::take(&mut self.k_cache[l]),
                    std::mem::take(&mut self.v_cache[l]),
                );
                // K is kept transposed, [channel][position]: a head's scores
                // for every position are then one pass over its channels,
                // each position's lane still summed over d in order.
                let n_ctx = self.n_ctx;
                for (c, &x) in self.value(k).iter().enumerate() {
                    kc[c * n_ctx + pos] = x;
                }
                vc[row].copy_from_slice(self.value(v));
                // llama.cpp's standard SWA masks t when pos − t >= window
                let first = window.map_or(0, |w| (pos + 1).saturating_sub(w as usize));
                let group = (n_head / n_head_kv) as usize;
                let Arg::Value(q) = q else { unreachable!() };
                let q = &self.slots[q];
                for head in 0..n_head as usize {
                    let kvh = head / group;
                    let qh = &q[head * hd..(head + 1) * hd];
                    let scores = &mut self.scores[first..=pos];
                    // score_t = (Σ_d q_d·k_td, folded from −0 in d order) · scale:
                    // the bits of a per-position dot product, all positions
                    // of one d at a time (vectorized across positions).
                    scores.fill(-0.0);
                    for (d, &qd) in qh.iter().enumerate() {
                        let c = (kvh * hd + d) * n_ctx;
                        super::mul_add(scores, qd, &kc[c + first..=c + pos]);
                    }
                    for s in scores.iter_mut() {
                        *s *= scale;
                    }
                    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    super::minus_as_f64(scores, max, &mut self.exps);
                    mathfn::exp_in_place(&mut self.exps);
                    let mut sum = 0f64;
                    for (s, &e) in scores.iter_mut().zip(&self.exps) {
                        *s = e as f32;
                        sum += *s as f64;
                    }
                    let inv = (1.0 / sum) as f32;
                    let o = &mut out[head * hd..(head + 1) * hd];
                    o.fill(0.0);
                    for (i, &p) in scores.iter().enumerate() {
                        let t = first + i;
                        let vt = &vc[t * kv_dim + kvh * hd..t * kv_dim + (kvh + 1) * hd];
                        super::mul_add(o, p * inv, vt);
                    }
                }
                self.k_cache[l] = kc;
                self.v_cache[l] = vc;
            }
            GraphOp::Add => super::add(self.value(args[0]), self.value(args[1]), out),
            GraphOp::SwiGlu | GraphOp::GeGlu => {
                let f = if matches!(op, GraphOp::SwiGlu) {
                    swiglu
                } else {
                    geglu
                };
                let (Arg::Value(g), Arg::Value(u)) = (args[0], args[1]) else {
                    unreachable!()
                };
                f(&self.slots[g], &self.slots[u], out, &mut self.exps);
            }
        }
        Ok(())
    }

    /// The RoPE angles at the current position for one parameter set,
    /// computed once per position (gemma3 has two sets: sliding and global).
    fn rope_table(&mut self, n_rot: u64, base: f32, freq_scale: f32) -> &[(f32, f32)] {
        let key = (n_rot, base.to_bits(), freq_scale.to_bits());
        let i = match self.ropes.iter().position(|r| r.key == key) {
            Some(i) => i,
            None => {
                self.ropes.push(RopeCache {
                    key,
                    pos: usize::MAX,
                    table: Vec::with_capacity(n_rot as usize / 2),
                });
                self.ropes.len() - 1
            }
        };
        let r = &mut self.ropes[i];
        if r.pos != self.pos {
            rope_table(n_rot as usize, self.pos, base, freq_scale, &mut r.table);
            r.pos = self.pos;
        }
        &self.ropes[i].table
    }
}
