//! A weight row unpacked once and multiplied by many activation vectors (a
//! prompt's tokens, [`super::matvec::MatVec::matmat`]).
//!
//! A decode kernel unpacks each block's nibbles and high bits for the one
//! vector it meets. In a batch the same row meets 64 vectors, so unpacking
//! it once pays: the row's codes become one byte each (unsigned, the
//! format's offset kept apart), its f16 factors become f32 (exact), and the
//! per-vector kernel is loads, u8 × i8 dots and the canonical combination.
//!
//! **Interleaved groups.** Codes (and the activation quants they meet, laid
//! out the same way by [`interleave`]) are stored in groups of 8 blocks:
//! 4-byte piece c (elements 4c..4c+4) of block j of a group sits at byte
//! `c·32 + j·4` of the group's 256. A 32-byte load then holds one piece of
//! each of the 8 blocks, and a u8 × i8 dot that sums 4 bytes per 32-bit
//! lane (`vpdpbusd`, or `maddubs` + `madd`) leaves block j's partial sum in
//! lane j: eight such steps give the 8 block sums with no horizontal
//! reduction. A last partial group is padded with zero codes and zero
//! activations.
//!
//! The bits are the decode kernels': block b's integer sum is exactly the
//! format's `block_sumi` (Σ q·y − offset·Σ y, exact in i32, in whatever
//! order), and the float arithmetic is [`super::dot::combine_row`]'s
//! (one-term formats) or [`super::dot::combine_row2`]'s (two-term), lane
//! b % 8, in block order. The kernel-equality tests run this path beside
//! every other ([`super::matvec::checked_dot_unpacked`]). The ISA dispatch
//! is in matvec.rs (`unpacked_dot`), so the x86 kernels can read this file's
//! types without an import cycle.

use super::f16_at;
use super::kernels::{Isa, Op};
use super::q4_k;

/// One row in the unpacked form.
#[derive(Clone, Debug, Default)]
pub struct Unpacked {
    /// 32 codes per block, each one byte (0..=31), in interleaved groups
    /// of 8 blocks (module doc), the last group padded with zeros.
    pub(crate) codes: Vec<u8>,
    /// Each block's scale `d`.
    pub(crate) d: Vec<f32>,
    /// Each block's minimum `m` (two-term formats; empty otherwise).
    pub(crate) m: Vec<f32>,
    /// What the codes are offset by (weight = (code − offset) · d): 8 for
    /// Q4_0, 16 for Q5_0, 0 for the two-term formats.
    pub(crate) offset: i32,
    /// K-quant form (Q4_K): each 256-weight super-block is one group of 8
    /// sub-blocks; `d` and `m` are per super-block (d, dmin) and `sc`,
    /// `mins` are the sub-blocks' 6-bit scales and mins, 8 per super-block.
    pub(crate) k: bool,
    pub(crate) sc: Vec<i32>,
    pub(crate) mins: Vec<i32>,
}

/// The shape of `op`'s unpacked form: block bytes, where the f16 factors
/// and the code bits sit, and the code offset. `None`: no unpacked form.
struct Layout {
    bytes: usize,
    /// Byte of the second f16 factor `m`, if the format has one.
    m_at: Option<usize>,
    /// Byte of the 32-bit high-bit word (5-bit formats).
    qh_at: Option<usize>,
    qs_at: usize,
    offset: i32,
}

/// Bytes of one block of `op`'s weights (the format files own the layouts;
/// they dispatch to the x86 kernels, which read this file, so importing them
/// here would make a cycle).
fn bytes(op: Op) -> usize {
    op.weights().type_size() as usize
}

fn layout(op: Op) -> Option<Layout> {
    let l = |bytes, m_at, qh_at, qs_at, offset| Layout {
        bytes,
        m_at,
        qh_at,
        qs_at,
        offset,
    };
    match op {
        Op::Q4_0Q8_0 => Some(l(bytes(op), None, None, 2, 8)),
        Op::Q5_0Q8_0 => Some(l(bytes(op), None, Some(2), 6, 16)),
        Op::Q4_1Q8_1 => Some(l(bytes(op), Some(2), None, 4, 0)),
        Op::Q5_1Q8_1 => Some(l(bytes(op), Some(2), Some(4), 8, 0)),
        _ => None,
    }
}

/// Whether `op` has an unpacked form (and so a batch kernel).
pub fn has_form(op: Op) -> bool {
    op == Op::Q4KQ8K || layout(op).is_some()
}

impl Unpacked {
    /// Unpacks `row` of `op`'s format into `self` (buffers reused). Returns
    /// false, leaving `self` as it was, if `op` has no unpacked form.
    pub fn fill(&mut self, op: Op, row: &[u8]) -> bool {
        if op == Op::Q4KQ8K {
            self.fill_q4_k(row);
            return true;
        }
        let Some(l) = layout(op) else {
            return false;
        };
        self.k = false;
        assert!(row.len().is_multiple_of(l.bytes), "row is not whole blocks");
        let n = row.len() / l.bytes;
        self.offset = l.offset;
        self.d.clear();
        self.m.clear();
        self.codes.clear();
        self.codes.resize(n.div_ceil(GROUP) * GROUP * 32, 0);
        let mut c = [0u8; 32];
        for (b, blk) in row.chunks_exact(l.bytes).enumerate() {
            self.d.push(f16_at(blk, 0));
            if let Some(at) = l.m_at {
                self.m.push(f16_at(blk, at));
            }
            codes_of(blk, &l, &mut c);
            place(&mut self.codes, b, &c);
        }
        true
    }

    /// Q4_K: sub-block 2c is the low nibbles of `qs[32c..32c + 32]`, 2c + 1
    /// their high nibbles (elements 32j..32j + 32 for sub-block j).
    fn fill_q4_k(&mut self, row: &[u8]) {
        assert!(
            row.len().is_multiple_of(q4_k::BYTES),
            "row is not whole blocks"
        );
        let n = row.len() / q4_k::BYTES;
        (self.k, self.offset) = (true, 0);
        self.d.clear();
        self.m.clear();
        self.sc.clear();
        self.mins.clear();
        self.codes.clear();
        self.codes.resize(n * GROUP * 32, 0);
        for (g, blk) in row.chunks_exact(q4_k::BYTES).enumerate() {
            self.d.push(f16_at(blk, 0));
            self.m.push(f16_at(blk, 2));
            let (sc, m) = q4_k::scales_mins(&blk[4..16]);
            self.sc.extend(sc.map(i32::from));
            self.mins.extend(m.map(i32::from));
            for (c, q) in blk[16..].chunks_exact(32).enumerate() {
                let lo: [u8; 32] = std::array::from_fn(|i| q[i] & 15);
                let hi: [u8; 32] = std::array::from_fn(|i| q[i] >> 4);
                place(&mut self.codes, g * GROUP + 2 * c, &lo);
                place(&mut self.codes, g * GROUP + 2 * c + 1, &hi);
            }
        }
    }

    /// Whether this is the K-quant form.
    pub fn is_k(&self) -> bool {
        self.k
    }

    pub fn blocks(&self) -> usize {
        self.d.len()
    }
}

/// Blocks per interleaved group.
pub const GROUP: usize = 8;

/// Byte of element i of block b in the interleaved layout.
#[inline]
fn at(b: usize, i: usize) -> usize {
    (b / GROUP) * GROUP * 32 + (i / 4) * 32 + (b % GROUP) * 4 + i % 4
}

/// Writes block b's 32 bytes into the interleaved layout.
#[inline]
fn place<T: Copy>(out: &mut [T], b: usize, v: &[T; 32]) {
    for (c, piece) in v.chunks_exact(4).enumerate() {
        let o = at(b, c * 4);
        out[o..o + 4].copy_from_slice(piece);
    }
}

/// The activation quants of `n` 32-byte blocks (`block(b)`) in the
/// interleaved layout (into `out`, reused), the last group padded with zeros.
pub fn interleave<'b>(n: usize, block: impl Fn(usize) -> &'b [i8; 32], out: &mut Vec<i8>) {
    out.clear();
    out.resize(n.div_ceil(GROUP) * GROUP * 32, 0);
    for b in 0..n {
        place(out, b, block(b));
    }
}

/// One block's 32 codes (nibble, plus 16 for each set bit of `qh`).
fn codes_of(blk: &[u8], l: &Layout, out: &mut [u8; 32]) {
    #[cfg(target_arch = "x86_64")]
    if Isa::Avx2.available() {
        // SAFETY: AVX2 checked just above; the block holds qs (16 bytes at
        // qs_at) and qh (4 bytes at qh_at), as the layouts say.
        unsafe { super::x86::unpack_block_avx2(blk, l.qs_at, l.qh_at, out) };
        return;
    }
    let qs = &blk[l.qs_at..l.qs_at + 16];
    let qh = l.qh_at.map_or(0, |at| {
        u32::from_le_bytes(blk[at..at + 4].try_into().expect("4 bytes"))
    });
    for (i, o) in out.iter_mut().enumerate() {
        let nib = if i < 16 { qs[i] & 15 } else { qs[i - 16] >> 4 };
        *o = nib | ((((qh >> i) & 1) as u8) << 4);
    }
}

/// The per-block activation terms an unpacked row meets: the quantized
/// values, the scales `d`, and either Σ y (one-term formats, for the
/// offset; K-quants, per 32-weight sub-block, for the mins) or `s`
/// (two-term formats). K-quant activations (Q8_K) have `d` per 256.
pub struct ActBlocks<'a> {
    /// The quants, [`interleave`]d.
    pub qs: &'a [i8],
    pub d: &'a [f32],
    pub sum: &'a [i32],
    pub s: &'a [f32],
}

/// The scalar reference: [`super::dot::combine_row`] or
/// [`super::dot::combine_row2`] over the unpacked codes.
pub fn dot_scalar(u: &Unpacked, a: &ActBlocks) -> f32 {
    if u.k {
        return dot_scalar_k(u, a);
    }
    let n = u.blocks();
    assert!(
        a.qs.len() >= u.codes.len() && a.d.len() >= n,
        "row and activations disagree"
    );
    let sumi = |b: usize| -> i32 {
        let s: i32 = (0..32)
            .map(|i| u.codes[at(b, i)] as i32 * a.qs[at(b, i)] as i32)
            .sum();
        if u.offset != 0 {
            s - u.offset * a.sum[b]
        } else {
            s
        }
    };
    if u.m.is_empty() {
        super::dot::combine_row(
            n,
            |b| a.d[b],
            |b0, s, ws| {
                for i in 0..s.len() {
                    s[i] = sumi(b0 + i);
                    ws[i] = u.d[b0 + i];
                }
            },
        )
    } else {
        super::dot::combine_row2(
            n,
            |b| (a.d[b], a.s[b]),
            |b0, s1, w1, s2, w2| {
                for i in 0..s1.len() {
                    s1[i] = sumi(b0 + i);
                    w1[i] = u.d[b0 + i];
                    s2[i] = 1;
                    w2[i] = u.m[b0 + i];
                }
            },
        )
    }
}

/// Q4_K's two-term combination over super-blocks (`q4_k::two_term_scalar`):
/// s1 = Σ_j sc_j · Σ q·y over sub-block j, s2 = −Σ_j min_j · Σ y over it.
fn dot_scalar_k(u: &Unpacked, a: &ActBlocks) -> f32 {
    let n = u.blocks();
    assert!(
        a.qs.len() >= u.codes.len() && a.d.len() >= n && a.sum.len() >= n * GROUP,
        "row and activations disagree"
    );
    let sums = |g: usize| -> (i32, i32) {
        let mut s1 = 0;
        let mut s2 = 0;
        for j in 0..GROUP {
            let b = g * GROUP + j;
            let s: i32 = (0..32)
                .map(|i| u.codes[at(b, i)] as i32 * a.qs[at(b, i)] as i32)
                .sum();
            s1 += u.sc[b] * s;
            s2 += u.mins[b] * a.sum[b];
        }
        (s1, -s2)
    };
    super::dot::combine_row2(
        n,
        |g| (a.d[g], a.d[g]),
        |g0, s1, w1, s2, w2| {
            for i in 0..s1.len() {
                (s1[i], s2[i]) = sums(g0 + i);
                w1[i] = u.d[g0 + i];
                w2[i] = u.m[g0 + i];
            }
        },
    )
}
