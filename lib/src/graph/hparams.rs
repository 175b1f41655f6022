//! Hyper-parameters, read from a GGUF file's metadata as llama.cpp reads them.
//! Keys live under the architecture's prefix (`llama.embedding_length`,
//! `gemma3.attention.sliding_window`); which ones an architecture reads, and
//! its defaults, come from its description (`arch.rs`). A key under the prefix
//! that the description does not know is refused: it may change what the
//! model computes, and computing something else silently is the one thing a
//! gate must not do.

use crate::gguf::{Gguf, KeyError, Value};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hparams {
    pub arch: &'static str,
    pub n_vocab: u64,
    pub n_ctx_train: u64,
    pub n_embd: u64,
    pub n_layer: u64,
    pub n_ff: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    /// Per-head width of Q and K (`attention.key_length`; n_embd / n_head
    /// when absent). Gemma 3 270M has 4 heads of 256 over a 640-wide stream.
    pub head_dim: u64,
    pub n_rot: u64,
    pub rms_eps: f32,
    pub rope_freq_base: f32,
    /// Linear RoPE scaling of the global layers (1 / `rope.scaling.factor`).
    pub rope_freq_scale: f32,
    /// Sliding-window attention: the window (0: none), the layer pattern
    /// (layer l slides when l % pattern < pattern − 1) and the sliding layers'
    /// RoPE base.
    pub n_swa: u64,
    pub swa_pattern: u64,
    pub rope_freq_base_swa: f32,
    /// `final_logit_softcapping` (0: none).
    pub logit_softcap: f32,
}

impl Hparams {
    pub fn head_dim(&self) -> u64 {
        self.head_dim
    }
    pub fn n_embd_q(&self) -> u64 {
        self.head_dim * self.n_head
    }
    pub fn n_embd_kv(&self) -> u64 {
        self.head_dim * self.n_head_kv
    }
    /// Whether layer `l` uses sliding-window attention.
    pub fn is_swa(&self, l: u64) -> bool {
        self.n_swa > 0 && l % self.swa_pattern < self.swa_pattern - 1
    }
}

/// Why the metadata does not describe a model parci can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HparamError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("metadata key {key:?} is not one parci's {arch} reads, and it may change what the model computes; parci knows {known}")]
    UnknownKey {
        key: String,
        arch: &'static str,
        known: String,
    },
    #[error("metadata key {key:?} = {value}: {why}")]
    Value {
        key: String,
        value: String,
        why: &'static str,
    },
    #[error("hyper-parameters do not fit: {0}")]
    Shape(String),
}

/// Typed access to `<arch>.<suffix>` keys, each suffix checked against the
/// architecture's list.
pub(crate) struct Keys<'g, 'a> {
    pub g: &'g Gguf<'a>,
    pub arch: &'static str,
}

impl Keys<'_, '_> {
    fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }
    pub fn u32(&self, suffix: &str) -> Result<u64, HparamError> {
        Ok(self.g.get_u32(&self.key(suffix))? as u64)
    }
    pub fn u32_or(&self, suffix: &str, default: u64) -> Result<u64, HparamError> {
        match self.g.get_u32(&self.key(suffix)) {
            Err(KeyError::Missing(_)) => Ok(default),
            r => Ok(r? as u64),
        }
    }
    pub fn f32(&self, suffix: &str) -> Result<f32, HparamError> {
        Ok(self.g.get_f32(&self.key(suffix))?)
    }
    pub fn f32_or(&self, suffix: &str, default: f32) -> Result<f32, HparamError> {
        match self.g.get_f32(&self.key(suffix)) {
            Err(KeyError::Missing(_)) => Ok(default),
            r => Ok(r?),
        }
    }
    pub fn str_or(&self, suffix: &str, default: &'static str) -> Result<String, HparamError> {
        match self.g.get_str(&self.key(suffix)) {
            Err(KeyError::Missing(_)) => Ok(default.into()),
            r => Ok(r?.to_string()),
        }
    }
    /// Refuses any `<arch>.` key not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), HparamError> {
        let prefix = format!("{}.", self.arch);
        for kv in self.g.kvs() {
            if let Some(suffix) = kv.key.strip_prefix(&prefix) {
                if !known.contains(&suffix) {
                    return Err(HparamError::UnknownKey {
                        key: kv.key.to_string(),
                        arch: self.arch,
                        known: known.join(", "),
                    });
                }
            }
        }
        Ok(())
    }
    /// The vocabulary size: `<arch>.vocab_size`, else the token list's length.
    pub fn n_vocab(&self) -> Result<u64, HparamError> {
        match self.g.get_u32(&self.key("vocab_size")) {
            Ok(v) => Ok(v as u64),
            Err(KeyError::Missing(_)) => Ok(self.g.get_array("tokenizer.ggml.tokens")?.len),
            Err(e) => Err(e.into()),
        }
    }
    /// Whether the key is present with a value other than `Value::Array`
    /// (for error messages about array forms parci does not read).
    pub fn is_array(&self, suffix: &str) -> bool {
        self.g
            .kvs()
            .iter()
            .any(|kv| kv.key == self.key(suffix) && matches!(kv.value, Value::Array(_)))
    }
}

/// The keys every architecture here shares, read with llama.cpp's defaults.
pub(crate) fn common(k: &Keys) -> Result<Hparams, HparamError> {
    let n_embd = k.u32("embedding_length")?;
    let n_head = k.u32("attention.head_count")?;
    let n_head_kv = k.u32_or("attention.head_count_kv", n_head)?;
    let head_dim = k.u32_or("attention.key_length", n_embd / n_head.max(1))?;
    let value_length = k.u32_or("attention.value_length", head_dim)?;
    if value_length != head_dim {
        return Err(HparamError::Value {
            key: k.key("attention.value_length"),
            value: value_length.to_string(),
            why: "parci needs value heads as wide as key heads (attention.key_length)",
        });
    }
    let rope_freq_scale = match k.str_or("rope.scaling.type", "none")?.as_str() {
        "none" => 1.0,
        "linear" => 1.0 / k.f32_or("rope.scaling.factor", 1.0)?,
        other => {
            return Err(HparamError::Value {
                key: k.key("rope.scaling.type"),
                value: format!("{other:?}"),
                why: "parci implements RoPE scaling \"none\" and \"linear\" only",
            })
        }
    };
    Ok(Hparams {
        arch: k.arch,
        n_vocab: k.n_vocab()?,
        n_ctx_train: k.u32("context_length")?,
        n_embd,
        n_layer: k.u32("block_count")?,
        n_ff: k.u32("feed_forward_length")?,
        n_head,
        n_head_kv,
        head_dim,
        n_rot: k.u32_or("rope.dimension_count", head_dim)?,
        rms_eps: k.f32("attention.layer_norm_rms_epsilon")?,
        rope_freq_base: k.f32_or("rope.freq_base", 10000.0)?,
        rope_freq_scale,
        n_swa: 0,
        swa_pattern: 1,
        rope_freq_base_swa: 10000.0,
        logit_softcap: 0.0,
    })
}

/// Checks the shapes every description relies on.
pub(crate) fn check(h: &Hparams) -> Result<(), HparamError> {
    if h.n_head == 0
        || h.n_head_kv == 0
        || h.head_dim == 0
        || !h.n_head.is_multiple_of(h.n_head_kv)
        || h.n_rot > h.head_dim
        || !h.n_rot.is_multiple_of(2)
        || h.swa_pattern == 0
    {
        return Err(HparamError::Shape(format!(
            "n_embd {} / n_head {} / n_head_kv {} / head_dim {} / n_rot {} / sliding window pattern {}",
            h.n_embd, h.n_head, h.n_head_kv, h.head_dim, h.n_rot, h.swa_pattern
        )));
    }
    Ok(())
}
