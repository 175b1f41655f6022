//! Q3_K: super-blocks of 256 values in 16 sub-blocks of 16; 110 bytes:
//! `hmask: [u8; 32]`, `qs: [u8; 64]`, `scales: [u8; 12]` (16 six-bit scales,
//! biased by 32), `d: f16`. Element `128n + 32j + l` (n < 2, j < 4, l < 32)
//! has low bits `(qs[32n + l] >> 2j) & 3` and high bit `(hmask[l] >> (4n + j)) & 1`;
//! its value is `low − 4` when the high bit is clear, `low` when it is set;
//! x = (d·(sc_j − 32))·q, j = element / 16.
//!
//! Dot with Q8_K, per block, as one exact integer
//! `s = Σ_j (sc_j − 32) Σ_{i∈j} q_i y_i`; the row is `combine_row` of `(d·y.d)·s`.

use super::f16_at;
use super::kernels::Isa;
use super::q6_k::{one_term_scalar, sub16_sumi};
use super::q8_k::Q8K;

pub const BLOCK: usize = 256;
pub const BYTES: usize = 110;

/// The 16 scales minus 32 of the 12-byte field: scale i has low nibble
/// `s[i] & 15` (i < 8) or `s[i − 8] >> 4` (i >= 8), and high bits
/// `(s[8 + i % 4] >> 2(i / 4)) & 3`.
pub fn scales(s: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let lo = if i < 8 { s[i] & 15 } else { s[i - 8] >> 4 };
        let hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        *o = (lo | (hi << 4)) as i8 - 32;
    }
    out
}

/// The 256 values (−4..4) of a block, in element order.
pub fn unpack(w: &[u8]) -> [i8; BLOCK] {
    let mut v = [0i8; BLOCK];
    let hmask = &w[..32];
    for n in 0..2 {
        let qs = &w[32 + 32 * n..64 + 32 * n];
        for j in 0..4 {
            let out = &mut v[128 * n + 32 * j..128 * n + 32 * j + 32];
            for ((o, &b), &h) in out.iter_mut().zip(qs).zip(hmask) {
                let low = ((b >> (2 * j)) & 3) as i8;
                // the high bit set means no offset; clear means − 4
                *o = low - 4 + 4 * ((h >> (4 * n + j)) & 1) as i8;
            }
        }
    }
    v
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f16_at(blk, 108);
        let q = unpack(blk);
        for (sub, &s) in q.chunks_exact(16).zip(&scales(&blk[96..108])) {
            let dl = d * s as f32;
            out.extend(sub.iter().map(|&v| dl * v as f32));
        }
    }
}

/// The block's exact integer `s` (see the module docs).
pub fn block_sumi(w: &[u8], y: &Q8K) -> i32 {
    sub16_sumi(&unpack(w), &scales(&w[96..108]), y)
}

/// The scalar reference dot of one row with Q8_K activations.
pub fn dot_scalar(row: &[u8], act: &[Q8K]) -> f32 {
    one_term_scalar(row, BYTES, 108, act, block_sumi)
}

/// One row's dot product at `isa` (the dispatcher already mapped it to an
/// ISA this format has a kernel for).
pub(crate) fn row(isa: Isa, row: &[u8], act: &[Q8K]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_kquants as x;
        let chunk: Option<x::Chunk1> = match isa {
            Isa::Avx2 => Some(x::q3_k_chunk_avx2),
            Isa::Avx512 | Isa::Avx512Vnni => Some(x::q3_k_chunk_avx512),
            Isa::Scalar | Isa::Neon => None,
        };
        if let Some(f) = chunk {
            // SAFETY: MatVec::new or checked_dot verified that the host has
            // `isa`, the ISA of `f`.
            return unsafe { x::row1(row, BYTES, act, f) };
        }
    }
    let _ = isa;
    dot_scalar(row, act)
}
