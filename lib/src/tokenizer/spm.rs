//! SentencePiece (`tokenizer.ggml.model = llama`), as llama.cpp runs it
//! (`llm_tokenizer_spm_session`): spaces become U+2581, the text starts as
//! one symbol per character, and the adjacent pair whose concatenation is the
//! highest-scoring token merges first (leftmost among equal scores) until no
//! pair is a token. A symbol that is no token falls back to `<0xNN>` byte
//! tokens.

use super::vocab::Vocab;
use std::collections::BinaryHeap;

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge: ordered by score, then by the leftmost position.
#[derive(PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

/// The id of byte `b`: the `<0xNN>` token, else the one-byte token.
pub fn byte_token(v: &Vocab, b: u8) -> Option<u32> {
    v.id(format!("<0x{b:02X}>").as_bytes())
        .or_else(|| v.id(&[b]))
}

/// Appends the ids of `text` (spaces already escaped) to `out`.
pub fn encode(v: &Vocab, text: &str, out: &mut Vec<u32>) {
    let w = text.as_bytes();
    let mut syms: Vec<Symbol> = Vec::with_capacity(text.len());
    for (i, (start, c)) in text.char_indices().enumerate() {
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
    let n_tokens = v.n_tokens();
    let bigram = |syms: &[Symbol], l: usize, r: usize| -> Option<Bigram> {
        let s = &w[syms[l].start..syms[l].start + syms[l].len + syms[r].len];
        let id = v.id(s).filter(|&i| (i as usize) < n_tokens)?;
        Some(Bigram {
            score: v.scores[id as usize],
            left: l,
            right: r,
            size: s.len(),
        })
    };
    let mut queue: BinaryHeap<Bigram> = (1..syms.len())
        .filter_map(|i| bigram(&syms, i - 1, i))
        .collect();
    while let Some(b) = queue.pop() {
        let (l, r) = (syms[b.left], syms[b.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
            continue;
        }
        syms[b.left].len += r.len;
        syms[b.right].len = 0;
        syms[b.left].next = r.next;
        if let Some(n) = r.next {
            syms[n].prev = Some(b.left);
        }
        if let Some(p) = syms[b.left].prev {
            queue.extend(bigram(&syms, p, b.left));
        }
        if let Some(n) = syms[b.left].next {
            queue.extend(bigram(&syms, b.left, n));
        }
    }
    // Every merged symbol is a token (a pair merges only when its text is
    // one), so a symbol that is not is a single character: its bytes.
    // llama.cpp's reverse-merge lookup never finds anything for those.
    let mut i = Some(0).filter(|_| !syms.is_empty());
    while let Some(k) = i {
        let s = &w[syms[k].start..syms[k].start + syms[k].len];
        match v.id(s) {
            Some(id) => out.push(id),
            None => {
                for &b in s {
                    // llama.cpp throws when a byte has no token; parci
                    // writes the unknown token there instead.
                    out.extend(byte_token(v, b).or(v.unk));
                }
            }
        }
        i = syms[k].next;
    }
}
