//! Q5_K: super-blocks of 256 values in 8 sub-blocks of 32; 176 bytes:
//! `d: f16`, `dmin: f16`, `scales: [u8; 12]` (as Q4_K), `qh: [u8; 32]`,
//! `qs: [u8; 128]`. Element `64c + l` (l < 32) is `(qs[32c + l] & 15) |
//! bit 2c of qh[l] << 4`, element `64c + 32 + l` is `(qs[32c + l] >> 4) |
//! bit 2c + 1 of qh[l] << 4`; x = (d·sc_j)·q − dmin·m_j.
//!
//! Dot with Q8_K as Q4_K's: `s1 = Σ_j sc_j Σ_{i∈j} q_i y_i`,
//! `s2 = −Σ_j m_j (bsum_2j + bsum_2j+1)`, combined by `combine_row2`.

use super::f16_at;
use super::kernels::Isa;
use super::q4_k::{minus_mins, scales_mins, two_term_scalar};
use super::q8_k::Q8K;

pub const BLOCK: usize = 256;
pub const BYTES: usize = 176;

/// The 256 values (0..32) of a block, in element order.
pub fn unpack(w: &[u8]) -> [u8; BLOCK] {
    let mut v = [0u8; BLOCK];
    for c in 0..4 {
        let (qs, qh) = (&w[48 + 32 * c..80 + 32 * c], &w[16..48]);
        for l in 0..32 {
            v[64 * c + l] = (qs[l] & 15) | (((qh[l] >> (2 * c)) & 1) << 4);
            v[64 * c + 32 + l] = (qs[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
        }
    }
    v
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let (sc, m) = scales_mins(&blk[4..16]);
        let q = unpack(blk);
        for (j, sub) in q.chunks_exact(32).enumerate() {
            let (dl, ml) = (d * sc[j] as f32, dmin * m[j] as f32);
            out.extend(sub.iter().map(|&v| dl * v as f32 - ml));
        }
    }
}

/// The block's two exact integers `(s1, s2)` (see the module docs).
pub fn block_sums(w: &[u8], y: &Q8K) -> (i32, i32) {
    let (sc, m) = scales_mins(&w[4..16]);
    let q = unpack(w);
    let s1 = q
        .chunks_exact(32)
        .zip(y.qs.chunks_exact(32))
        .zip(sc)
        .map(|((a, b), s)| {
            let dot: i32 = a.iter().zip(b).map(|(&p, &q)| p as i32 * q as i32).sum();
            s as i32 * dot
        })
        .sum();
    (s1, minus_mins(&m, y))
}

/// The scalar reference dot of one row with Q8_K activations.
pub fn dot_scalar(row: &[u8], act: &[Q8K]) -> f32 {
    two_term_scalar(row, BYTES, act, block_sums)
}

/// One row's dot product at `isa` (the dispatcher already mapped it to an
/// ISA this format has a kernel for).
pub(crate) fn row(isa: Isa, row: &[u8], act: &[Q8K]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_kquants as x;
        // AVX2 is this format's best x86 kernel (see x86_kquants.rs)
        let chunk: Option<x::Chunk2> = match isa {
            Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni => Some(x::q5_k_chunk_avx2),
            Isa::Scalar | Isa::Neon => None,
        };
        if let Some(f) = chunk {
            // SAFETY: MatVec::new or checked_dot verified that the host has
            // `isa`, the ISA of `f`.
            return unsafe { x::row2(row, BYTES, act, f) };
        }
    }
    let _ = isa;
    dot_scalar(row, act)
}
