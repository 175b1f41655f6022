//! The vocabulary as llama.cpp reads it from GGUF metadata: token texts,
//! scores and attributes, the text → id map, the special ids, whether BOS/EOS
//! are added, and the end-of-generation set (llama-vocab.cpp `load`).

use super::table::StrTable;
use super::TokenizerError;
use crate::gguf::{Gguf, Value};

/// Token attributes, the bits of llama.cpp's `llama_token_attr`.
pub mod attr {
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;
}

/// `tokenizer.ggml.token_type` values → attribute bits (gguf-py `TokenType`).
fn attr_of_type(t: i32) -> u16 {
    match t {
        1 => attr::NORMAL,
        2 => attr::UNKNOWN,
        3 => attr::CONTROL,
        4 => attr::USER_DEFINED,
        5 => attr::UNUSED,
        6 => attr::BYTE,
        _ => 0,
    }
}

/// The tokenizer families parci reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Family {
    /// `gpt2`: byte-level BPE.
    Bpe,
    /// `llama`: SentencePiece (score-driven merges, byte fallback).
    Spm,
}

/// What `load` read; the tokenizer algorithms only look things up here.
pub struct Vocab {
    pub family: Family,
    /// `tokenizer.ggml.model` as written.
    pub model: String,
    /// `tokenizer.ggml.pre`, or "default" when absent.
    pub pre: String,
    /// Token texts; a text's number is its id.
    texts: StrTable,
    pub scores: Vec<f32>,
    pub attrs: Vec<u16>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    /// Sorted ascending.
    pub eog: Vec<u32>,
    /// Control, user-defined and unknown tokens, longest text first: the
    /// order in which they are cut out of the text.
    pub specials: Vec<u32>,
}

/// An optional token-id key (u32 as converters write it; i32/u64 accepted).
fn id_key(g: &Gguf, key: &str) -> Result<Option<i64>, TokenizerError> {
    Ok(match g.get(key) {
        None => None,
        Some(Value::U32(v)) => Some(*v as i64),
        Some(Value::I32(v)) => Some(*v as i64),
        Some(Value::U64(v)) => Some(*v as i64),
        Some(Value::I64(v)) => Some(*v),
        Some(v) => {
            return Err(TokenizerError::Metadata {
                key: key.into(),
                why: format!("has type {}, expected u32", v.value_type().name()),
            })
        }
    })
}

fn bool_key(g: &Gguf, key: &str) -> Result<Option<bool>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(TokenizerError::Metadata {
            key: key.into(),
            why: format!("has type {}, expected bool", v.value_type().name()),
        }),
    }
}

/// Texts that mark a token as one of these roles when the metadata does not
/// name it (llama.cpp's auto-detection); the token becomes a control token.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
/// Texts that end generation wherever they are in the vocabulary.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

impl Vocab {
    pub fn n_tokens(&self) -> usize {
        self.texts.len()
    }
    pub fn text(&self, id: u32) -> &[u8] {
        self.texts.get(id as usize)
    }
    pub fn id(&self, text: &[u8]) -> Option<u32> {
        self.texts.find(text).map(|i| i as u32)
    }
    pub fn has(&self, id: u32, bits: u16) -> bool {
        self.attrs[id as usize] & bits != 0
    }

    /// Reads the tokenizer metadata of `g`.
    pub fn load(g: &Gguf) -> Result<Vocab, TokenizerError> {
        let model = match g.get("tokenizer.ggml.model") {
            None => return Err(TokenizerError::Missing),
            Some(Value::Str(s)) => s.to_string_lossy(),
            Some(v) => {
                return Err(TokenizerError::Metadata {
                    key: "tokenizer.ggml.model".into(),
                    why: format!("has type {}, expected string", v.value_type().name()),
                })
            }
        };
        let family = match model.as_str() {
            "gpt2" => Family::Bpe,
            "llama" => Family::Spm,
            _ => return Err(TokenizerError::Unsupported(model)),
        };
        let pre = match g.get("tokenizer.ggml.pre") {
            None => "default".to_string(),
            Some(Value::Str(s)) => s.to_string_lossy(),
            Some(v) => {
                return Err(TokenizerError::Metadata {
                    key: "tokenizer.ggml.pre".into(),
                    why: format!("has type {}, expected string", v.value_type().name()),
                })
            }
        };
        let tokens = match g.get("tokenizer.ggml.tokens") {
            Some(Value::Array(a)) if a.elem == crate::gguf::ValueType::Str => *a,
            Some(_) => return Err(bad_array("tokenizer.ggml.tokens", "string", 1)),
            None => {
                return Err(TokenizerError::Metadata {
                    key: "tokenizer.ggml.tokens".into(),
                    why: "is missing".into(),
                })
            }
        };
        let n = tokens.len as usize;
        let scores = match g.get("tokenizer.ggml.scores") {
            None => vec![0.0; n],
            Some(Value::Array(a)) if a.len as usize >= n => match a.elem {
                crate::gguf::ValueType::F32 => le_words(a.raw(), n, f32::from_le_bytes),
                crate::gguf::ValueType::I32 => {
                    le_words(a.raw(), n, |w| i32::from_le_bytes(w) as f32)
                }
                _ => return Err(bad_array("tokenizer.ggml.scores", "f32", n)),
            },
            Some(_) => return Err(bad_array("tokenizer.ggml.scores", "f32", n)),
        };
        let mut attrs = match g.get("tokenizer.ggml.token_type") {
            None => vec![attr::NORMAL; n],
            Some(Value::Array(a))
                if a.len as usize >= n && a.elem == crate::gguf::ValueType::I32 =>
            {
                le_words(a.raw(), n, |w| attr_of_type(i32::from_le_bytes(w)))
            }
            Some(_) => return Err(bad_array("tokenizer.ggml.token_type", "i32", n)),
        };
        let mut texts = StrTable::with_capacity(n, tokens.raw().len());
        for (i, t) in tokens.strs().enumerate() {
            let empty;
            let t = if t.is_empty() {
                empty = format!("[EMPTY_{i}]");
                empty.as_bytes()
            } else {
                t
            };
            if let Err(first) = texts.insert(t) {
                return Err(TokenizerError::Metadata {
                    key: "tokenizer.ggml.tokens".into(),
                    why: format!(
                        "holds {:?} at {first} and again at {i}; llama.cpp refuses such a vocabulary",
                        String::from_utf8_lossy(t)
                    ),
                });
            }
        }
        let ids = |t: &str| texts.find(t.as_bytes()).map(|i| i as u32);

        // Defaults of the family, then the metadata (out-of-range ids are ignored, as llama.cpp does).
        let (mut bos, mut eos, mut unk) = match family {
            Family::Spm => (Some(1), Some(2), Some(0)),
            Family::Bpe => (Some(11), Some(11), None),
        };
        let in_range = |v: Option<u32>| v.filter(|&i| (i as usize) < n);
        let meta = |key: &str, default: Option<u32>| -> Result<Option<u32>, TokenizerError> {
            Ok(match id_key(g, key)? {
                Some(v) if v >= 0 && (v as usize) < n => Some(v as u32),
                _ => in_range(default),
            })
        };
        bos = meta("tokenizer.ggml.bos_token_id", bos)?;
        eos = meta("tokenizer.ggml.eos_token_id", eos)?;
        unk = meta("tokenizer.ggml.unknown_token_id", unk)?;
        let mut eot = meta("tokenizer.ggml.eot_token_id", None)?;
        let mut eom = meta("tokenizer.ggml.eom_token_id", None)?;
        let pad = meta("tokenizer.ggml.padding_token_id", None)?;
        let mut fim_pre = meta("tokenizer.ggml.fim_pre_token_id", None)?
            .or(meta("tokenizer.ggml.prefix_token_id", None)?);
        let mut fim_suf = meta("tokenizer.ggml.fim_suf_token_id", None)?
            .or(meta("tokenizer.ggml.suffix_token_id", None)?);
        let mut fim_mid = meta("tokenizer.ggml.fim_mid_token_id", None)?
            .or(meta("tokenizer.ggml.middle_token_id", None)?);
        let mut fim_pad = meta("tokenizer.ggml.fim_pad_token_id", None)?;
        let mut fim_rep = meta("tokenizer.ggml.fim_rep_token_id", None)?;
        let mut fim_sep = meta("tokenizer.ggml.fim_sep_token_id", None)?;

        let (pre_add_bos, add_space_prefix_default) = match family {
            Family::Spm => (true, true),
            Family::Bpe => (super::pretok::adds_bos(&pre), false),
        };
        let add_bos = bool_key(g, "tokenizer.ggml.add_bos_token")?.unwrap_or(pre_add_bos);
        let add_eos = bool_key(g, "tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        let add_space_prefix =
            bool_key(g, "tokenizer.ggml.add_space_prefix")?.unwrap_or(add_space_prefix_default);

        // Roles found by text when the metadata is silent: the token becomes
        // a control token. llama.cpp walks a hash map and keeps its first hit,
        // so with two candidates (SmolLM2's <|im_end|> and <|endoftext|>) its
        // pick follows libstdc++'s bucket order; parci takes the first text
        // of the list. Both candidates are end-of-generation tokens either
        // way, which is what decoding uses; parci does not expose the EOT id.
        let by_text = |list: &[&str]| -> Option<u32> { list.iter().find_map(|t| ids(t)) };
        for (slot, list) in [
            (&mut eot, EOT_TEXTS),
            (&mut eom, EOM_TEXTS),
            (&mut fim_pre, FIM_PRE_TEXTS),
            (&mut fim_suf, FIM_SUF_TEXTS),
            (&mut fim_mid, FIM_MID_TEXTS),
            (&mut fim_pad, FIM_PAD_TEXTS),
            (&mut fim_rep, FIM_REP_TEXTS),
            (&mut fim_sep, FIM_SEP_TEXTS),
        ] {
            if slot.is_none() {
                if let Some(id) = by_text(list) {
                    attrs[id as usize] |= attr::CONTROL;
                    *slot = Some(id);
                }
            }
        }
        // Control tokens named "…unused…" are unused (they stay control).
        for (i, a) in attrs.iter_mut().enumerate() {
            if *a & attr::CONTROL != 0 && super::find(texts.get(i), b"unused").is_some() {
                *a |= attr::UNUSED;
            }
        }
        let mut eog: Vec<u32> = [fim_pad, fim_rep, fim_sep].into_iter().flatten().collect();
        for t in EOG_TEXTS {
            if let Some(id) = ids(t) {
                eog.push(id);
                attrs[id as usize] |= attr::CONTROL;
            }
        }
        for t in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(id) = ids(t) {
                attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend([eos, eot, eom].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();
        let text_of = |id: u32| texts.get(id as usize);
        let eog_has = |eog: &[u32], s: &str| eog.iter().any(|&i| text_of(i) == s.as_bytes());
        // gpt-oss and solar-open: "<|end|>" ends a message, not the generation.
        if (eog_has(&eog, "<|return|>") && eog_has(&eog, "<|call|>")
            || eog_has(&eog, "<|calls|>") && eog_has(&eog, "<|flush|>"))
            && eog_has(&eog, "<|end|>")
        {
            let end = ids("<|end|>").expect("in the set");
            eog.retain(|&i| i != end);
            attrs[end as usize] = attr::USER_DEFINED;
        }
        // gemma4 and plamo2: "</s>" is an ordinary token there.
        if (eog_has(&eog, "<|tool_response>") || eog_has(&eog, "<|plamo:eos|>"))
            && eog_has(&eog, "</s>")
        {
            let s = ids("</s>").expect("in the set");
            eog.retain(|&i| i != s);
            attrs[s as usize] = attr::NORMAL;
        }

        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                attrs[i as usize] & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0
            })
            .collect();
        specials.sort_by(|&a, &b| text_of(b).len().cmp(&text_of(a).len()).then(a.cmp(&b)));

        // Per-model attributes llama.cpp sets by name: Phi-3 strips the
        // whitespace after its special tokens.
        let name = match g.get("general.name") {
            Some(Value::Str(s)) => s.to_string_lossy().to_lowercase(),
            _ => String::new(),
        };
        if name.contains("phi-3") || name.contains("phi3") {
            for &id in &specials {
                attrs[id as usize] |= attr::RSTRIP;
            }
            if let Some(id) = ids("</s>") {
                attrs[id as usize] |= attr::RSTRIP;
            }
            for t in ["<unk>", "<s>", "<|endoftext|>"] {
                if let Some(id) = ids(t) {
                    attrs[id as usize] &= !attr::RSTRIP;
                }
            }
        }

        Ok(Vocab {
            family,
            model,
            pre,
            texts,
            scores,
            attrs,
            bos,
            eos,
            unk,
            pad,
            add_bos,
            add_eos,
            add_space_prefix,
            eog,
            specials,
        })
    }
}

fn bad_array(key: &str, elem: &str, n: usize) -> TokenizerError {
    TokenizerError::Metadata {
        key: key.into(),
        why: format!("must be an array of at least {n} {elem} (one per token)"),
    }
}

/// The first `n` little-endian 4-byte words of `raw`, converted.
fn le_words<T>(raw: &[u8], n: usize, f: impl Fn([u8; 4]) -> T) -> Vec<T> {
    raw.chunks_exact(4)
        .take(n)
        .map(|c| f([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A string array, `None` when the key is absent.
pub(super) fn strings<'a>(
    g: &Gguf<'a>,
    key: &str,
) -> Result<Option<crate::gguf::Array<'a>>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) if a.elem == crate::gguf::ValueType::Str => Ok(Some(*a)),
        Some(v) => Err(TokenizerError::Metadata {
            key: key.into(),
            why: format!(
                "has type {}, expected an array of strings",
                v.value_type().name()
            ),
        }),
    }
}
