//! Q4_K: super-blocks of 256 values in 8 sub-blocks of 32; 144 bytes:
//! `d: f16`, `dmin: f16`, `scales: [u8; 12]` (8 six-bit scales and 8 six-bit
//! mins, packed as ggml's `get_scale_min_k4` reads them), `qs: [u8; 128]`.
//! Bytes `qs[32c..32c + 32]` hold sub-block 2c in their low nibbles and
//! sub-block 2c + 1 in their high nibbles; x = (d·sc_j)·q − dmin·m_j.
//!
//! Dot with Q8_K, per block, as exact integers: `s1 = Σ_j sc_j Σ_{i∈j} q_i y_i`
//! and `s2 = −Σ_j m_j (bsum_2j + bsum_2j+1)`; the row is
//! [`combine_row2`] of `(d·y.d)·s1 + (dmin·y.d)·s2`.

use super::dot::combine_row2;
use super::f16_at;
use super::kernels::Isa;
use super::q8_k::Q8K;

pub const BLOCK: usize = 256;
pub const BYTES: usize = 144;

/// The 8 scales and 8 mins (6 bits each) of the 12-byte K-quant scale field,
/// as ggml's `get_scale_min_k4`: for j < 4, sc = s[j] & 63 and m = s[j+4] & 63;
/// for j >= 4, sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4 and
/// m = (s[j+4] >> 4) | (s[j] >> 6) << 4. Shared with Q5_K.
pub fn scales_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut m) = ([0u8; 8], [0u8; 8]);
    for j in 0..4 {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 15) | ((s[j] >> 6) << 4);
        m[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
    }
    (sc, m)
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let (sc, m) = scales_mins(&blk[4..16]);
        for (c, q) in blk[16..].chunks_exact(32).enumerate() {
            let (d1, m1) = (d * sc[2 * c] as f32, dmin * m[2 * c] as f32);
            out.extend(q.iter().map(|&b| d1 * (b & 15) as f32 - m1));
            let (d2, m2) = (d * sc[2 * c + 1] as f32, dmin * m[2 * c + 1] as f32);
            out.extend(q.iter().map(|&b| d2 * (b >> 4) as f32 - m2));
        }
    }
}

/// −Σ_j m_j (bsum_2j + bsum_2j+1): the min term of a Q4_K or Q5_K block.
pub(crate) fn minus_mins(m: &[u8; 8], y: &Q8K) -> i32 {
    -(0..8)
        .map(|j| m[j] as i32 * (y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32))
        .sum::<i32>()
}

/// The block's two exact integers `(s1, s2)` (see the module docs).
pub fn block_sums(w: &[u8], y: &Q8K) -> (i32, i32) {
    let (sc, m) = scales_mins(&w[4..16]);
    let mut s1 = 0i32;
    for (c, q) in w[16..BYTES].chunks_exact(32).enumerate() {
        let ys = &y.qs[64 * c..64 * c + 64];
        let lo: i32 = q
            .iter()
            .zip(&ys[..32])
            .map(|(&b, &v)| (b & 15) as i32 * v as i32)
            .sum();
        let hi: i32 = q
            .iter()
            .zip(&ys[32..])
            .map(|(&b, &v)| (b >> 4) as i32 * v as i32)
            .sum();
        s1 += sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi;
    }
    (s1, minus_mins(&m, y))
}

/// The scalar reference dot of one row with Q8_K activations.
pub fn dot_scalar(row: &[u8], act: &[Q8K]) -> f32 {
    two_term_scalar(row, BYTES, act, block_sums)
}

/// A two-term K-quant row (d at byte 0, dmin at byte 2) from scalar block sums.
pub(crate) fn two_term_scalar(
    row: &[u8],
    bytes: usize,
    act: &[Q8K],
    sums: fn(&[u8], &Q8K) -> (i32, i32),
) -> f32 {
    two_term_scalar_at(row, bytes, 0, 2, act, sums)
}

/// As [`two_term_scalar`] with d and dmin at bytes `d_at` and `dmin_at`.
pub(crate) fn two_term_scalar_at(
    row: &[u8],
    bytes: usize,
    d_at: usize,
    dmin_at: usize,
    act: &[Q8K],
    sums: fn(&[u8], &Q8K) -> (i32, i32),
) -> f32 {
    let n = row.len() / bytes;
    assert!(
        row.len().is_multiple_of(bytes) && act.len() >= n,
        "row and activations disagree"
    );
    let blk = |b: usize| &row[b * bytes..(b + 1) * bytes];
    combine_row2(
        n,
        |b| (act[b].d, act[b].d),
        |b0, s1, w1, s2, w2| {
            for i in 0..s1.len() {
                let w = blk(b0 + i);
                (s1[i], s2[i]) = sums(w, &act[b0 + i]);
                w1[i] = f16_at(w, d_at);
                w2[i] = f16_at(w, dmin_at);
            }
        },
    )
}

/// [`block_sums`] with NEON computing the scaled code sums.
#[cfg(target_arch = "aarch64")]
fn neon_sums(w: &[u8], y: &Q8K) -> (i32, i32) {
    let (sc, m) = scales_mins(&w[4..16]);
    // SAFETY: NEON is baseline on aarch64; `w` is a whole block.
    let s1 = unsafe { super::neon::q4_k_scaled_sumi(w, &sc, y) };
    (s1, minus_mins(&m, y))
}

/// One row's dot product at `isa` (the dispatcher already mapped it to an
/// ISA this format has a kernel for).
pub(crate) fn row(isa: Isa, row: &[u8], act: &[Q8K]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_kquants as x;
        // AVX2 is this format's best x86 kernel (see x86_kquants.rs)
        let chunk: Option<x::Chunk2> = match isa {
            Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni => Some(x::q4_k_chunk_avx2),
            Isa::Scalar | Isa::Neon => None,
        };
        if let Some(f) = chunk {
            // SAFETY: MatVec::new or checked_dot verified that the host has
            // `isa`, the ISA of `f`.
            return unsafe { x::row2(row, BYTES, act, f) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    if isa == Isa::Neon {
        return two_term_scalar(row, BYTES, act, neon_sums);
    }
    let _ = isa;
    dot_scalar(row, act)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_mins_unpack_like_get_scale_min_k4() {
        let s: Vec<u8> = (0..12).map(|i| (i * 37 + 11) as u8).collect();
        let (sc, m) = scales_mins(&s);
        for j in 0..8 {
            let (d, mm) = if j < 4 {
                (s[j] & 63, s[j + 4] & 63)
            } else {
                (
                    (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
                    (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
                )
            };
            assert_eq!((sc[j], m[j]), (d, mm), "j={j}");
        }
    }
}
