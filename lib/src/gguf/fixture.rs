//! Deterministic `llama` fixture models, generated from (preset, seed).
//!
//! The PRNG is SplitMix64 (Steele, Lea & Flood 2014): each tensor draws from
//! its own stream seeded with `seed ^ fnv1a64(name)`, so a tensor's bytes do not
//! depend on generation order. Only integer operations and IEEE-exact f32
//! arithmetic are used, so every machine produces the same bytes.
//!
//! Types: linear weights TQ2_0 (ternary values times a per-block scale, as a
//! BitNet model has), norms F32, token embedding and output head Q8_0. Q8_0
//! rather than F16 for the latter: half the bytes, and its dot product with
//! Q8_0 activations accumulates exactly in integers, so every kernel path gives
//! the same logits.

use super::types::GgmlType;
use super::writer::{OwnedValue, Writer};
use super::ValueType;
use crate::quant::{q8_0, tq2_0};

/// Named model sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// ~1.4 M parameters, < 1 MB: for tests.
    Tiny,
    /// ~58 M parameters: the perf-smoke default.
    Small,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
        }
    }
    pub fn from_name(s: &str) -> Option<Preset> {
        match s {
            "tiny" => Some(Preset::Tiny),
            "small" => Some(Preset::Small),
            _ => None,
        }
    }
    pub fn config(self) -> Config {
        match self {
            Preset::Tiny => Config {
                vocab: 512,
                n_embd: 256,
                n_ff: 512,
                n_layer: 2,
                n_head: 4,
                n_head_kv: 2,
                n_ctx: 256,
            },
            Preset::Small => Config {
                vocab: 32000,
                n_embd: 512,
                n_ff: 1536,
                n_layer: 8,
                n_head: 8,
                n_head_kv: 4,
                n_ctx: 2048,
            },
        }
    }
}

/// Hyper-parameters of a fixture model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub vocab: u64,
    pub n_embd: u64,
    pub n_ff: u64,
    pub n_layer: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub n_ctx: u64,
}

pub const RMS_EPS: f32 = 1e-5;
pub const ROPE_FREQ_BASE: f32 = 10000.0;
/// llama.cpp's LLAMA_FTYPE_MOSTLY_TQ2_0.
pub const FILE_TYPE_TQ2_0: u32 = 37;

impl Config {
    pub fn head_dim(&self) -> u64 {
        self.n_embd / self.n_head
    }
    pub fn n_embd_kv(&self) -> u64 {
        self.head_dim() * self.n_head_kv
    }
    /// Parameters in all tensors.
    pub fn parameters(&self) -> u64 {
        let e = self.n_embd;
        let layer = e + e * e * 2 + e * self.n_embd_kv() * 2 + e + 3 * e * self.n_ff;
        2 * self.vocab * e + e + self.n_layer * layer
    }
}

/// SplitMix64.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 24 bits: exact in f32.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32
    }
}

fn fnv1a64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn stream(seed: u64, name: &str) -> SplitMix64 {
    SplitMix64::new(seed ^ fnv1a64(name))
}

/// Ternary weights, per-256-block scale chosen so a row's dot product with a
/// unit-variance input has variance near 1.
fn ternary(seed: u64, name: &str, n_in: u64, n_out: u64) -> Vec<u8> {
    let mut r = stream(seed, name);
    // sqrt(1.5 / n_in), computed in f64 and rounded once: exact and portable.
    let base = (1.5f64 / n_in as f64).sqrt() as f32;
    let mut x = vec![0f32; (n_in * n_out) as usize];
    for blk in x.chunks_exact_mut(tq2_0::BLOCK) {
        let d = (0.75 + 0.5 * r.unit()) * base;
        for v in blk.iter_mut() {
            *v = [-d, 0.0, d][(r.next_u64() % 3) as usize];
        }
    }
    let mut out = Vec::with_capacity(x.len() / tq2_0::BLOCK * tq2_0::BYTES);
    tq2_0::quantize(&x, &mut out);
    out
}

fn q8(seed: u64, name: &str, n: u64, scale: f32) -> Vec<u8> {
    let mut r = stream(seed, name);
    let x: Vec<f32> = (0..n).map(|_| (2.0 * r.unit() - 1.0) * scale).collect();
    let mut out = Vec::with_capacity(x.len() / q8_0::BLOCK * q8_0::BYTES);
    q8_0::quantize(&x, &mut out);
    out
}

fn norm(seed: u64, name: &str, n: u64) -> Vec<u8> {
    let mut r = stream(seed, name);
    (0..n)
        .flat_map(|_| (0.9 + 0.2 * r.unit()).to_le_bytes())
        .collect()
}

/// Bijective base-26 spelling of `i` in lower-case letters.
fn letters(mut i: u64) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ascii")
}

/// The vocabulary: `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then
/// distinct word pieces. Returns (tokens, scores, token types).
fn vocab(n: u64) -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    let mut i = 0;
    while (tokens.len() as u64) < n {
        tokens.push(if i % 2 == 0 {
            format!("\u{2581}{}", letters(i / 2))
        } else {
            letters(i / 2)
        });
        types.push(1);
        i += 1;
    }
    let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
    (tokens, scores, types)
}

/// Builds the fixture model's GGUF file.
pub fn generate(preset: Preset, seed: u64) -> Vec<u8> {
    let c = preset.config();
    let mut w = Writer::new();
    let u32v = |v: u64| OwnedValue::U32(v as u32);
    let (tokens, scores, types) = vocab(c.vocab);
    let kvs = [
        ("general.architecture", OwnedValue::Str("llama".into())),
        (
            "general.name",
            OwnedValue::Str(format!("parci-fixture-{}-seed{seed}", preset.name())),
        ),
        ("general.file_type", OwnedValue::U32(FILE_TYPE_TQ2_0)),
        ("general.quantization_version", OwnedValue::U32(2)),
        ("llama.vocab_size", u32v(c.vocab)),
        ("llama.context_length", u32v(c.n_ctx)),
        ("llama.embedding_length", u32v(c.n_embd)),
        ("llama.block_count", u32v(c.n_layer)),
        ("llama.feed_forward_length", u32v(c.n_ff)),
        ("llama.rope.dimension_count", u32v(c.head_dim())),
        ("llama.rope.freq_base", OwnedValue::F32(ROPE_FREQ_BASE)),
        ("llama.attention.head_count", u32v(c.n_head)),
        ("llama.attention.head_count_kv", u32v(c.n_head_kv)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            OwnedValue::F32(RMS_EPS),
        ),
        ("tokenizer.ggml.model", OwnedValue::Str("llama".into())),
        ("tokenizer.ggml.tokens", OwnedValue::strings(tokens)),
        (
            "tokenizer.ggml.scores",
            OwnedValue::Array(
                ValueType::F32,
                scores.into_iter().map(OwnedValue::F32).collect(),
            ),
        ),
        (
            "tokenizer.ggml.token_type",
            OwnedValue::Array(
                ValueType::I32,
                types.into_iter().map(OwnedValue::I32).collect(),
            ),
        ),
        ("tokenizer.ggml.unknown_token_id", OwnedValue::U32(0)),
        ("tokenizer.ggml.bos_token_id", OwnedValue::U32(1)),
        ("tokenizer.ggml.eos_token_id", OwnedValue::U32(2)),
        ("tokenizer.ggml.add_bos_token", OwnedValue::Bool(true)),
        ("tokenizer.ggml.add_eos_token", OwnedValue::Bool(false)),
    ];
    for (k, v) in kvs {
        w.kv(k, v).expect("fixture keys are distinct");
    }
    let (e, ekv, ff, v) = (c.n_embd, c.n_embd_kv(), c.n_ff, c.vocab);
    let add = |w: &mut Writer, name: &str, ty: GgmlType, dims: &[u64], data: Vec<u8>| {
        w.tensor(name, ty, dims, data)
            .expect("fixture tensors are consistent");
    };
    add(
        &mut w,
        "token_embd.weight",
        GgmlType::Q8_0,
        &[e, v],
        q8(seed, "token_embd.weight", e * v, 1.0),
    );
    for l in 0..c.n_layer {
        let n = |s: &str| format!("blk.{l}.{s}.weight");
        add(
            &mut w,
            &n("attn_norm"),
            GgmlType::F32,
            &[e],
            norm(seed, &n("attn_norm"), e),
        );
        add(
            &mut w,
            &n("attn_q"),
            GgmlType::TQ2_0,
            &[e, e],
            ternary(seed, &n("attn_q"), e, e),
        );
        add(
            &mut w,
            &n("attn_k"),
            GgmlType::TQ2_0,
            &[e, ekv],
            ternary(seed, &n("attn_k"), e, ekv),
        );
        add(
            &mut w,
            &n("attn_v"),
            GgmlType::TQ2_0,
            &[e, ekv],
            ternary(seed, &n("attn_v"), e, ekv),
        );
        add(
            &mut w,
            &n("attn_output"),
            GgmlType::TQ2_0,
            &[e, e],
            ternary(seed, &n("attn_output"), e, e),
        );
        add(
            &mut w,
            &n("ffn_norm"),
            GgmlType::F32,
            &[e],
            norm(seed, &n("ffn_norm"), e),
        );
        add(
            &mut w,
            &n("ffn_gate"),
            GgmlType::TQ2_0,
            &[e, ff],
            ternary(seed, &n("ffn_gate"), e, ff),
        );
        add(
            &mut w,
            &n("ffn_up"),
            GgmlType::TQ2_0,
            &[e, ff],
            ternary(seed, &n("ffn_up"), e, ff),
        );
        add(
            &mut w,
            &n("ffn_down"),
            GgmlType::TQ2_0,
            &[ff, e],
            ternary(seed, &n("ffn_down"), ff, e),
        );
    }
    add(
        &mut w,
        "output_norm.weight",
        GgmlType::F32,
        &[e],
        norm(seed, "output_norm.weight", e),
    );
    let out_scale = (3.0f64 / e as f64).sqrt() as f32;
    add(
        &mut w,
        "output.weight",
        GgmlType::Q8_0,
        &[e, v],
        q8(seed, "output.weight", e * v, out_scale),
    );
    w.to_bytes()
}

/// The default seed of the fixture presets.
pub const DEFAULT_SEED: u64 = 0;

/// sha256 of the fixture files for the default seed. The same on every machine
/// and build profile; a test regenerates both and compares.
pub const PINNED: &[(Preset, u64, &str)] = &[
    (
        Preset::Tiny,
        DEFAULT_SEED,
        "fcfd790035f4b81112a3d5cfe30f82c228d8b40a9b8ada1fef5ce4e2202ce04d",
    ),
    (
        Preset::Small,
        DEFAULT_SEED,
        "b265221d2614f6080175597ee492d3cc894f07a9c90094fae5085f21a88a68bc",
    ),
];

/// A tiny `gemma3` model for tests of that architecture's description and
/// forward pass (no model download needed): 7 layers, so both sliding
/// (0–4, 6) and global (5) layers run; a window of 4 positions, so masking
/// matters within a few tokens; 4 query heads of 32 over a 64-wide stream (Q
/// is wider than the stream, as in Gemma 3 270M), 1 KV head; Q8_0 matrices,
/// F32 norms, tied output head. Deterministic like [`generate`].
pub fn generate_gemma3(seed: u64) -> Vec<u8> {
    let (e, hd, n_head, ff, n_layer, n_vocab) = (64u64, 32u64, 4u64, 128u64, 7u64, 320u64);
    let (q, kv) = (hd * n_head, hd);
    let mut w = Writer::new();
    let u32v = |v: u64| OwnedValue::U32(v as u32);
    let (tokens, _, _) = vocab(n_vocab);
    let kvs = [
        ("general.architecture", OwnedValue::Str("gemma3".into())),
        (
            "general.name",
            OwnedValue::Str(format!("parci-fixture-gemma3-seed{seed}")),
        ),
        ("gemma3.context_length", u32v(1024)),
        ("gemma3.embedding_length", u32v(e)),
        ("gemma3.block_count", u32v(n_layer)),
        ("gemma3.feed_forward_length", u32v(ff)),
        ("gemma3.attention.head_count", u32v(n_head)),
        ("gemma3.attention.head_count_kv", u32v(1)),
        ("gemma3.attention.key_length", u32v(hd)),
        ("gemma3.attention.value_length", u32v(hd)),
        (
            "gemma3.attention.layer_norm_rms_epsilon",
            OwnedValue::F32(1e-6),
        ),
        ("gemma3.rope.freq_base", OwnedValue::F32(1_000_000.0)),
        ("gemma3.attention.sliding_window", u32v(4)),
        ("tokenizer.ggml.model", OwnedValue::Str("llama".into())),
        ("tokenizer.ggml.tokens", OwnedValue::strings(tokens)),
    ];
    for (k, v) in kvs {
        w.kv(k, v).expect("fixture keys are distinct");
    }
    let mut add = |name: &str, dims: &[u64]| {
        let (ty, data) = if dims.len() == 1 {
            (GgmlType::F32, norm(seed, name, dims[0]))
        } else {
            let scale = if name == "token_embd.weight" {
                1.0
            } else {
                2.0 / (dims[0] as f32).sqrt()
            };
            (GgmlType::Q8_0, q8(seed, name, dims[0] * dims[1], scale))
        };
        w.tensor(name, ty, dims, data)
            .expect("fixture tensors are consistent");
    };
    add("token_embd.weight", &[e, n_vocab]);
    add("output_norm.weight", &[e]);
    for l in 0..n_layer {
        let n = |s: &str| format!("blk.{l}.{s}.weight");
        add(&n("attn_norm"), &[e]);
        add(&n("attn_q"), &[e, q]);
        add(&n("attn_k"), &[e, kv]);
        add(&n("attn_v"), &[e, kv]);
        add(&n("attn_q_norm"), &[hd]);
        add(&n("attn_k_norm"), &[hd]);
        add(&n("attn_output"), &[q, e]);
        add(&n("post_attention_norm"), &[e]);
        add(&n("ffn_norm"), &[e]);
        add(&n("ffn_gate"), &[e, ff]);
        add(&n("ffn_up"), &[e, ff]);
        add(&n("ffn_down"), &[ff, e]);
        add(&n("post_ffw_norm"), &[e]);
    }
    w.to_bytes()
}

/// The pinned sha256 of (preset, seed), if it is pinned.
pub fn pinned_sha256(preset: Preset, seed: u64) -> Option<&'static str> {
    PINNED
        .iter()
        .find(|(p, s, _)| *p == preset && *s == seed)
        .map(|(_, _, h)| *h)
}

/// The fixture file for (preset, seed) under `dir` (e.g. `target/parci/models`),
/// generated when missing, or when its sha256 is not the pinned one. Returns
/// the path and whether it was (re)generated.
pub fn materialize(
    dir: &std::path::Path,
    preset: Preset,
    seed: u64,
) -> std::io::Result<(std::path::PathBuf, bool)> {
    let path = dir.join(format!("parci-{}-seed{seed}.gguf", preset.name()));
    if let (Some(want), true) = (pinned_sha256(preset, seed), path.exists()) {
        if crate::fsutil::hash_file(&path)?.1 == want {
            return Ok((path, false));
        }
    }
    let bytes = generate(preset, seed);
    if let Some(want) = pinned_sha256(preset, seed) {
        let got = crate::fsutil::sha256_hex(&bytes);
        if got != want {
            return Err(std::io::Error::other(format!(
                "generated {} fixture hashes to {got}, not the pinned {want}: fixture generation is not deterministic on this build",
                preset.name()
            )));
        }
    }
    crate::fsutil::write_atomic(&path, &bytes)?;
    Ok((path, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::Gguf;

    #[test]
    fn splitmix_matches_reference_vector() {
        // First outputs for seed 1234567 from the reference C implementation.
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }

    #[test]
    fn letters_are_bijective() {
        let v: Vec<String> = (0..800).map(letters).collect();
        assert_eq!(&v[..3], ["a", "b", "c"]);
        assert_eq!(v[26], "aa");
        let mut s = v.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), v.len());
    }

    #[test]
    fn tiny_fixture_reads_back_with_llama_metadata() {
        let bytes = generate(Preset::Tiny, 7);
        assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
        let g = Gguf::parse(&bytes).unwrap();
        let c = Preset::Tiny.config();
        assert_eq!(g.get_str("general.architecture").unwrap(), "llama");
        assert_eq!(g.get_u32("llama.block_count").unwrap() as u64, c.n_layer);
        assert_eq!(g.get_array("tokenizer.ggml.tokens").unwrap().len, c.vocab);
        assert_eq!(g.tensors().len() as u64, 3 + 9 * c.n_layer);
        let params: u64 = g.tensors().iter().map(|t| t.n_elements()).sum();
        assert_eq!(params, c.parameters());
        assert!(g.warnings().is_empty(), "{:?}", g.warnings());
        assert_eq!(bytes, generate(Preset::Tiny, 7), "same seed, same bytes");
        assert_ne!(bytes, generate(Preset::Tiny, 8));
    }

    #[test]
    fn pinned_hashes_hold_in_this_build_profile() {
        for &(preset, seed, want) in PINNED {
            let got = crate::fsutil::sha256_hex(&generate(preset, seed));
            assert_eq!(got, want, "{preset:?} seed {seed}");
        }
    }

    #[test]
    fn materialize_reuses_a_good_file_and_replaces_a_bad_one() {
        let d = tempfile::tempdir().unwrap();
        let (p, fresh) = materialize(d.path(), Preset::Tiny, DEFAULT_SEED).unwrap();
        assert!(fresh);
        assert!(!materialize(d.path(), Preset::Tiny, DEFAULT_SEED).unwrap().1);
        std::fs::write(&p, b"corrupt").unwrap();
        assert!(materialize(d.path(), Preset::Tiny, DEFAULT_SEED).unwrap().1);
        assert_eq!(
            crate::fsutil::hash_file(&p).unwrap().1,
            pinned_sha256(Preset::Tiny, DEFAULT_SEED).unwrap()
        );
    }

    #[test]
    fn small_preset_is_in_range_and_aligned_to_256() {
        let c = Preset::Small.config();
        assert!(
            (30_000_000..=100_000_000).contains(&c.parameters()),
            "{}",
            c.parameters()
        );
        for d in [c.n_embd, c.n_ff, c.n_embd_kv(), c.vocab] {
            assert_eq!(d % 256, 0, "{d}");
        }
    }
}
