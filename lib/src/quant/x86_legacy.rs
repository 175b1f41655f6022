//! x86-64 kernels of ggml's legacy offset and 5-bit formats: Q4_1 · Q8_1
//! (AVX2), Q5_1 · Q8_1 (AVX2, AVX-512 F/BW/VL) and Q5_0 · Q8_0 (AVX2, AVX-512,
//! AVX-512 VNNI); kernels.rs says why the first two stop where they do, the
//! AVX-512 section below why every kernel works one block per 256-bit
//! register. Each is a whole row: exactly the integer block sums of its
//! scalar twin (`block_sumi` in q4_1.rs, q5_0.rs, q5_1.rs), the blocks' f16
//! factors, and `dot::combine_row` / `dot::combine_row2`'s float arithmetic
//! done eight lanes to a register, so every ISA returns the same bits
//! (lib/tests/kernels_legacy.rs).
//!
//! Integer bounds: weights are unsigned codes q ≤ 31 and activations i8, so a
//! `maddubs` pair is at most 2 · 31 · 128 = 7936 < 32767 (no saturation,
//! whatever the activation bytes). Q5_0's signed weights (q − 16) are handled
//! as Σ q·y − Σ 16·y with both sums from unsigned codes, never by flipping
//! activation signs, so −128 activations are exact too.
//!
//! Safety: every function here is `unsafe` because of `#[target_feature]`; the
//! row dispatchers (`row` in each format file) reach a kernel only for an ISA
//! that `MatVec::new` or `checked_dot` verified the host has. Every row
//! function checks its slices cover the blocks it reads before any raw load.

#![allow(unsafe_op_in_unsafe_fn)]

use super::dot::{reduce8, Q8_0Act};
use super::kernels::Isa;
use super::q8_1::Q8_1Act;
use super::unpacked::{ActBlocks, Unpacked, GROUP};

// Block sizes of the formats (ggml's layouts; the format files own them and a
// test below holds these equal: importing them would make the format files,
// which dispatch to this one, and this file a cycle).
const Q4_1_BYTES: usize = 20;
const Q5_0_BYTES: usize = 22;
const Q5_1_BYTES: usize = 24;
use super::x86::{f16_scales8, high_bits, hsum_i32_256, nibbles, reduce8x8, row1_fused};
use std::arch::x86_64::*;

// ---- the row kernel of an ISA (`None`: scalar) ----------------------------------
// `Op::effective` already mapped the selected ISA to one the op lists
// (kernels.rs says why Q4_1 stops at AVX2 and Q5_1 at AVX-512); the higher
// ISAs here map down the same way.

/// A whole-row two-term kernel (Q4_1, Q5_1).
pub(crate) type Row2Fn = unsafe fn(&[u8], &[Q8_1Act]) -> f32;

pub(crate) fn q4_1_row(isa: Isa) -> Option<Row2Fn> {
    debug_assert!(isa.available(), "{isa:?} kernels on a host without it");
    match isa {
        Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni => Some(q4_1_row_avx2),
        Isa::Scalar | Isa::Neon => None,
    }
}

pub(crate) fn q5_1_row(isa: Isa) -> Option<Row2Fn> {
    debug_assert!(isa.available(), "{isa:?} kernels on a host without it");
    match isa {
        Isa::Avx2 => Some(q5_1_row_avx2),
        Isa::Avx512 | Isa::Avx512Vnni => Some(q5_1_row_avx512),
        Isa::Scalar | Isa::Neon => None,
    }
}

/// A whole-row one-term kernel (Q5_0).
pub(crate) type Row1Fn = unsafe fn(&[u8], &[Q8_0Act]) -> f32;

pub(crate) fn q5_0_row(isa: Isa) -> Option<Row1Fn> {
    debug_assert!(isa.available(), "{isa:?} kernels on a host without it");
    match isa {
        Isa::Avx2 => Some(q5_0_row_avx2),
        Isa::Avx512 => Some(q5_0_row_avx512),
        Isa::Avx512Vnni => Some(q5_0_row_avx512vnni),
        Isa::Scalar | Isa::Neon => None,
    }
}

// ---- shared helpers ------------------------------------------------------------

/// The two f16 factors at bytes 0..2 and 2..4 of eight consecutive
/// `bytes`-byte blocks at `p`, widened by F16C (exact): eight 32-bit words
/// gathered in a register, split into the low and the high halves.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn f16_pairs8(p: *const u8, bytes: usize) -> (__m256, __m256) {
    let word = |b: usize| (p.add(b * bytes) as *const i32).read_unaligned();
    let split = _mm256_setr_epi8(
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, //
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
    );
    let v = _mm256_setr_epi32(
        word(0),
        word(1),
        word(2),
        word(3),
        word(4),
        word(5),
        word(6),
        word(7),
    );
    // per 128-bit half [first f16 x4 | second f16 x4], then halves' quadwords reordered
    let v = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_shuffle_epi8(v, split));
    (
        _mm256_cvtph_ps(_mm256_castsi256_si128(v)),
        _mm256_cvtph_ps(_mm256_extracti128_si256::<1>(v)),
    )
}

// ---- weight unpacking ----------------------------------------------------------

// ---- per-block lanes: AVX2, 8 i32 lanes summing to the block's sumi ------------

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn dot_u8_i8(q: __m256i, y: *const i8) -> __m256i {
    let yv = _mm256_loadu_si256(y as *const __m256i);
    _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), _mm256_set1_epi16(1))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q4_1_lanes(w: *const u8, y: *const i8) -> __m256i {
    dot_u8_i8(nibbles(w.add(4)), y)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q5_1_lanes(w: *const u8, y: *const i8) -> __m256i {
    dot_u8_i8(_mm256_or_si256(nibbles(w.add(8)), high_bits(w.add(4))), y)
}

/// Σ (q − 16)·y as Σ q·y − Σ 16·y, pair by pair in i16 (each `maddubs` pair
/// is at most 2 · 31 · 128 = 7936 in magnitude, their difference 12032).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn offset16_dot(q: __m256i, y: *const i8) -> __m256i {
    let yv = _mm256_loadu_si256(y as *const __m256i);
    let qy = _mm256_maddubs_epi16(q, yv);
    let y16 = _mm256_maddubs_epi16(_mm256_set1_epi8(16), yv);
    _mm256_madd_epi16(_mm256_sub_epi16(qy, y16), _mm256_set1_epi16(1))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q5_0_lanes(w: *const u8, y: *const i8) -> __m256i {
    offset16_dot(_mm256_or_si256(nibbles(w.add(6)), high_bits(w.add(2))), y)
}

// ---- per-block lanes: AVX-512 (VL + BW masks) and VNNI, 256-bit registers -------
//
// Measured on this project's AVX-512 host (AMD EPYC, Zen 4, which executes a
// 512-bit op as two 256-bit halves): two blocks per 512-bit register (nibbles
// of two blocks shuffled into one zmm, 512-bit maddubs/dpbusd, a permute
// reduction) was 5-20% slower than these one-block-per-ymm kernels, whose
// gain is AVX-512's mask registers (Q5's high bits in one masked add) and
// VNNI's fused u8 x i8 dot.

/// A block's 5-bit codes: the nibbles at `qs_at` plus 16 where bit i of the
/// u32 at `qh_at` is set, as one masked byte add (AVX-512BW/VL).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
unsafe fn codes5_vl(w: *const u8, qh_at: usize, qs_at: usize) -> __m256i {
    let q = nibbles(w.add(qs_at));
    let high = (w.add(qh_at) as *const u32).read_unaligned();
    _mm256_mask_add_epi8(q, high, q, _mm256_set1_epi8(16))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
unsafe fn q5_1_lanes_avx512(w: *const u8, y: *const i8) -> __m256i {
    dot_u8_i8(codes5_vl(w, 4, 8), y)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
unsafe fn q5_0_lanes_avx512(w: *const u8, y: *const i8) -> __m256i {
    offset16_dot(codes5_vl(w, 2, 6), y)
}

/// Σ q·y in 8 lanes by one `vpdpbusd` (u8 x i8, four products per lane).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2")]
unsafe fn dot_vnni(q: __m256i, y: *const i8) -> __m256i {
    let yv = _mm256_loadu_si256(y as *const __m256i);
    _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, yv)
}

/// Σ (q − 16)·y as Σ q·y − Σ 16·y, each one `vpdpbusd`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2")]
unsafe fn q5_0_lanes_vnni(w: *const u8, y: *const i8) -> __m256i {
    let q = codes5_vl(w, 2, 6);
    _mm256_sub_epi32(dot_vnni(q, y), dot_vnni(_mm256_set1_epi8(16), y))
}

// ---- one-term rows, fused (x86.rs `row1_fused`) --------------------------------

row1_fused!(q5_0_row_avx2, "avx2,fma,f16c", Q5_0_BYTES, q5_0_lanes);
row1_fused!(
    q5_0_row_avx512,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    Q5_0_BYTES,
    q5_0_lanes_avx512
);
row1_fused!(
    q5_0_row_avx512vnni,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    Q5_0_BYTES,
    q5_0_lanes_vnni
);

// ---- two-term rows, fused ------------------------------------------------------

// Q8_1Act is read as 10 f32 words per block (d, s, 32 bytes of quants).
const _: () = assert!(std::mem::size_of::<Q8_1Act>() == 40);

macro_rules! row2_fused {
    ($name:ident, $features:literal, $bytes:expr, $single:ident) => {
        /// A whole two-term row (Q4_1, Q5_1: x = q·d + m): eight blocks' sums,
        /// factors and activation scales in registers, combined as
        /// [`combine_row2`] does (block b adds `(d_b·y.d)·Σq·y + (m_b·y.s)·1`
        /// to lane b % 8, multiply then add, never fused), so the bits are the
        /// scalar path's; no chunk arrays, no per-block spill.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(row: &[u8], act: &[Q8_1Act]) -> f32 {
            let n = row.len() / $bytes;
            assert!(
                row.len().is_multiple_of($bytes) && act.len() >= n,
                "row and activations disagree"
            );
            let (w, a) = (row.as_ptr(), act.as_ptr());
            let words = _mm256_setr_epi32(0, 10, 20, 30, 40, 50, 60, 70);
            let mut acc = _mm256_setzero_ps();
            let mut v = [_mm256_setzero_si256(); 8];
            let mut i = 0;
            while i + 8 <= n {
                for (j, lane) in v.iter_mut().enumerate() {
                    *lane = $single(w.add((i + j) * $bytes), (*a.add(i + j)).qs.as_ptr());
                }
                let s1 = _mm256_cvtepi32_ps(reduce8x8(&v));
                let (d, m) = f16_pairs8(w.add(i * $bytes), $bytes);
                let base = a.add(i) as *const f32;
                let yd = _mm256_i32gather_ps::<4>(base, words);
                let ys = _mm256_i32gather_ps::<4>(base.add(1), words);
                let p = _mm256_mul_ps(_mm256_mul_ps(d, yd), s1);
                // (m·y.s)·1: the product by one is exact, so it is left out
                let q = _mm256_mul_ps(m, ys);
                acc = _mm256_add_ps(acc, _mm256_add_ps(p, q));
                i += 8;
            }
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            while i < n {
                let blk = w.add(i * $bytes);
                let y = &*a.add(i);
                let s1 = hsum_i32_256($single(blk, y.qs.as_ptr())) as f32;
                let f = _mm_cvtph_ps(_mm_cvtsi32_si128((blk as *const i32).read_unaligned()));
                let (d, m) = (_mm_cvtss_f32(f), _mm_cvtss_f32(_mm_movehdup_ps(f)));
                lanes[i % 8] += (d * y.d) * s1 + (m * y.s);
                i += 1;
            }
            reduce8(lanes)
        }
    };
}

row2_fused!(q4_1_row_avx2, "avx2,fma,f16c", Q4_1_BYTES, q4_1_lanes);
row2_fused!(q5_1_row_avx2, "avx2,fma,f16c", Q5_1_BYTES, q5_1_lanes);
row2_fused!(
    q5_1_row_avx512,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    Q5_1_BYTES,
    q5_1_lanes_avx512
);

// ---- unpacked rows (a batch's row unpacked once: unpacked.rs) -----------------

/// An unpacked row's dots with T vectors.
pub(crate) type UnpackedFn<const T: usize> = unsafe fn(&Unpacked, [&ActBlocks; T]) -> [f32; T];

/// The kernel for an unpacked row of the legacy formats, or of the K-quant
/// form (`k`).
pub(crate) fn unpacked_row<const T: usize>(isa: Isa, k: bool) -> Option<UnpackedFn<T>> {
    debug_assert!(isa.available(), "{isa:?} kernels on a host without it");
    match (isa, k) {
        (Isa::Avx2 | Isa::Avx512, false) => Some(unpacked_row_avx2::<T>),
        (Isa::Avx512Vnni, false) => Some(unpacked_row_avx512vnni::<T>),
        (Isa::Avx2 | Isa::Avx512, true) => Some(unpacked_k_avx2::<T>),
        (Isa::Avx512Vnni, true) => Some(unpacked_k_avx512vnni::<T>),
        (Isa::Scalar | Isa::Neon, _) => None,
    }
}

macro_rules! unpacked_k {
    ($name:ident, $features:literal, $group:ident) => {
        /// [`super::unpacked::dot_scalar`]'s bits for a K-quant row (Q4_K)
        /// and each of T vectors: a super-block is one interleaved group, so
        /// eight u8 × i8 steps leave sub-block j's Σ q·y in lane j; then
        /// s1 = Σ sc_j · lane_j and s2 = −Σ min_j · Σy_j (exact), and
        /// super-block g adds `(d·y.d)·s1 + (dmin·y.d)·s2` to lane g % 8.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name<const T: usize>(u: &Unpacked, a: [&ActBlocks; T]) -> [f32; T] {
            let n = u.d.len();
            assert!(
                u.k && u.codes.len() >= n * GROUP * 32
                    && u.sc.len() >= n * GROUP
                    && u.mins.len() >= n * GROUP
                    && u.m.len() >= n
                    && a.iter().all(|a| {
                        a.qs.len() >= u.codes.len() && a.d.len() >= n && a.sum.len() >= n * GROUP
                    }),
                "row and activations disagree"
            );
            let c = u.codes.as_ptr();
            let mut lanes = [[0f32; 8]; T];
            for g in 0..n {
                let s = $group(c, &a, g * GROUP * 32);
                let sc = _mm256_loadu_si256(u.sc.as_ptr().add(g * GROUP) as *const __m256i);
                let mn = _mm256_loadu_si256(u.mins.as_ptr().add(g * GROUP) as *const __m256i);
                for ((l, a), s) in lanes.iter_mut().zip(&a).zip(s) {
                    let ys = _mm256_loadu_si256(a.sum.as_ptr().add(g * GROUP) as *const __m256i);
                    let s1 = hsum_i32_256(_mm256_mullo_epi32(s, sc));
                    let s2 = -hsum_i32_256(_mm256_mullo_epi32(mn, ys));
                    let y = a.d[g];
                    let p = (u.d[g] * y) * s1 as f32;
                    let q = (u.m[g] * y) * s2 as f32;
                    l[g % 8] += p + q;
                }
            }
            lanes.map(reduce8)
        }
    };
}

unpacked_k!(unpacked_k_avx2, "avx2,fma,f16c", group_avx2);
unpacked_k!(
    unpacked_k_avx512vnni,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    group_vnni
);

macro_rules! unpacked_row {
    ($name:ident, $features:literal, $group:ident) => {
        /// [`super::unpacked::dot_scalar`]'s bits for each of T vectors
        /// (T independent chains, the row's codes loaded once for all):
        /// per group of 8 blocks, eight u8 × i8 steps over the interleaved
        /// codes leave block j's Σ q·y in lane j, less offset · Σ y; then
        /// block b adds `(d_b·y.d)·s_b` (plus `m_b·y.s` for two-term
        /// formats) to lane b % 8, multiply then add.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name<const T: usize>(u: &Unpacked, a: [&ActBlocks; T]) -> [f32; T] {
            let n = u.d.len();
            let two = !u.m.is_empty();
            assert!(
                u.codes.len() >= n.div_ceil(GROUP) * GROUP * 32
                    && (!two || u.m.len() >= n)
                    && a.iter().all(|a| {
                        a.qs.len() >= u.codes.len()
                            && a.d.len() >= n
                            && (u.offset == 0 || a.sum.len() >= n)
                            && (!two || a.s.len() >= n)
                    }),
                "row and activations disagree"
            );
            let c = u.codes.as_ptr();
            // Σ q·y of group g's 8 blocks, lane j = block j, for each vector.
            let group = |g: usize| $group(c, &a, g * GROUP * 32);
            let off = _mm256_set1_epi32(u.offset);
            let mut acc = [_mm256_setzero_ps(); T];
            let mut i = 0;
            while i + 8 <= n {
                let s = group(i / GROUP);
                let d = _mm256_loadu_ps(u.d.as_ptr().add(i));
                for ((acc, a), mut s) in acc.iter_mut().zip(&a).zip(s) {
                    if u.offset != 0 {
                        let sy = _mm256_loadu_si256(a.sum.as_ptr().add(i) as *const __m256i);
                        s = _mm256_sub_epi32(s, _mm256_mullo_epi32(off, sy));
                    }
                    let dd = _mm256_mul_ps(d, _mm256_loadu_ps(a.d.as_ptr().add(i)));
                    let mut t = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(s));
                    if two {
                        let m = _mm256_loadu_ps(u.m.as_ptr().add(i));
                        let ms = _mm256_mul_ps(m, _mm256_loadu_ps(a.s.as_ptr().add(i)));
                        t = _mm256_add_ps(t, ms);
                    }
                    *acc = _mm256_add_ps(*acc, t);
                }
                i += 8;
            }
            let mut out = [0f32; T];
            let tail = if i < n { Some(group(i / GROUP)) } else { None };
            for (k, (o, a)) in out.iter_mut().zip(&a).enumerate() {
                let mut lanes = [0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[k]);
                if let Some(t) = tail {
                    // the padded last group: its first n - i lanes are blocks
                    let mut s = [0i32; 8];
                    _mm256_storeu_si256(s.as_mut_ptr() as *mut __m256i, t[k]);
                    for (j, lane) in lanes.iter_mut().enumerate().take(n - i) {
                        let b = i + j;
                        let sb = if u.offset != 0 {
                            s[j] - u.offset * a.sum[b]
                        } else {
                            s[j]
                        };
                        let p = (u.d[b] * a.d[b]) * sb as f32;
                        *lane += if two { p + u.m[b] * a.s[b] } else { p };
                    }
                }
                *o = reduce8(lanes);
            }
            out
        }
    };
}

/// Σ q·y per block of the interleaved group at byte `o`, lane j = block j,
/// for each of T vectors (codes loaded once for all). AVX2: `maddubs` pair
/// sums of 4 pieces added in i16 before one `madd` by one: a pair is at most
/// 2 · 31 · 128 = 7936 in magnitude (codes <= 31, any i8), four pieces'
/// 31 744 < 32 767, so no i16 sum saturates; then the two halves in i32.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn group_avx2<const T: usize>(c: *const u8, a: &[&ActBlocks; T], o: usize) -> [__m256i; T] {
    let mut s = [_mm256_setzero_si256(); T];
    for half in 0..2 {
        let mut h = [_mm256_setzero_si256(); T];
        for p in 4 * half..4 * half + 4 {
            let q = _mm256_loadu_si256(c.add(o + p * 32) as *const __m256i);
            for (h, a) in h.iter_mut().zip(a) {
                let y = _mm256_loadu_si256(a.qs.as_ptr().add(o + p * 32) as *const __m256i);
                *h = _mm256_add_epi16(*h, _mm256_maddubs_epi16(q, y));
            }
        }
        for (s, h) in s.iter_mut().zip(h) {
            *s = _mm256_add_epi32(*s, _mm256_madd_epi16(h, _mm256_set1_epi16(1)));
        }
    }
    s
}

/// The same with one `vpdpbusd` per piece (no saturation).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2")]
unsafe fn group_vnni<const T: usize>(c: *const u8, a: &[&ActBlocks; T], o: usize) -> [__m256i; T] {
    let mut s = [_mm256_setzero_si256(); T];
    for p in 0..8 {
        let q = _mm256_loadu_si256(c.add(o + p * 32) as *const __m256i);
        for (s, a) in s.iter_mut().zip(a) {
            let y = _mm256_loadu_si256(a.qs.as_ptr().add(o + p * 32) as *const __m256i);
            *s = _mm256_dpbusd_epi32(*s, q, y);
        }
    }
    s
}

unpacked_row!(unpacked_row_avx2, "avx2,fma,f16c", group_avx2);
unpacked_row!(
    unpacked_row_avx512vnni,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    group_vnni
);

#[cfg(test)]
mod tests {
    #[test]
    fn block_sizes_are_the_format_files() {
        use super::super::{q4_1, q5_0, q5_1};
        assert_eq!(super::Q4_1_BYTES, q4_1::BYTES);
        assert_eq!(super::Q5_0_BYTES, q5_0::BYTES);
        assert_eq!(super::Q5_1_BYTES, q5_1::BYTES);
    }
}
