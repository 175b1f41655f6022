//! Byte-level BPE (`tokenizer.ggml.model = gpt2`): the pre-tokenizer's words
//! are written in GPT-2's byte alphabet, then adjacent symbols merge in
//! `tokenizer.ggml.merges` rank order, lowest rank first and leftmost first
//! among equals (llama.cpp `llm_tokenizer_bpe_session`).

use super::pretok::{PreTokenizer, Splitter};
use super::table::StrTable;
use super::vocab::Vocab;
use super::TokenizerError;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// GPT-2's byte → code point table: printable Latin-1 bytes stand for
/// themselves, the other 68 take code points from U+0100 up, in byte order.
pub fn byte_char(b: u8) -> char {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    if printable(b) {
        return char::from(b);
    }
    let below = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + below).expect("U+0100..U+0143")
}

/// The byte a code point of the alphabet stands for.
pub fn char_byte(c: char) -> Option<u8> {
    let table = byte_table();
    table
        .binary_search_by_key(&c, |&(ch, _)| ch)
        .ok()
        .map(|i| table[i].1)
}

fn byte_table() -> &'static [(char, u8); 256] {
    static TABLE: std::sync::OnceLock<[(char, u8); 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [('\0', 0u8); 256];
        for b in 0..=255u8 {
            t[b as usize] = (byte_char(b), b);
        }
        t.sort_unstable();
        t
    })
}

/// What a BPE tokenizer holds besides the vocabulary.
pub struct Bpe {
    /// Merge pairs as `first 0xFF second` (0xFF never occurs in UTF-8, so
    /// the key is unambiguous), with `ranks[i]` the rank of pair `i`.
    pairs: StrTable,
    ranks: Vec<u32>,
    splitter: Splitter,
    pub pre: &'static PreTokenizer,
}

fn rank_key(buf: &mut Vec<u8>, a: &[u8], b: &[u8]) {
    buf.clear();
    buf.extend_from_slice(a);
    buf.push(0xFF);
    buf.extend_from_slice(b);
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Bpe {
    pub fn new(merges: crate::gguf::Array<'_>, pre: &'static PreTokenizer) -> Bpe {
        let n = merges.len as usize;
        let mut pairs = StrTable::with_capacity(n, merges.raw().len());
        let mut ranks = Vec::with_capacity(n);
        let mut key = Vec::new();
        for (rank, m) in merges.strs().enumerate() {
            // Split at the first space after the first byte, as llama.cpp does;
            // a merge without one can never apply.
            let Some(pos) = m.iter().skip(1).position(|&c| c == b' ').map(|p| p + 1) else {
                continue;
            };
            rank_key(&mut key, &m[..pos], &m[pos + 1..]);
            // The first of two equal pairs keeps its rank.
            if pairs.insert(&key).is_ok() {
                ranks.push(rank as u32);
            }
        }
        Bpe {
            pairs,
            ranks,
            splitter: Splitter::new(pre),
            pre,
        }
    }

    /// Appends the ids of `text` (no special tokens in it) to `out`.
    pub fn encode(&self, v: &Vocab, text: &str, out: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let mut word = String::new();
        let mut key = Vec::new();
        for r in self.splitter.split(text)? {
            word.clear();
            word.extend(text.as_bytes()[r].iter().map(|&b| byte_char(b)));
            if self.pre.ignore_merges {
                if let Some(id) = v.id(word.as_bytes()) {
                    out.push(id);
                    continue;
                }
            }
            self.merge_word(v, word.as_bytes(), &mut key, out);
        }
        Ok(())
    }

    fn rank(&self, key: &mut Vec<u8>, w: &[u8], a: &Symbol, b: &Symbol) -> Option<u32> {
        rank_key(
            key,
            &w[a.start..a.start + a.len],
            &w[b.start..b.start + b.len],
        );
        self.pairs.find(key).map(|i| self.ranks[i])
    }

    fn merge_word(&self, v: &Vocab, w: &[u8], key: &mut Vec<u8>, out: &mut Vec<u32>) {
        let s = std::str::from_utf8(w).expect("byte-alphabet words are UTF-8");
        let mut syms: Vec<Symbol> = Vec::with_capacity(w.len());
        for (i, (start, c)) in s.char_indices().enumerate() {
            syms.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                syms[i - 1].next = Some(i);
            }
        }
        // (rank, left index) smallest first; the lengths tell a stale entry.
        let mut queue: BinaryHeap<Reverse<(u32, usize, usize, usize)>> = BinaryHeap::new();
        let push =
            |q: &mut BinaryHeap<_>, key: &mut Vec<u8>, syms: &[Symbol], l: usize, r: usize| {
                if let Some(rank) = self.rank(key, w, &syms[l], &syms[r]) {
                    q.push(Reverse((rank, l, syms[l].len, syms[r].len)));
                }
            };
        for i in 1..syms.len() {
            push(&mut queue, key, &syms, i - 1, i);
        }
        while let Some(Reverse((_, l, llen, rlen))) = queue.pop() {
            let Some(r) = syms[l].next else { continue };
            if syms[l].len != llen || syms[r].len != rlen || syms[l].len == 0 {
                continue;
            }
            syms[l].len += syms[r].len;
            syms[r].len = 0;
            syms[l].next = syms[r].next;
            if let Some(n) = syms[r].next {
                syms[n].prev = Some(l);
            }
            if let Some(p) = syms[l].prev {
                push(&mut queue, key, &syms, p, l);
            }
            if let Some(n) = syms[l].next {
                push(&mut queue, key, &syms, l, n);
            }
        }
        let mut i = Some(0).filter(|_| !syms.is_empty());
        while let Some(k) = i {
            let sym = &syms[k];
            let text = &w[sym.start..sym.start + sym.len];
            match v.id(text) {
                Some(id) => out.push(id),
                // No token: llama.cpp looks each byte of the symbol up as a
                // one-byte text and keeps what it finds.
                None => out.extend(text.iter().filter_map(|&b| v.id(&[b]))),
            }
            i = sym.next;
        }
    }
}

/// The bytes a normal BPE token's text stands for. A code point outside
/// the byte alphabet is written as llama.cpp does: `[UNK_BYTE_0x…` + text + `]`.
pub fn decode_text(text: &[u8], out: &mut Vec<u8>) {
    let s = String::from_utf8_lossy(text);
    for c in s.chars() {
        match char_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut u = [0u8; 4];
                for b in c.encode_utf8(&mut u).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text);
                out.push(b']');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_alphabet_is_gpt2s() {
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        assert_eq!(byte_char(b'a'), 'a');
        assert_eq!(byte_char(0), '\u{100}');
        assert_eq!(byte_char(0xAD), '\u{143}');
        let mut seen = std::collections::HashSet::new();
        for b in 0..=255u8 {
            assert!(seen.insert(byte_char(b)));
            assert_eq!(char_byte(byte_char(b)), Some(b));
        }
        assert_eq!(char_byte('€'), None);
        let mut out = Vec::new();
        decode_text("ĠParisĊ".as_bytes(), &mut out);
        assert_eq!(out, b" Paris\n");
    }
}
