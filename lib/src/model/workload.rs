//! The perf-smoke workload: prefill a prompt, decode greedily, time every
//! step. Shared by `perf-smoke` (measures it), `verify-receipt --replay`
//! (re-runs it) and `flamegraph` (profiles it).

use super::{argmax, Engine, Model, ModelError};
use crate::gguf::fixture::SplitMix64;
use crate::quant::kernels::KernelMode;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub prompt: Vec<u32>,
    /// Tokens to decode after the prompt, at most.
    pub tokens: usize,
    pub threads: usize,
    pub mode: KernelMode,
    /// Decoding ends early when it predicts one of these (the tokenizer's
    /// end-of-generation set with `--stop-at-eog`; empty: never).
    pub stop: Vec<u32>,
}

/// `n` prompt token ids drawn from `[0, n_vocab)` by SplitMix64(seed): the
/// same prompt for the same seed on every host.
pub fn prompt(n_vocab: u64, seed: u64, n: usize) -> Vec<u32> {
    let mut r = SplitMix64::new(seed ^ 0x7072_6f6d_7074); // "prompt"
    (0..n)
        .map(|_| (r.next_u64() % n_vocab.max(1)) as u32)
        .collect()
}

/// One run of a [`Workload`] on a fresh KV cache.
#[derive(Clone, Debug)]
pub struct Pass {
    /// The decoded ids (the first is predicted by the prompt's last step).
    pub tokens: Vec<u32>,
    /// Logits of the last decode step.
    pub last_logits: Vec<f32>,
    /// Kernel id → rows computed, for this pass.
    pub kernels: Vec<(String, u64)>,
    pub prefill: Duration,
    /// Wall time of each decode step.
    pub per_token: Vec<Duration>,
    /// Of the decode time, how much was spent inside matrix-vector kernels.
    pub decode_matvec: Duration,
    /// The stop token that ended decoding before `tokens` steps, if one did
    /// (it is predicted, not decoded: not in `tokens`).
    pub stopped_by: Option<u32>,
}

impl Pass {
    pub fn decode(&self) -> Duration {
        self.per_token.iter().sum()
    }
    /// sha256 of the token ids (u32 LE) followed by the last logits (f32 LE).
    pub fn output_digest(&self) -> String {
        output_digest(&self.tokens, &self.last_logits)
    }
}

pub fn output_digest(tokens: &[u32], logits: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(4 * (tokens.len() + logits.len()));
    for t in tokens {
        bytes.extend_from_slice(&t.to_le_bytes());
    }
    for l in logits {
        bytes.extend_from_slice(&l.to_le_bytes());
    }
    format!("sha256:{}", crate::fsutil::sha256_hex(&bytes))
}

/// Context length a workload needs.
pub fn n_ctx(w: &Workload) -> usize {
    w.prompt.len() + w.tokens
}

/// Prompt tokens fed per batch (llama.cpp's default micro-batch is 512; the
/// activations of 64 tokens of these models stay within L2).
pub const PREFILL_BATCH: usize = 64;

/// Runs `w` once on a fresh engine: prefill, then `w.tokens` greedy steps.
pub fn run(model: &Model, w: &Workload) -> Result<Pass, ModelError> {
    let mut e = Engine::new(model, w.mode, w.threads, n_ctx(w).max(1))?;
    let t0 = Instant::now();
    let next = measured_prefill(&mut e, &w.prompt)?;
    let prefill = t0.elapsed();
    let busy0 = e.matvec().busy();
    let d = measured_decode(&mut e, w, next)?;
    let decode_matvec = e.matvec().busy() - busy0;
    Ok(Pass {
        tokens: d.tokens,
        last_logits: d.last_logits,
        kernels: e.counters().snapshot(),
        prefill,
        per_token: d.per_token,
        decode_matvec,
        stopped_by: d.stopped_by,
    })
}

/// What the decode steps of a pass produced.
struct Decoded {
    tokens: Vec<u32>,
    per_token: Vec<Duration>,
    last_logits: Vec<f32>,
    stopped_by: Option<u32>,
}

/// The prompt through a fresh engine; returns the token it predicts. Only
/// the last prompt token's logits are read; the others go in batches, each
/// weight matrix read once per batch.
///
/// Never inlined, and named in [`PREFILL_MARKER`]: `perf-smoke --measure
/// instructions` has callgrind count instructions inside this call only.
#[inline(never)]
fn measured_prefill(e: &mut Engine, prompt: &[u32]) -> Result<u32, ModelError> {
    let Some((&last, head)) = prompt.split_last() else {
        return Ok(0);
    };
    for batch in head.chunks(PREFILL_BATCH) {
        e.feed_batch(batch)?;
    }
    Ok(argmax(e.forward(last)?))
}

/// The greedy decode steps from `next` on (never inlined, for
/// [`DECODE_MARKER`]).
#[inline(never)]
fn measured_decode(e: &mut Engine, w: &Workload, mut next: u32) -> Result<Decoded, ModelError> {
    let mut d = Decoded {
        tokens: Vec::with_capacity(w.tokens),
        per_token: Vec::with_capacity(w.tokens),
        last_logits: Vec::new(),
        stopped_by: None,
    };
    for i in 0..w.tokens {
        if w.stop.contains(&next) {
            d.stopped_by = Some(next);
            break;
        }
        d.tokens.push(next);
        let t = Instant::now();
        let logits = e.forward(next)?;
        next = argmax(logits);
        d.per_token.push(t.elapsed());
        if i + 1 == w.tokens || w.stop.contains(&next) {
            d.last_logits = logits.to_vec();
        }
    }
    Ok(d)
}

/// callgrind `--toggle-collect` patterns of the two measured phases (the
/// symbols' demangled names, with a wildcard for the hash).
pub const PREFILL_MARKER: &str = "parci_core::model::workload::measured_prefill*";
pub const DECODE_MARKER: &str = "parci_core::model::workload::measured_decode*";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::fixture::{generate, Preset};
    use crate::gguf::Gguf;

    #[test]
    fn passes_repeat_exactly_and_time_every_step() {
        let bytes = generate(Preset::Tiny, 0);
        let g = Gguf::parse(&bytes).unwrap();
        let plan = crate::graph::build(&g, 16, false).unwrap();
        let model = Model::new(&g, &plan).unwrap();
        let w = Workload {
            prompt: prompt(plan.hparams.n_vocab, 0, 3),
            tokens: 5,
            threads: 1,
            mode: KernelMode::Auto,
            stop: vec![],
        };
        assert!(w.prompt.iter().all(|&t| (t as u64) < plan.hparams.n_vocab));
        let a = run(&model, &w).unwrap();
        let b = run(&model, &w).unwrap();
        assert_eq!(a.tokens.len(), 5);
        assert_eq!(a.per_token.len(), 5);
        assert_eq!(a.tokens, b.tokens);
        assert_eq!(a.output_digest(), b.output_digest());
        assert_eq!(a.kernels, b.kernels);
        assert!(a.decode_matvec <= a.decode());
        assert_ne!(prompt(512, 0, 8), prompt(512, 1, 8));
        // the digest covers the logits, not only the ids
        let mut l = a.last_logits.clone();
        l[0] = f32::from_bits(l[0].to_bits() ^ 1);
        assert_ne!(output_digest(&a.tokens, &l), a.output_digest());
        assert_eq!(a.stopped_by, None);
        // Stopping at the third decoded token keeps the two before it.
        let stop = Workload {
            stop: vec![a.tokens[2]],
            ..w.clone()
        };
        let s = run(&model, &stop).unwrap();
        let first = a.tokens.iter().position(|&t| t == a.tokens[2]).unwrap();
        assert_eq!(s.tokens, a.tokens[..first]);
        assert_eq!(s.per_token.len(), first);
        assert_eq!(s.stopped_by, Some(a.tokens[2]));
    }
}
