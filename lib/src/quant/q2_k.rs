//! Q2_K: super-blocks of 256 values in 16 sub-blocks of 16; 84 bytes:
//! `scales: [u8; 16]` (low nibble: scale, high nibble: min), `qs: [u8; 64]`,
//! `d: f16`, `dmin: f16`. Element `128n + 32j + l` (n < 2, j < 4, l < 32) is
//! `(qs[32n + l] >> 2j) & 3` in sub-block `8n + 2j + l / 16`;
//! x = (d·sc_j)·q − dmin·m_j.
//!
//! Dot with Q8_K, per block, as exact integers: `s1 = Σ_j sc_j Σ_{i∈j} q_i y_i`
//! and `s2 = −Σ_j m_j bsum_j`; the row is `combine_row2` of
//! `(d·y.d)·s1 + (dmin·y.d)·s2`.

use super::f16_at;
use super::kernels::Isa;
use super::q4_k::two_term_scalar_at;
use super::q8_k::Q8K;

pub const BLOCK: usize = 256;
pub const BYTES: usize = 84;

/// The 256 values (0..4) of a block, in element order.
pub fn unpack(w: &[u8]) -> [u8; BLOCK] {
    let mut v = [0u8; BLOCK];
    for n in 0..2 {
        let qs = &w[16 + 32 * n..48 + 32 * n];
        for j in 0..4 {
            let out = &mut v[128 * n + 32 * j..128 * n + 32 * j + 32];
            for (o, &b) in out.iter_mut().zip(qs) {
                *o = (b >> (2 * j)) & 3;
            }
        }
    }
    v
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let (d, dmin) = (f16_at(blk, 80), f16_at(blk, 82));
        let q = unpack(blk);
        for (sub, &s) in q.chunks_exact(16).zip(&blk[..16]) {
            let (dl, ml) = (d * (s & 15) as f32, dmin * (s >> 4) as f32);
            out.extend(sub.iter().map(|&v| dl * v as f32 - ml));
        }
    }
}

/// The block's two exact integers `(s1, s2)` (see the module docs).
pub fn block_sums(w: &[u8], y: &Q8K) -> (i32, i32) {
    let q = unpack(w);
    let (mut s1, mut s2) = (0i32, 0i32);
    for (j, (sub, ys)) in q.chunks_exact(16).zip(y.qs.chunks_exact(16)).enumerate() {
        let dot: i32 = sub.iter().zip(ys).map(|(&a, &b)| a as i32 * b as i32).sum();
        s1 += (w[j] & 15) as i32 * dot;
        s2 -= (w[j] >> 4) as i32 * y.bsums[j] as i32;
    }
    (s1, s2)
}

/// The scalar reference dot of one row with Q8_K activations.
pub fn dot_scalar(row: &[u8], act: &[Q8K]) -> f32 {
    two_term_scalar_at(row, BYTES, 80, 82, act, block_sums)
}

/// One row's dot product at `isa` (the dispatcher already mapped it to an
/// ISA this format has a kernel for).
pub(crate) fn row(isa: Isa, row: &[u8], act: &[Q8K]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_kquants as x;
        // AVX2 is this format's best x86 kernel (see x86_kquants.rs)
        let chunk: Option<x::Chunk2> = match isa {
            Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni => Some(x::q2_k_chunk_avx2),
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
