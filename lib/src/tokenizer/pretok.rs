//! Byte-level BPE pre-tokenizers: how `tokenizer.ggml.pre` splits text into
//! words before merging, as llama.cpp defines each name (llama-vocab.cpp,
//! `llm_tokenizer_bpe`). Each expression splits every piece the previous one
//! left; a match and the text between matches both become pieces.
//!
//! The expressions run on `fancy-regex` (leftmost-first alternation and the
//! `(?!\S)` look-ahead llama.cpp's patterns need; the plain parts go to the
//! `regex` crate's automata). llama.cpp runs hand-written matchers for the
//! GPT-2, Llama 3 and Qwen2 patterns and `std::regex` over category-collapsed
//! text for the rest; the golden tests hold parci's splits to its ids.

use super::TokenizerError;
use fancy_regex::Regex;
use std::ops::Range;

/// GPT-2's pattern, as llama.cpp writes it (no trailing `|\s+`: whitespace
/// the look-ahead refuses falls between matches and is a piece anyway).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's pattern with the case-insensitive group spelled out.
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2: Llama 3's with single digits.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// One family of `tokenizer.ggml.pre` names.
pub struct PreTokenizer {
    pub names: &'static [&'static str],
    pub patterns: &'static [&'static str],
    /// Detokenizing tidies " ," and " 's" (llama.cpp's `clean_spaces`).
    pub clean_spaces: bool,
    /// A word that is a whole token is taken as is, without merging.
    pub ignore_merges: bool,
    /// BOS is added unless the metadata says otherwise.
    pub add_bos: bool,
}

const fn family(
    names: &'static [&'static str],
    patterns: &'static [&'static str],
    clean_spaces: bool,
) -> PreTokenizer {
    PreTokenizer {
        names,
        patterns,
        clean_spaces,
        ignore_merges: false,
        add_bos: false,
    }
}

/// Every name parci knows. A name in none of these is refused: guessing a
/// split would give ids that look plausible and are wrong.
pub const KNOWN: &[PreTokenizer] = &[
    family(
        &["default"],
        &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
        true,
    ),
    PreTokenizer {
        names: &[
            "llama3",
            "llama-v3",
            "llama-bpe",
            "falcon3",
            "falcon-h1",
            "pixtral",
            "midm-2.0",
            "lfm2",
            "jina-v5-nano",
        ],
        patterns: &[LLAMA3],
        clean_spaces: true,
        ignore_merges: true,
        add_bos: true,
    },
    family(&["dbrx", "smaug-bpe"], &[LLAMA3], true),
    family(
        &[
            "gpt-2", "phi-2", "gigachat", "a.x-4.0", "mellum", "mpt", "olmo", "exaone4",
        ],
        &[GPT2],
        true,
    ),
    family(
        &["starcoder", "refact", "codeshell", "exaone", "minerva-7b"],
        &[r"\p{N}", GPT2],
        true,
    ),
    family(&["smollm", "command-r"], &[r"\p{N}", GPT2], false),
    family(
        &["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"],
        &[QWEN2],
        false,
    ),
    family(&["stablelm2", "hunyuan", "megrez"], &[QWEN2], true),
    family(
        &["falcon"],
        &[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"],
        true,
    ),
];

/// The family of `name`.
pub fn find(name: &str) -> Option<&'static PreTokenizer> {
    KNOWN.iter().find(|p| p.names.contains(&name))
}

/// Whether `name` adds a BOS by default (before `add_bos_token`).
pub fn adds_bos(name: &str) -> bool {
    find(name).is_some_and(|p| p.add_bos)
}

/// Every known name, for the error that refuses an unknown one.
pub fn known_names() -> Vec<&'static str> {
    KNOWN.iter().flat_map(|p| p.names.iter().copied()).collect()
}

/// A family's compiled expressions.
pub struct Splitter {
    regexes: Vec<Regex>,
}

impl Splitter {
    pub fn new(p: &PreTokenizer) -> Splitter {
        Splitter {
            regexes: p
                .patterns
                .iter()
                .map(|s| Regex::new(s).expect("the pre-tokenizer patterns are valid"))
                .collect(),
        }
    }

    /// The words of `text`, as byte ranges, in order and covering it.
    pub fn split(&self, text: &str) -> Result<Vec<Range<usize>>, TokenizerError> {
        #[allow(clippy::single_range_in_vec_init)] // one word: the whole text
        let mut words = vec![0..text.len()];
        for re in &self.regexes {
            let mut next = Vec::with_capacity(words.len() * 2);
            for w in words {
                let piece = &text[w.clone()];
                let mut last = 0;
                for m in re.find_iter(piece) {
                    let m = m.map_err(|e| TokenizerError::Regex(e.to_string()))?;
                    if m.start() > last {
                        next.push(w.start + last..w.start + m.start());
                    }
                    if m.end() > m.start() {
                        next.push(w.start + m.start()..w.start + m.end());
                    }
                    last = m.end();
                }
                if last < piece.len() {
                    next.push(w.start + last..w.end);
                }
            }
            words = next;
        }
        Ok(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words<'a>(p: &str, text: &'a str) -> Vec<&'a str> {
        let s = Splitter::new(find(p).unwrap());
        s.split(text)
            .unwrap()
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn every_pattern_compiles_and_every_name_is_listed_once() {
        let names = known_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for p in KNOWN {
            Splitter::new(p);
        }
        assert!(find("bloom").is_none());
    }

    #[test]
    fn gpt2_splits_words_contractions_and_whitespace_runs() {
        assert_eq!(
            words("gpt-2", "Hello world's  end\n\n"),
            ["Hello", " world", "'s", " ", " end", "\n\n"]
        );
        // whitespace before a word keeps its last space for the word
        assert_eq!(words("gpt-2", "a   b"), ["a", "  ", " b"]);
    }

    #[test]
    fn smollm_splits_every_digit_first() {
        assert_eq!(words("smollm", " 123abc"), [" ", "1", "2", "3", "abc"]);
    }

    #[test]
    fn llama3_groups_digits_by_three() {
        assert_eq!(words("llama3", "12345 ok"), ["123", "45", " ok"]);
    }
}
