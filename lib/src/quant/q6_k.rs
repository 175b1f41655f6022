//! Q6_K: super-blocks of 256 values in 16 sub-blocks of 16; 210 bytes:
//! `ql: [u8; 128]`, `qh: [u8; 64]`, `scales: [i8; 16]`, `d: f16`. In half
//! `n` (elements 128n..128n + 128; ql from 64n, qh from 32n), element
//! `128n + 32k + l` (k < 4, l < 32) has low nibble `ql[64n + l + 32(k & 1)]`
//! (`& 15` for k < 2, `>> 4` otherwise) and high bits `(qh[32n + l] >> 2k) & 3`;
//! x = (d·sc_j)·(q − 32), j = element / 16.
//!
//! Dot with Q8_K, per block, as one exact integer
//! `s = Σ_j sc_j Σ_{i∈j} (q_i − 32) y_i`; the row is `combine_row` of `(d·y.d)·s`.

use super::dot::combine_row;
use super::f16_at;
use super::kernels::Isa;
use super::q8_k::Q8K;

pub const BLOCK: usize = 256;
pub const BYTES: usize = 210;

/// The 256 values (q − 32, in −32..32) of a block, in element order.
pub fn unpack(w: &[u8]) -> [i8; BLOCK] {
    let mut v = [0i8; BLOCK];
    for n in 0..2 {
        let (ql, qh) = (&w[64 * n..64 * n + 64], &w[128 + 32 * n..160 + 32 * n]);
        let out = &mut v[128 * n..128 * n + 128];
        for l in 0..32 {
            let (a, b, h) = (ql[l], ql[l + 32], qh[l]);
            out[l] = ((a & 15) | ((h & 3) << 4)) as i8 - 32;
            out[l + 32] = ((b & 15) | (((h >> 2) & 3) << 4)) as i8 - 32;
            out[l + 64] = ((a >> 4) | (((h >> 4) & 3) << 4)) as i8 - 32;
            out[l + 96] = ((b >> 4) | (((h >> 6) & 3) << 4)) as i8 - 32;
        }
    }
    v
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f16_at(blk, 208);
        let q = unpack(blk);
        for (j, sub) in q.chunks_exact(16).enumerate() {
            let dl = d * blk[192 + j] as i8 as f32;
            out.extend(sub.iter().map(|&v| dl * v as f32));
        }
    }
}

/// Σ_j sc_j Σ_{i∈j} v_i y_i over 16-value sub-blocks: the one-term K-quants'
/// block sum from unpacked values and sub-block scales.
pub(crate) fn sub16_sumi(v: &[i8; BLOCK], sc: &[i8; 16], y: &Q8K) -> i32 {
    v.chunks_exact(16)
        .zip(y.qs.chunks_exact(16))
        .zip(sc)
        .map(|((a, b), &s)| {
            let dot: i32 = a.iter().zip(b).map(|(&p, &q)| p as i32 * q as i32).sum();
            s as i32 * dot
        })
        .sum()
}

/// The block's exact integer `s` (see the module docs).
pub fn block_sumi(w: &[u8], y: &Q8K) -> i32 {
    let sc: [i8; 16] = std::array::from_fn(|j| w[192 + j] as i8);
    sub16_sumi(&unpack(w), &sc, y)
}

/// A one-term K-quant row (d at byte `d_at`) from scalar block sums.
pub(crate) fn one_term_scalar(
    row: &[u8],
    bytes: usize,
    d_at: usize,
    act: &[Q8K],
    sumi: fn(&[u8], &Q8K) -> i32,
) -> f32 {
    let n = row.len() / bytes;
    assert!(
        row.len().is_multiple_of(bytes) && act.len() >= n,
        "row and activations disagree"
    );
    let blk = |b: usize| &row[b * bytes..(b + 1) * bytes];
    combine_row(
        n,
        |b| act[b].d,
        |b0, s, ws| {
            for i in 0..s.len() {
                let w = blk(b0 + i);
                s[i] = sumi(w, &act[b0 + i]);
                ws[i] = f16_at(w, d_at);
            }
        },
    )
}

/// The scalar reference dot of one row with Q8_K activations.
pub fn dot_scalar(row: &[u8], act: &[Q8K]) -> f32 {
    one_term_scalar(row, BYTES, 208, act, block_sumi)
}

/// One row's dot product at `isa` (the dispatcher already mapped it to an
/// ISA this format has a kernel for).
pub(crate) fn row(isa: Isa, row: &[u8], act: &[Q8K]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_kquants as x;
        // AVX2 is this format's best x86 kernel (see x86_kquants.rs)
        let chunk: Option<x::Chunk1> = match isa {
            Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni => Some(x::q6_k_chunk_avx2),
            Isa::Scalar | Isa::Neon => None,
        };
        if let Some(f) = chunk {
            // SAFETY: MatVec::new or checked_dot verified that the host has
            // `isa`, the ISA of `f`.
            return unsafe { x::row1(row, BYTES, act, f) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    if isa == Isa::Neon {
        // SAFETY: NEON is baseline on aarch64; blocks are whole.
        return one_term_scalar(row, BYTES, 208, act, |w, y| unsafe {
            super::neon::q6_k_sumi(w, y)
        });
    }
    let _ = isa;
    dot_scalar(row, act)
}
