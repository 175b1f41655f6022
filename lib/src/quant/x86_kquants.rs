//! x86-64 kernels of the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against
//! Q8_K activations: AVX2 for all five, AVX-512 for Q3_K. Each computes
//! exactly the integers its scalar twin in `q*_k.rs` computes (`block_sums` /
//! `block_sumi`); the float combination is `dot::combine_row` /
//! `combine_row2`, shared with the scalar path, so every ISA returns the same
//! bits. `lib/tests/kernels_kquants.rs` holds them equal.
//!
//! Integer bounds (|y| <= 128 covers every int8): `maddubs` multiplies the
//! unsigned weight codes (Q2_K 0..3, Q3_K 0..7, Q4_K 0..15, Q5_K 0..31, Q6_K
//! 0..63) by int8 activations, so a pair sum is at most 2·63·128 = 16128 and
//! never saturates. Where a format's values are offset (a Q3_K code is its
//! value plus 4, a Q6_K code its value plus 32), the offset times the
//! sub-block scale is taken back through Q8_K's `bsums`, as ggml does. Every
//! i32 sum stays far below 2^31 (Q6_K's scaled sums, the largest, are below
//! 256·63·128·128 < 2^28).
//!
//! Why no other AVX-512 or VNNI kernels: on Zen 4 (the project's machines)
//! 512-bit integer instructions run as two 256-bit halves, and the K-quants'
//! per-sub-block scales leave little for wider registers to save. Measured
//! (4096-wide rows, best of 300 runs): AVX-512 versions of Q2_K, Q4_K and
//! Q5_K ran 9-19% slower than AVX2, Q6_K's equal; VNNI, either `vpdpwssd`
//! fusing the scale multiply-add or `vpdpbusd` sub-block sums scaled once per
//! block, was no faster than AVX2 (Q4_K's 18% slower). Only Q3_K, whose
//! high-bit plane unpacks two groups per 512-bit shift, gained (8%).
//!
//! Safety: every kernel is `unsafe` because of `#[target_feature]`; the
//! format's `row` function only calls an ISA's kernels after `MatVec::new` or
//! `checked_dot` checked that the host has its features. Loads are unaligned
//! and stay inside the block slices, whose lengths the chunk kernels assert.

#![allow(unsafe_op_in_unsafe_fn)]

use super::dot::{combine_row, combine_row2};
use super::q8_k::Q8K;
use super::x86::{hsum_i32_256, reduce8x8};
use std::arch::x86_64::*;

/// A one-term chunk kernel: block sums and weight scales of consecutive blocks.
pub(crate) type Chunk1 = unsafe fn(&[u8], &[Q8K], &mut [i32], &mut [f32]);
/// A two-term chunk kernel: `(s1, d, s2, dmin)` of consecutive blocks.
pub(crate) type Chunk2 = unsafe fn(&[u8], &[Q8K], &mut [i32], &mut [f32], &mut [i32], &mut [f32]);

/// A one-term K-quant row through `chunk` and the canonical combination.
///
/// # Safety
/// The host has the target features `chunk` was compiled for.
pub(crate) unsafe fn row1(row: &[u8], bytes: usize, act: &[Q8K], chunk: Chunk1) -> f32 {
    let n = row.len() / bytes;
    assert!(
        row.len().is_multiple_of(bytes) && act.len() >= n,
        "row and activations disagree"
    );
    combine_row(
        n,
        |b| act[b].d,
        |b0, s, ws| chunk(&row[b0 * bytes..(b0 + s.len()) * bytes], &act[b0..], s, ws),
    )
}

/// A two-term K-quant row through `chunk` and the canonical combination.
///
/// # Safety
/// The host has the target features `chunk` was compiled for.
pub(crate) unsafe fn row2(row: &[u8], bytes: usize, act: &[Q8K], chunk: Chunk2) -> f32 {
    let n = row.len() / bytes;
    assert!(
        row.len().is_multiple_of(bytes) && act.len() >= n,
        "row and activations disagree"
    );
    combine_row2(
        n,
        |b| (act[b].d, act[b].d),
        |b0, s1, w1, s2, w2| {
            chunk(
                &row[b0 * bytes..(b0 + s1.len()) * bytes],
                &act[b0..],
                s1,
                w1,
                s2,
                w2,
            )
        },
    )
}

// ---- shared helpers -----------------------------------------------------------

/// The f16 (`u16` LE) at `p` as f32 (F16C; every f16 -> f32 conversion is exact).
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn f16_at(p: *const u8) -> f32 {
    let h = (p as *const u16).read_unaligned();
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
}

/// The f16 pair (d, dmin) at `p` as f32s.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn f16_pair_at(p: *const u8) -> (f32, f32) {
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128((p as *const i32).read_unaligned()));
    (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v)))
}

/// The f16s at `p + j·stride`, j < 8, converted to f32 in `out`: built in a
/// register (gathering them through memory would stall store forwarding).
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn f16x8_at(p: *const u8, stride: usize, out: &mut [f32]) {
    debug_assert!(out.len() >= 8);
    let h = |j: usize| (p.add(j * stride) as *const i16).read_unaligned();
    let v = _mm_setr_epi16(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7));
    _mm256_storeu_ps(out.as_mut_ptr(), _mm256_cvtph_ps(v));
}

/// The f16 pairs (d, dmin) at `p + j·stride`, j < 8, as f32s in `d` and `dmin`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn f16x8_pairs_at(p: *const u8, stride: usize, d: &mut [f32], dmin: &mut [f32]) {
    debug_assert!(d.len() >= 8 && dmin.len() >= 8);
    let w = |j: usize| (p.add(j * stride) as *const i32).read_unaligned();
    let v = _mm256_setr_epi32(w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7));
    // per 128-bit lane (d0 m0 d1 m1 d2 m2 d3 m3) -> (d0 d1 d2 d3 m0 m1 m2 m3),
    // then the 64-bit quarters in the order d0-3, d4-7, m0-3, m4-7
    let split = _mm256_setr_epi8(
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, //
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
    );
    let q = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_shuffle_epi8(v, split));
    _mm256_storeu_ps(d.as_mut_ptr(), _mm256_cvtph_ps(_mm256_castsi256_si128(q)));
    _mm256_storeu_ps(
        dmin.as_mut_ptr(),
        _mm256_cvtph_ps(_mm256_extracti128_si256::<1>(q)),
    );
}

/// The shuffle control that repeats 16-bit element `a` of each 128-bit lane
/// in the low half and element `b` in the high half.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn pick16(a: usize, b: usize) -> __m256i {
    let c = |i: usize| (((2 * i + 1) << 8) | (2 * i)) as i16;
    _mm256_set_m128i(_mm_set1_epi16(c(b)), _mm_set1_epi16(c(a)))
}

/// Q8_K's 16 bsums.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn bsums(y: &Q8K) -> __m256i {
    _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i)
}

/// Lanes of `s − 2^shift · Σ_j sc_j bsum_j` (the code offset taken back).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn minus_offset<const SHIFT: i32>(s: __m256i, sc16: __m256i, y: &Q8K) -> __m256i {
    let off = _mm256_madd_epi16(bsums(y), sc16);
    _mm256_sub_epi32(s, _mm256_slli_epi32::<SHIFT>(off))
}

/// One-term chunk kernels from a lanes function (one i32 vector per block
/// whose lanes sum to the block's integer); eight blocks reduce together.
macro_rules! chunk1 {
    ($name:ident, $features:literal, $lanes:ident, $bytes:expr, $d_at:expr) => {
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(row: &[u8], act: &[Q8K], sumi: &mut [i32], ws: &mut [f32]) {
            let k = sumi.len();
            assert!(row.len() >= k * $bytes && act.len() >= k && ws.len() == k);
            let blk = |b: usize| &row[b * $bytes..(b + 1) * $bytes];
            let mut v = [_mm256_setzero_si256(); 8];
            let mut i = 0;
            while i + 8 <= k {
                for (j, lane) in v.iter_mut().enumerate() {
                    *lane = $lanes(blk(i + j), &act[i + j]);
                }
                _mm256_storeu_si256(sumi[i..i + 8].as_mut_ptr() as *mut __m256i, reduce8x8(&v));
                f16x8_at(
                    row.as_ptr().add(i * $bytes + $d_at),
                    $bytes,
                    &mut ws[i..i + 8],
                );
                i += 8;
            }
            while i < k {
                sumi[i] = hsum_i32_256($lanes(blk(i), &act[i]));
                ws[i] = f16_at(row.as_ptr().add(i * $bytes + $d_at));
                i += 1;
            }
        }
    };
}

/// Two-term chunk kernels: the lanes function returns (lanes of s1, lanes of
/// −s2); d and dmin are the f16s at bytes `$d_at` and `$d_at + 2`.
macro_rules! chunk2 {
    ($name:ident, $features:literal, $lanes:ident, $bytes:expr, $d_at:expr) => {
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(
            row: &[u8],
            act: &[Q8K],
            s1: &mut [i32],
            w1: &mut [f32],
            s2: &mut [i32],
            w2: &mut [f32],
        ) {
            let k = s1.len();
            assert!(row.len() >= k * $bytes && act.len() >= k);
            assert!(w1.len() == k && s2.len() == k && w2.len() == k);
            let blk = |b: usize| &row[b * $bytes..(b + 1) * $bytes];
            let mut v1 = [_mm256_setzero_si256(); 8];
            let mut v2 = [_mm256_setzero_si256(); 8];
            let mut i = 0;
            while i + 8 <= k {
                for j in 0..8 {
                    (v1[j], v2[j]) = $lanes(blk(i + j), &act[i + j]);
                }
                _mm256_storeu_si256(s1[i..i + 8].as_mut_ptr() as *mut __m256i, reduce8x8(&v1));
                let neg = _mm256_sub_epi32(_mm256_setzero_si256(), reduce8x8(&v2));
                _mm256_storeu_si256(s2[i..i + 8].as_mut_ptr() as *mut __m256i, neg);
                f16x8_pairs_at(
                    row.as_ptr().add(i * $bytes + $d_at),
                    $bytes,
                    &mut w1[i..i + 8],
                    &mut w2[i..i + 8],
                );
                i += 8;
            }
            while i < k {
                let (a, b) = $lanes(blk(i), &act[i]);
                s1[i] = hsum_i32_256(a);
                s2[i] = -hsum_i32_256(b);
                (w1[i], w2[i]) = f16_pair_at(row.as_ptr().add(i * $bytes + $d_at));
                i += 1;
            }
        }
    };
}

// ---- Q4_K and Q5_K: eight sub-blocks of 32, 6-bit scales and mins ---------------

/// The 8 six-bit scales (bytes 0..8) and 8 mins (bytes 8..16) of the
/// 12-byte scale field at `p` (= `q4_k::scales_mins`), unpacked in 32-bit
/// lanes: with words a, b, c of the field, the lanes are a & 0x3f..,
/// (c & 0x0f..) | (a >> 2) & 0x30.., b & 0x3f.., (c >> 4) & 0x0f.. | (b >> 2) & 0x30..
/// Reads 16 bytes: the caller's block has them.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn k4_scales_mins(p: *const u8) -> __m128i {
    let v = _mm_loadu_si128(p as *const __m128i);
    let acbc = _mm_shuffle_epi32::<0b10_01_10_00>(v);
    let aabb = _mm_shuffle_epi32::<0b01_01_00_00>(v);
    let low = _mm_and_si128(
        _mm_srlv_epi32(acbc, _mm_setr_epi32(0, 0, 0, 4)),
        _mm_setr_epi32(0x3f3f_3f3f, 0x0f0f_0f0f, 0x3f3f_3f3f, 0x0f0f_0f0f),
    );
    let high = _mm_and_si128(
        _mm_srli_epi32::<2>(aabb),
        _mm_setr_epi32(0, 0x3030_3030, 0, 0x3030_3030),
    );
    _mm_or_si128(low, high)
}

/// Lanes of Σ_j m_j (bsum_2j + bsum_2j+1) from the unpacked scales and mins.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn k4_min_lanes(sm: __m128i, y: &Q8K) -> __m256i {
    let dup = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    let mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm, dup));
    _mm256_madd_epi16(bsums(y), mins)
}

/// Lanes of Σ_j sc_j Σ code·y, where `u(c)` gives the 32 codes of sub-block
/// 2c and those of sub-block 2c + 1 (activations y[64c..64c + 64]).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn k4_scaled(sm: __m128i, y: &Q8K, u: impl Fn(usize) -> [__m256i; 2]) -> __m256i {
    let sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    let q = y.qs.as_ptr();
    let mut acc = _mm256_setzero_si256();
    for c in 0..4 {
        let [lo, hi] = u(c);
        let plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(q.add(64 * c) as *const __m256i));
        let phi =
            _mm256_maddubs_epi16(hi, _mm256_loadu_si256(q.add(64 * c + 32) as *const __m256i));
        let slo = _mm256_shuffle_epi8(sc, pick16(2 * c, 2 * c));
        let shi = _mm256_shuffle_epi8(sc, pick16(2 * c + 1, 2 * c + 1));
        acc = _mm256_add_epi32(
            acc,
            _mm256_add_epi32(_mm256_madd_epi16(plo, slo), _mm256_madd_epi16(phi, shi)),
        );
    }
    acc
}

/// Q4_K: d at 0, dmin at 2, scales at 4, qs [u8; 128] at 16.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q4_k_lanes_avx2(w: &[u8], y: &Q8K) -> (__m256i, __m256i) {
    debug_assert!(w.len() >= 144);
    let sm = k4_scales_mins(w.as_ptr().add(4));
    let m4 = _mm256_set1_epi8(15);
    let qs = w.as_ptr().add(16);
    let s = k4_scaled(sm, y, |c| {
        let b = _mm256_loadu_si256(qs.add(32 * c) as *const __m256i);
        [
            _mm256_and_si256(b, m4),
            _mm256_and_si256(_mm256_srli_epi16::<4>(b), m4),
        ]
    });
    (s, k4_min_lanes(sm, y))
}

/// Q5_K: d at 0, dmin at 2, scales at 4, qh [u8; 32] at 16, qs [u8; 128] at 48.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q5_k_lanes_avx2(w: &[u8], y: &Q8K) -> (__m256i, __m256i) {
    debug_assert!(w.len() >= 176);
    let sm = k4_scales_mins(w.as_ptr().add(4));
    let m4 = _mm256_set1_epi8(15);
    let bit4 = _mm256_set1_epi8(16);
    let qh = _mm256_loadu_si256(w.as_ptr().add(16) as *const __m256i);
    let qs = w.as_ptr().add(48);
    let s = k4_scaled(sm, y, |c| {
        let b = _mm256_loadu_si256(qs.add(32 * c) as *const __m256i);
        // bits 2c and 2c + 1 of each qh byte, moved to bit 4 (16-bit shifts by
        // at most 6: the masks drop what crosses a byte boundary)
        let h = match c {
            0 => qh,
            1 => _mm256_srli_epi16::<2>(qh),
            2 => _mm256_srli_epi16::<4>(qh),
            _ => _mm256_srli_epi16::<6>(qh),
        };
        [
            _mm256_or_si256(
                _mm256_and_si256(b, m4),
                _mm256_and_si256(_mm256_slli_epi16::<4>(h), bit4),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(b), m4),
                _mm256_and_si256(_mm256_slli_epi16::<3>(h), bit4),
            ),
        ]
    });
    (s, k4_min_lanes(sm, y))
}

chunk2!(q4_k_chunk_avx2, "avx2,fma,f16c", q4_k_lanes_avx2, 144, 0);
chunk2!(q5_k_chunk_avx2, "avx2,fma,f16c", q5_k_lanes_avx2, 176, 0);

// ---- Q2_K, Q3_K, Q6_K: sixteen sub-blocks of 16 ---------------------------------

/// Lanes of Σ_j sc_j Σ code·y over the eight 32-wide code vectors `u(g)`
/// (elements 32g..32g + 32, sub-blocks 2g and 2g + 1), with the 16 scales as
/// signed 16-bit lanes `sc16`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn sub16_scaled(sc16: __m256i, y: &Q8K, u: impl Fn(usize) -> __m256i) -> __m256i {
    let lo = _mm256_permute2x128_si256::<0x00>(sc16, sc16);
    let hi = _mm256_permute2x128_si256::<0x11>(sc16, sc16);
    let q = y.qs.as_ptr();
    let mut acc = _mm256_setzero_si256();
    for g in 0..8 {
        let p = _mm256_maddubs_epi16(u(g), _mm256_loadu_si256(q.add(32 * g) as *const __m256i));
        let half = if g < 4 { lo } else { hi };
        let k = 2 * (g % 4);
        let s = _mm256_shuffle_epi8(half, pick16(k, k + 1));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
    }
    acc
}

// Q2_K: scales [u8; 16] at 0, qs [u8; 64] at 16, d at 80, dmin at 82.

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q2_k_lanes_avx2(w: &[u8], y: &Q8K) -> (__m256i, __m256i) {
    debug_assert!(w.len() >= 84);
    let s = _mm_loadu_si128(w.as_ptr() as *const __m128i);
    let m4 = _mm_set1_epi8(15);
    let sc = _mm256_cvtepu8_epi16(_mm_and_si128(s, m4));
    let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(s), m4));
    let m2 = _mm256_set1_epi8(3);
    let qs = w.as_ptr().add(16);
    let s = sub16_scaled(sc, y, |g| {
        // group g = 4n + j: (qs[32n + l] >> 2j) & 3
        let b = _mm256_loadu_si256(qs.add(32 * (g / 4)) as *const __m256i);
        let b = match g % 4 {
            0 => b,
            1 => _mm256_srli_epi16::<2>(b),
            2 => _mm256_srli_epi16::<4>(b),
            _ => _mm256_srli_epi16::<6>(b),
        };
        _mm256_and_si256(b, m2)
    });
    (s, _mm256_madd_epi16(bsums(y), mins))
}

chunk2!(q2_k_chunk_avx2, "avx2,fma,f16c", q2_k_lanes_avx2, 84, 80);

// Q3_K: hmask [u8; 32] at 0, qs [u8; 64] at 32, scales [u8; 12] at 96, d at 108.
// Codes are value + 4 = low | high bit << 2 (0..8); Σ (code − 4)·y over a
// sub-block is Σ code·y − 4·bsum_j.

/// The 16 scales − 32 (= `q3_k::scales`) as signed 16-bit lanes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q3_k_scales(s: &[u8]) -> __m256i {
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (a, b, c) = (word(0), word(1), word(2));
    let v = _mm_setr_epi32(
        ((a & LOW4) | ((c & LOW2) << 4)) as i32,
        ((b & LOW4) | (((c >> 2) & LOW2) << 4)) as i32,
        (((a >> 4) & LOW4) | (((c >> 4) & LOW2) << 4)) as i32,
        (((b >> 4) & LOW4) | (((c >> 6) & LOW2) << 4)) as i32,
    );
    _mm256_cvtepi8_epi16(_mm_sub_epi8(v, _mm_set1_epi8(32)))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q3_k_lanes_avx2(w: &[u8], y: &Q8K) -> __m256i {
    debug_assert!(w.len() >= 110);
    let sc = q3_k_scales(&w[96..108]);
    let m2 = _mm256_set1_epi8(3);
    let bit2 = _mm256_set1_epi8(4);
    let hm = _mm256_loadu_si256(w.as_ptr() as *const __m256i);
    let qs = w.as_ptr().add(32);
    let s = sub16_scaled(sc, y, |g| {
        // group g = 4n + j: low bits (qs[32n + l] >> 2j) & 3, high bit g of
        // hmask[l] moved to bit 2 (16-bit shifts; the mask drops the spill)
        let b = _mm256_loadu_si256(qs.add(32 * (g / 4)) as *const __m256i);
        let b = match g % 4 {
            0 => b,
            1 => _mm256_srli_epi16::<2>(b),
            2 => _mm256_srli_epi16::<4>(b),
            _ => _mm256_srli_epi16::<6>(b),
        };
        let h = match g {
            0 => _mm256_slli_epi16::<2>(hm),
            1 => _mm256_slli_epi16::<1>(hm),
            2 => hm,
            3 => _mm256_srli_epi16::<1>(hm),
            4 => _mm256_srli_epi16::<2>(hm),
            5 => _mm256_srli_epi16::<3>(hm),
            6 => _mm256_srli_epi16::<4>(hm),
            _ => _mm256_srli_epi16::<5>(hm),
        };
        _mm256_or_si256(_mm256_and_si256(b, m2), _mm256_and_si256(h, bit2))
    });
    minus_offset::<2>(s, sc, y)
}

/// 32 bytes twice: as loaded in the low half, shifted right by `SHIFT` (16-bit
/// lanes) in the high half.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn twice512<const SHIFT: i32>(p: *const u8) -> __m512i {
    let b = _mm256_loadu_si256(p as *const __m256i);
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(b), _mm256_srli_epi16::<SHIFT>(b))
}

/// Q3_K with 512-bit registers: 64 codes (sub-blocks 4g..4g + 4) per step.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
unsafe fn q3_k_lanes_avx512(w: &[u8], y: &Q8K) -> __m256i {
    debug_assert!(w.len() >= 110);
    let sc16 = q3_k_scales(&w[96..108]);
    // the 8 scales of each half of sc16 in every 128-bit lane; lane L of
    // step g takes scale 4(g % 2) + L of half g / 2
    let halves = [
        _mm512_broadcast_i32x4(_mm256_castsi256_si128(sc16)),
        _mm512_broadcast_i32x4(_mm256_extracti128_si256::<1>(sc16)),
    ];
    let pick = |k: usize| {
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(pick16(k, k + 1)),
            pick16(k + 2, k + 3),
        )
    };
    let picks = [pick(0), pick(4)];
    let m2 = _mm512_set1_epi8(3);
    let bit2 = _mm512_set1_epi8(4);
    let qs = w.as_ptr().add(32);
    let q = y.qs.as_ptr();
    // [hm | hm >> 1], shifted by 2g more, holds hmask bits 2g and 2g + 1 at
    // bit 0 (16-bit shifts by at most 7: each byte keeps its own bits there)
    let hm = twice512::<1>(w.as_ptr());
    let mut acc = _mm512_setzero_si512();
    for g in 0..4 {
        // elements 64g..64g + 64 = groups 2g, 2g + 1: low-bit shifts 0, 2 (g
        // even) or 4, 6 (g odd) of qs[32(g / 2)..]
        let b = twice512::<2>(qs.add(32 * (g / 2)));
        let b = if g % 2 == 0 {
            b
        } else {
            _mm512_srli_epi16::<4>(b)
        };
        let h = match g {
            0 => _mm512_slli_epi16::<2>(hm),
            1 => hm,
            2 => _mm512_srli_epi16::<2>(hm),
            _ => _mm512_srli_epi16::<4>(hm),
        };
        let u = _mm512_or_si512(_mm512_and_si512(b, m2), _mm512_and_si512(h, bit2));
        let p = _mm512_maddubs_epi16(u, _mm512_loadu_si512(q.add(64 * g) as *const _));
        let s = _mm512_shuffle_epi8(halves[g / 2], picks[g % 2]);
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, s));
    }
    let s = _mm256_add_epi32(
        _mm512_castsi512_si256(acc),
        _mm512_extracti64x4_epi64::<1>(acc),
    );
    minus_offset::<2>(s, sc16, y)
}

chunk1!(q3_k_chunk_avx2, "avx2,fma,f16c", q3_k_lanes_avx2, 110, 108);
chunk1!(
    q3_k_chunk_avx512,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    q3_k_lanes_avx512,
    110,
    108
);

// Q6_K: ql [u8; 128] at 0, qh [u8; 64] at 128, scales [i8; 16] at 192, d at 208.
// Codes are value + 32 (0..64); Σ (code − 32)·y = Σ code·y − 32·bsum_j.

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q6_k_lanes_avx2(w: &[u8], y: &Q8K) -> __m256i {
    debug_assert!(w.len() >= 210);
    let sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().add(192) as *const __m128i));
    let m4 = _mm256_set1_epi8(15);
    let m30 = _mm256_set1_epi8(0x30);
    let p = w.as_ptr();
    let s = sub16_scaled(sc, y, |g| {
        // group g = 4n + k: nibble of ql[64n + 32(k & 1) + l] (low for k < 2),
        // bits 2k, 2k + 1 of qh[32n + l] moved to 4, 5
        let (n, k) = (g / 4, g % 4);
        let ql = _mm256_loadu_si256(p.add(64 * n + 32 * (k & 1)) as *const __m256i);
        let qh = _mm256_loadu_si256(p.add(128 + 32 * n) as *const __m256i);
        let lo = if k < 2 {
            _mm256_and_si256(ql, m4)
        } else {
            _mm256_and_si256(_mm256_srli_epi16::<4>(ql), m4)
        };
        let hi = match k {
            0 => _mm256_slli_epi16::<4>(qh),
            1 => _mm256_slli_epi16::<2>(qh),
            2 => qh,
            _ => _mm256_srli_epi16::<2>(qh),
        };
        _mm256_or_si256(lo, _mm256_and_si256(hi, m30))
    });
    minus_offset::<5>(s, sc, y)
}

chunk1!(q6_k_chunk_avx2, "avx2,fma,f16c", q6_k_lanes_avx2, 210, 208);
