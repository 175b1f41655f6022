//! Text ↔ token ids with a GGUF file's own tokenizer, id for id as llama.cpp
//! (the pinned commit of scripts/llama-cpp.sh; tests/tokenizer_golden.rs
//! holds parci to its output on a corpus of 858 strings).
//!
//! - [`vocab`]: the metadata as llama.cpp reads it (texts, scores,
//!   attributes, special ids, BOS/EOS, the end-of-generation set).
//! - [`pretok`] + [`bpe`]: `gpt2` byte-level BPE.
//! - [`spm`]: `llama` SentencePiece.
//! - this file: cutting special tokens out of the text first, the two
//!   families' driving loops, and ids → text.

pub mod bpe;
pub mod pretok;
pub mod spm;
mod table;
pub mod vocab;

use crate::gguf::Gguf;
use vocab::{attr, Family, Vocab};

/// Why a file's tokenizer cannot be used, or an input refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenizerError {
    #[error("no tokenizer metadata (tokenizer.ggml.model is missing); this file maps no text to ids, pass token ids instead")]
    Missing,
    #[error("tokenizer.ggml.model is {0:?}; parci reads \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece) tokenizers")]
    Unsupported(String),
    #[error("tokenizer.ggml.pre is {pre:?}, a pre-tokenizer parci does not know; known: {known}")]
    UnknownPre { pre: String, known: String },
    #[error("metadata key {key:?} {why}")]
    Metadata { key: String, why: String },
    #[error("token {id} is outside the vocabulary (0..{n}); pass ids below {n}")]
    OutOfRange { id: u64, n: usize },
    #[error("the pre-tokenizer expression gave up on this text: {0}")]
    Regex(String),
}

enum Algo {
    Bpe(bpe::Bpe),
    Spm,
}

/// A GGUF file's tokenizer.
pub struct Tokenizer {
    vocab: Vocab,
    algo: Algo,
    clean_spaces: bool,
}

/// A piece of the input: text still to tokenize, or a special token found in it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fragment {
    Text(usize, usize),
    Token(u32),
}

impl Tokenizer {
    /// Reads the tokenizer of `g` (its `tokenizer.ggml.*` metadata).
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer, TokenizerError> {
        let vocab = Vocab::load(g)?;
        let (algo, clean_spaces) = match vocab.family {
            Family::Spm => (Algo::Spm, false),
            Family::Bpe => {
                let pre = pretok::find(&vocab.pre).ok_or_else(|| TokenizerError::UnknownPre {
                    pre: vocab.pre.clone(),
                    known: pretok::known_names().join(", "),
                })?;
                let merges = vocab::strings(g, "tokenizer.ggml.merges")?.ok_or_else(|| {
                    TokenizerError::Metadata {
                        key: "tokenizer.ggml.merges".into(),
                        why: "is missing; a gpt2 tokenizer needs its BPE merges".into(),
                    }
                })?;
                (Algo::Bpe(bpe::Bpe::new(merges, pre)), pre.clean_spaces)
            }
        };
        Ok(Tokenizer {
            vocab,
            algo,
            clean_spaces,
        })
    }

    pub fn n_tokens(&self) -> usize {
        self.vocab.n_tokens()
    }
    /// `tokenizer.ggml.model`.
    pub fn model(&self) -> &str {
        &self.vocab.model
    }
    /// `tokenizer.ggml.pre` ("default" when absent).
    pub fn pre(&self) -> &str {
        &self.vocab.pre
    }
    pub fn bos(&self) -> Option<u32> {
        self.vocab.bos
    }
    pub fn eos(&self) -> Option<u32> {
        self.vocab.eos
    }
    /// Whether encoding with `add_special` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.vocab.add_bos
    }
    /// The tokens that end generation, ascending.
    pub fn eog(&self) -> &[u32] {
        &self.vocab.eog
    }
    pub fn is_eog(&self, id: u32) -> bool {
        self.vocab.eog.binary_search(&id).is_ok()
    }
    /// The token's text as the vocabulary stores it (`ĠParis`, `▁Paris`, `<0x0A>`).
    pub fn token_text(&self, id: u32) -> Result<&[u8], TokenizerError> {
        self.check(id)?;
        Ok(self.vocab.text(id))
    }

    fn check(&self, id: u32) -> Result<(), TokenizerError> {
        let n = self.n_tokens();
        if (id as usize) < n {
            Ok(())
        } else {
            Err(TokenizerError::OutOfRange { id: id as u64, n })
        }
    }

    /// The ids of `text`, as `llama_tokenize(text, add_special,
    /// parse_special)`: `add_special` adds BOS/EOS where the model asks for
    /// them, `parse_special` turns control tokens written in the text into
    /// their ids (user-defined tokens are always matched).
    pub fn encode(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let v = &self.vocab;
        let mut out = Vec::new();
        let frags = if text.is_empty() {
            Vec::new()
        } else {
            self.partition(text, parse_special)
        };
        if add_special && v.add_bos {
            out.extend(v.bos);
        }
        match &self.algo {
            Algo::Spm => {
                let mut prev_special = true;
                let mut buf = String::new();
                for f in frags {
                    match f {
                        Fragment::Text(a, b) => {
                            buf.clear();
                            if v.add_space_prefix && prev_special {
                                buf.push('\u{2581}');
                            }
                            for c in text[a..b].chars() {
                                buf.push(if c == ' ' { '\u{2581}' } else { c });
                            }
                            spm::encode(v, &buf, &mut out);
                            prev_special = false;
                        }
                        Fragment::Token(t) => {
                            out.push(t);
                            prev_special = true;
                        }
                    }
                }
            }
            Algo::Bpe(bpe) => {
                for f in frags {
                    match f {
                        Fragment::Text(a, b) => bpe.encode(v, &text[a..b], &mut out)?,
                        Fragment::Token(t) => out.push(t),
                    }
                }
            }
        }
        if add_special && v.add_eos {
            out.extend(v.eos);
        }
        Ok(out)
    }

    /// Cuts the special tokens out of `text`, longest first, each at every
    /// occurrence in what is still text (llama.cpp `tokenizer_st_partition`).
    fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        let v = &self.vocab;
        let bytes = text.as_bytes();
        let mut frags = vec![Fragment::Text(0, bytes.len())];
        for &id in &v.specials {
            if !parse_special && v.has(id, attr::CONTROL | attr::UNKNOWN) {
                continue;
            }
            let needle = v.text(id);
            if !frags
                .iter()
                .any(|f| matches!(*f, Fragment::Text(a, b) if find_special(text, a, b, needle).is_some()))
            {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Fragment::Text(mut a, b) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(m) = find_special(text, a, b, needle) {
                    let mut left_end = m;
                    if v.has(id, attr::LSTRIP) {
                        while left_end > a && is_c_space(bytes[left_end - 1]) {
                            left_end -= 1;
                        }
                    }
                    if left_end > a {
                        next.push(Fragment::Text(a, left_end));
                    }
                    next.push(Fragment::Token(id));
                    a = m + needle.len();
                    if v.has(id, attr::RSTRIP) {
                        while a < b && is_c_space(bytes[a]) {
                            a += 1;
                        }
                    }
                }
                if a < b {
                    next.push(Fragment::Text(a, b));
                }
            }
            frags = next;
        }
        frags
    }

    /// The bytes token `id` stands for (llama.cpp `token_to_piece` with no
    /// leading-space strip): control and unknown tokens give their text
    /// only when `special`.
    pub fn piece(&self, id: u32, special: bool) -> Result<Vec<u8>, TokenizerError> {
        self.check(id)?;
        let mut out = Vec::new();
        self.piece_into(id, special, 0, &mut out);
        Ok(out)
    }

    fn piece_into(&self, id: u32, special: bool, lstrip: usize, out: &mut Vec<u8>) {
        let v = &self.vocab;
        let text = v.text(id);
        if !special && v.has(id, attr::CONTROL | attr::UNKNOWN) {
            return;
        }
        let from = out.len();
        if v.has(id, attr::CONTROL | attr::UNKNOWN | attr::USER_DEFINED) {
            out.extend_from_slice(text);
        } else if v.has(id, attr::NORMAL) {
            match self.algo {
                Algo::Spm => {
                    let s = String::from_utf8_lossy(text).replace('\u{2581}', " ");
                    out.extend_from_slice(s.as_bytes());
                }
                Algo::Bpe(_) => bpe::decode_text(text, out),
            }
        } else if v.has(id, attr::BYTE) {
            match self.algo {
                // "<0xNN>"
                Algo::Spm => out.extend(
                    std::str::from_utf8(text.get(3..5).unwrap_or_default())
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok()),
                ),
                // llama.cpp aborts on a byte token in a BPE vocabulary.
                Algo::Bpe(_) => out.extend_from_slice(text),
            }
        }
        let strip = out[from..]
            .iter()
            .take(lstrip)
            .take_while(|&&c| c == b' ')
            .count();
        out.drain(from..from + strip);
    }

    /// The text of `ids`, as `llama_detokenize(ids, remove_special,
    /// unparse_special)`: `remove_special` drops the BOS/EOS that encoding
    /// added, `unparse_special` writes control tokens as their text. Bytes,
    /// because byte tokens can split a character; see [`Tokenizer::decode_text`].
    pub fn decode(
        &self,
        ids: &[u32],
        remove_special: bool,
        unparse_special: bool,
    ) -> Result<Vec<u8>, TokenizerError> {
        for &id in ids {
            self.check(id)?;
        }
        let v = &self.vocab;
        let mut ids = ids;
        let mut remove_space = v.add_space_prefix;
        if remove_special && v.add_bos && v.bos.is_some() && ids.first() == v.bos.as_ref() {
            remove_space = false;
            ids = &ids[1..];
        }
        if remove_special && v.add_eos && v.eos.is_some() && ids.last() == v.eos.as_ref() {
            ids = &ids[..ids.len() - 1];
        }
        let mut out = Vec::new();
        for &id in ids {
            self.piece_into(id, unparse_special, remove_space as usize, &mut out);
            remove_space = false;
        }
        if self.clean_spaces {
            clean_spaces(&mut out);
        }
        Ok(out)
    }

    /// [`Tokenizer::decode`] as text: a byte sequence that is not UTF-8 (a
    /// character cut short, a lone byte token) becomes U+FFFD, so the result
    /// is always valid text.
    pub fn decode_text(
        &self,
        ids: &[u32],
        unparse_special: bool,
    ) -> Result<String, TokenizerError> {
        let b = self.decode(ids, false, unparse_special)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }
}

impl Tokenizer {
    /// What this tokenizer is, for receipts: family, pre-tokenizer, size,
    /// what encoding adds and which tokens end generation.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.model(),
            "pre": self.pre(),
            "n_tokens": self.n_tokens(),
            "add_bos": self.add_bos(),
            "bos": self.bos(),
            "eos": self.eos(),
            "eog": self.eog(),
        })
    }

    /// Each id with its vocabulary text and the text it decodes to (control
    /// tokens included), both made valid UTF-8.
    pub fn pieces(&self, ids: &[u32]) -> Result<serde_json::Value, TokenizerError> {
        ids.iter()
            .map(|&id| {
                Ok(serde_json::json!({
                    "id": id,
                    "token": String::from_utf8_lossy(self.token_text(id)?),
                    "piece": String::from_utf8_lossy(&self.piece(id, true)?),
                }))
            })
            .collect()
    }
}

/// C's `isspace`, as llama.cpp strips around special tokens: space, \t,
/// \n, \v, \f, \r.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Where `needle` (a special token's bytes) first occurs in `text[a..b]`,
/// as an offset into `text`, starting and ending on character boundaries. A
/// token whose bytes are not UTF-8 on their own (a GGUF may hold any) could
/// otherwise match inside a character (found by the gguf_parse fuzz target:
/// a token of 0x9F 0xA6 inside '🦀').
fn find_special(text: &str, a: usize, b: usize, needle: &[u8]) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = a;
    while let Some(at) = find(&bytes[from..b], needle) {
        let m = from + at;
        if text.is_char_boundary(m) && text.is_char_boundary(m + needle.len()) {
            return Some(m);
        }
        from = m + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let at = hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&c| c == first)?;
        let s = i + at;
        if &hay[s..s + needle.len()] == needle {
            return Some(s);
        }
        i = s + 1;
    }
    None
}

/// llama.cpp's `clean_spaces` passes over detokenized BPE text: " ?", " !",
/// " .", " ," lose the space; " ' " loses both; " 's", " 'm", " 're", " 've"
/// lose it.
fn clean_spaces(t: &mut Vec<u8>) {
    // first pass: " ?", " !", " .", " ,"
    let n = t.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        t[total] = x;
        total += 1;
    }
    t.truncate(total);
    // second pass: a single apostrophe between spaces
    let n = t.len();
    let mut total = usize::from(n > 0);
    let mut i = 1;
    while i < n {
        let x = t[i];
        if x == b'\'' && i + 1 < n && t[i - 1] == b' ' && t[i + 1] == b' ' {
            total -= 1;
            i += 1;
            t[i] = 0;
        }
        t[total] = x;
        total += 1;
        i += 1;
    }
    t.truncate(total);
    // third pass: contractions
    let n = t.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = t[i + 1];
            if x1 == b's' || x1 == b'm' {
                total -= 1;
            } else if x1 != b't' && x1 != b'd' && i + 2 < n {
                let x2 = t[i + 2];
                if (x1 == b'r' || x1 == b'v') && x2 == b'e' {
                    total -= 1;
                }
            }
        }
        t[total] = x;
        total += 1;
    }
    t.truncate(total);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_spaces_follows_llama_cpp() {
        let c = |s: &str| {
            let mut v = s.as_bytes().to_vec();
            clean_spaces(&mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(c("Hello , world !"), "Hello, world!");
        assert_eq!(c("it 's I 'm we 're they 've"), "it's I'm we're they've");
        assert_eq!(c("don 't I 'd we 'll"), "don 't I 'd we 'll");
        assert_eq!(c("a ' b"), "a'b");
        assert_eq!(c(""), "");
        assert_eq!(c(" ."), ".");
    }

    #[test]
    fn special_tokens_match_only_on_character_boundaries() {
        let text = "a🦀b🦀";
        assert_eq!(find_special(text, 0, text.len(), &[0x9f, 0xa6]), None);
        assert_eq!(find_special(text, 0, text.len(), "🦀".as_bytes()), Some(1));
        assert_eq!(find_special(text, 2, text.len(), "🦀".as_bytes()), Some(6));
        assert_eq!(find_special(text, 0, text.len(), b"b"), Some(5));
    }

    #[test]
    fn find_is_substring_search() {
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"aaa", b"aaaa"), None);
        assert_eq!(find(b"xyz", b"z"), Some(2));
        assert_eq!(find(b"", b"a"), None);
    }
}
