//! Byte strings in one buffer with an open-addressing index from string to
//! position: the vocabulary (262 144 texts for Gemma 3) and the BPE merges
//! load without an allocation per entry.

/// Strings in insertion order, each findable by its bytes.
#[derive(Default)]
pub struct StrTable {
    bytes: Vec<u8>,
    /// `ends[i]`: where string `i` ends in `bytes` (it starts at `ends[i - 1]`).
    ends: Vec<usize>,
    /// Slot → string number + 1, 0 when empty; a power of two long, at
    /// most half full.
    index: Vec<u32>,
}

/// FxHash's multiply-rotate over 8-byte words: fast, and the keys come from
/// the model file, not from whoever supplies the text.
fn hash(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K)
}

/// The home slot of hash `h` in an index of `len` slots: the product's high
/// bits, where the multiplications leave the entropy.
fn home(h: u64, len: usize) -> usize {
    (h >> (64 - len.trailing_zeros())) as usize
}

impl StrTable {
    pub fn with_capacity(n: usize, bytes: usize) -> StrTable {
        StrTable {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(n),
            index: vec![0; (2 * n).next_power_of_two().max(16)],
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// String number `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// The slot holding `s`, or the empty slot where it would go.
    fn slot(&self, s: &[u8]) -> usize {
        let mask = self.index.len() - 1;
        let mut at = home(hash(s), self.index.len());
        loop {
            match self.index[at] {
                0 => return at,
                k if self.get(k as usize - 1) == s => return at,
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// The number of `s`, if present.
    pub fn find(&self, s: &[u8]) -> Option<usize> {
        match self.index[self.slot(s)] {
            0 => None,
            k => Some(k as usize - 1),
        }
    }

    /// Appends `s` and returns its number; when `s` is already present,
    /// returns `Err` with that one's number and appends nothing.
    pub fn insert(&mut self, s: &[u8]) -> Result<usize, usize> {
        if 2 * (self.len() + 1) > self.index.len() {
            self.grow();
        }
        let at = self.slot(s);
        if self.index[at] != 0 {
            return Err(self.index[at] as usize - 1);
        }
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len());
        self.index[at] = self.len() as u32;
        Ok(self.len() - 1)
    }

    fn grow(&mut self) {
        let mut index = vec![0u32; self.index.len() * 2];
        let mask = index.len() - 1;
        for i in 0..self.len() {
            let mut at = home(hash(self.get(i)), index.len());
            while index[at] != 0 {
                at = (at + 1) & mask;
            }
            index[at] = i as u32 + 1;
        }
        self.index = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_holds_and_refuses_duplicates() {
        let mut t = StrTable::with_capacity(2, 8);
        let words: Vec<String> = (0..1000).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(t.insert(w.as_bytes()), Ok(i));
        }
        assert_eq!(t.insert(b"w7"), Err(7));
        assert_eq!(t.len(), 1000);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(t.find(w.as_bytes()), Some(i));
            assert_eq!(t.get(i), w.as_bytes());
        }
        assert_eq!(t.find(b"w1000"), None);
        assert_eq!(t.find(b""), None);
        assert_eq!(t.insert(b""), Ok(1000));
        assert_eq!(t.find(b""), Some(1000));
    }
}
