//! parity's live reference: llama.cpp in this process through the
//! `llama-cpp-2` crate (the `llama-cpp` feature). It tokenizes the text with
//! llama.cpp's own tokenizer (as `llama_tokenize(add_special=true,
//! parse_special=true)`), decodes every position with logits, and continues
//! greedily when asked. Its defaults are llama.cpp's (F16 KV cache, CPU).
//! The text goes in as one batch (as a prompt is prefilled, and as
//! llama-perplexity scores), or one token per decode (as generation runs):
//! the two orders are themselves a measure of llama.cpp's rounding noise.

use anyhow::{anyhow, Context};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{params::LlamaModelParams, LlamaModel};
use parci_core::parity::metrics::{argmax, RefPosition};
use parci_core::parity::reference::Reference;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;

/// The engine and version a reference names.
pub const ENGINE: &str = "llama.cpp via llama-cpp-2 0.1.160 (llama-cpp-sys-2 0.1.161)";

fn backend() -> anyhow::Result<&'static LlamaBackend> {
    static B: OnceLock<LlamaBackend> = OnceLock::new();
    if let Some(b) = B.get() {
        return Ok(b);
    }
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
    let b = LlamaBackend::init().map_err(|e| anyhow!("llama.cpp: cannot start: {e}"))?;
    Ok(B.get_or_init(|| b))
}

/// llama.cpp's run over `text`: full logits at every position (at most
/// `positions`), then `greedy` tokens decoded greedily after the text.
pub fn reference(
    model_path: &Path,
    text: &str,
    model_sha256: &str,
    positions: Option<usize>,
    greedy: usize,
    sequential: bool,
) -> anyhow::Result<Reference> {
    let shown = model_path.display();
    let backend = backend()?;
    let model = LlamaModel::load_from_file(backend, model_path, &LlamaModelParams::default())
        .map_err(|e| anyhow!("{shown}: llama.cpp cannot load it: {e}"))?;
    let vocab = model.vocab();
    let ids: Vec<u32> = vocab
        .tokenize(text.as_bytes(), true, true)
        .into_iter()
        .map(|t| t.0 as u32)
        .collect();
    let n = ids.len();
    let n_ctx = (n + greedy + 1) as u32;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    let cp = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n.max(1) as u32)
        .with_n_ubatch(n.clamp(1, 512) as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = model
        .new_context(backend, cp)
        .map_err(|e| anyhow!("{shown}: llama.cpp cannot make a context: {e}"))?;
    let token = |t: u32| llama_cpp_2::token::LlamaToken(t as i32);
    let mut batch = LlamaBatch::new(n.max(1), 1);
    let keep = positions.unwrap_or(n).min(n);
    let mut positions = Vec::with_capacity(keep);
    if sequential {
        // As generation runs: one token per decode, logits of that token.
        for (i, &t) in ids.iter().enumerate() {
            batch.clear();
            batch
                .add(token(t), i as i32, &[0], true)
                .context("llama.cpp batch")?;
            ctx.decode(&mut batch)
                .map_err(|e| anyhow!("{shown}: llama.cpp decode failed: {e}"))?;
            if i < keep {
                positions.push(RefPosition::from_logits(ctx.get_logits_ith(0), 0));
            }
        }
    } else {
        // As a prompt is prefilled (and as llama-perplexity scores): one batch.
        for (i, &t) in ids.iter().enumerate() {
            batch
                .add(token(t), i as i32, &[0], true)
                .context("llama.cpp batch")?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| anyhow!("{shown}: llama.cpp decode failed: {e}"))?;
        positions
            .extend((0..keep).map(|i| RefPosition::from_logits(ctx.get_logits_ith(i as i32), 0)));
    }
    let last = if sequential { 0 } else { n as i32 - 1 };
    let greedy = if greedy == 0 {
        None
    } else {
        let mut out = Vec::with_capacity(greedy);
        let mut next = argmax(ctx.get_logits_ith(last));
        for k in 0..greedy {
            out.push(next);
            batch.clear();
            batch
                .add(token(next), (n + k) as i32, &[0], true)
                .context("llama.cpp batch")?;
            ctx.decode(&mut batch)
                .map_err(|e| anyhow!("{shown}: llama.cpp decode failed: {e}"))?;
            next = argmax(ctx.get_logits_ith(0));
        }
        Some(out)
    };
    Ok(Reference {
        engine: format!(
            "{ENGINE}, {}",
            if sequential {
                "one token per decode"
            } else {
                "the text in one batch"
            }
        ),
        model_sha256: model_sha256.to_string(),
        text: text.to_string(),
        ids,
        positions,
        greedy,
    })
}
