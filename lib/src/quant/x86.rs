//! x86-64 kernels: AVX2 (+FMA, F16C) and AVX-512 (F/BW/VL, with VNNI where
//! present). Each computes exactly what its scalar twin in `dot.rs` computes:
//! integer block sums for the quantized formats (then the shared canonical
//! combination), and the same 16 float lanes for the float formats. Property
//! tests hold them equal bit for bit.
//!
//! Safety: every function here is `unsafe` because of `#[target_feature]`; the
//! dispatcher (`matvec.rs`) only calls an ISA's kernels after checking the host
//! has its features ([`super::kernels::Isa::available`]). Loads are unaligned
//! (`loadu`) and stay inside the slices, whose lengths the safe wrappers check.

#![allow(unsafe_op_in_unsafe_fn)]

use super::dot::{reduce16, Q8_0Act, FLOAT_LANES};
use super::q8_k::Q8K;
use std::arch::x86_64::*;

// ---- AVX2 -------------------------------------------------------------------

#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn hsum_i32_256(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// |w| and y with w's sign, so `maddubs` (u8 × i8) computes w · y exactly
/// (|y| <= 127 for activations parci quantized, so no pair saturates).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn signed_dot_256(w: __m256i, y: __m256i) -> __m256i {
    let ax = _mm256_sign_epi8(w, w);
    let sy = _mm256_sign_epi8(y, w);
    _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
}

/// The 16 canonical float lanes from two 8-lane accumulators plus the tail.
#[inline]
unsafe fn finish16(
    acc0: __m256,
    acc1: __m256,
    tail_from: usize,
    n: usize,
    w: impl Fn(usize) -> f32,
    x: &[f32],
) -> f32 {
    let mut lanes = [0f32; FLOAT_LANES];
    _mm256_storeu_ps(lanes.as_mut_ptr(), acc0);
    _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc1);
    for i in tail_from..n {
        let p = w(i) * x[i];
        lanes[i % FLOAT_LANES] += p;
    }
    reduce16(lanes)
}

macro_rules! float_avx2 {
    ($name:ident, $elem_bytes:expr, $load8:expr, $scalar:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(row: &[u8], x: &[f32]) -> f32 {
            let n = x.len();
            debug_assert!(row.len() >= n * $elem_bytes);
            let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let full = n / 16 * 16;
            let mut i = 0;
            while i < full {
                let w0 = $load8(row.as_ptr().add(i * $elem_bytes));
                let w1 = $load8(row.as_ptr().add((i + 8) * $elem_bytes));
                acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(w0, _mm256_loadu_ps(x.as_ptr().add(i))));
                acc1 = _mm256_add_ps(
                    acc1,
                    _mm256_mul_ps(w1, _mm256_loadu_ps(x.as_ptr().add(i + 8))),
                );
                i += 16;
            }
            finish16(acc0, acc1, full, n, |i| $scalar(row, i), x)
        }
    };
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load8_f32(p: *const u8) -> __m256 {
    _mm256_loadu_ps(p as *const f32)
}
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn load8_f16(p: *const u8) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
}
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load8_bf16(p: *const u8) -> __m256 {
    let v = _mm256_cvtepu16_epi32(_mm_loadu_si128(p as *const __m128i));
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v))
}

fn f32_at(row: &[u8], i: usize) -> f32 {
    f32::from_le_bytes(row[4 * i..4 * i + 4].try_into().expect("4 bytes"))
}
fn f16_elem(row: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([row[2 * i], row[2 * i + 1]]).to_f32()
}
fn bf16_elem(row: &[u8], i: usize) -> f32 {
    half::bf16::from_le_bytes([row[2 * i], row[2 * i + 1]]).to_f32()
}

float_avx2!(f32_dot_avx2, 4, load8_f32, f32_at);
float_avx2!(f16_dot_avx2, 2, load8_f16, f16_elem);
float_avx2!(bf16_dot_avx2, 2, load8_bf16, bf16_elem);

// ---- unpacking 4- and 5-bit codes (legacy kernels, unpacked rows) -------------

/// The 32 low nibbles of a block's 16 `qs` bytes, in element order: bytes'
/// low nibbles are elements 0..16, high nibbles 16..32.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn nibbles(qs: *const u8) -> __m256i {
    let b = _mm_loadu_si128(qs as *const __m128i);
    let v = _mm256_set_m128i(_mm_srli_epi16::<4>(b), b);
    _mm256_and_si256(v, _mm256_set1_epi8(15))
}

/// Bit 4 of each of a block's 32 codes (bit i of the u32 at `qh`) as a byte
/// 0x10 or 0: each byte picks its source byte of `qh`, then tests its bit.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn high_bits(qh: *const u8) -> __m256i {
    let h = (qh as *const i32).read_unaligned();
    let src = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    );
    // shuffle_epi8 indexes within each 128-bit half; both halves hold qh's 4 bytes
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(h), src);
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// One block's 32 codes, one byte each: the nibbles at `qs_at`, plus 16 where
/// bit i of the u32 at `qh_at` is set (5-bit formats).
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn unpack_block_avx2(
    blk: &[u8],
    qs_at: usize,
    qh_at: Option<usize>,
    out: &mut [u8; 32],
) {
    assert!(blk.len() >= qs_at + 16 && qh_at.is_none_or(|at| blk.len() >= at + 4));
    let mut c = nibbles(blk.as_ptr().add(qs_at));
    if let Some(at) = qh_at {
        c = _mm256_or_si256(c, high_bits(blk.as_ptr().add(at)));
    }
    _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, c);
}

// ---- AVX-512 ----------------------------------------------------------------

/// Activations of planes n of a TQ2_0 block: y[n*32..+32] and y[128+n*32..+32].
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tq2_plane_y(q: *const i8, n: usize) -> __m512i {
    let lo = _mm256_loadu_si256(q.add(n * 32) as *const __m256i);
    let hi = _mm256_loadu_si256(q.add(128 + n * 32) as *const __m256i);
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

macro_rules! float_avx512 {
    ($name:ident, $elem_bytes:expr, $load16:expr, $scalar:expr) => {
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c")]
        pub unsafe fn $name(row: &[u8], x: &[f32]) -> f32 {
            let n = x.len();
            debug_assert!(row.len() >= n * $elem_bytes);
            let mut acc = _mm512_setzero_ps();
            let full = n / 16 * 16;
            let mut i = 0;
            while i < full {
                let w = $load16(row.as_ptr().add(i * $elem_bytes));
                acc = _mm512_add_ps(acc, _mm512_mul_ps(w, _mm512_loadu_ps(x.as_ptr().add(i))));
                i += 16;
            }
            let mut lanes = [0f32; FLOAT_LANES];
            _mm512_storeu_ps(lanes.as_mut_ptr(), acc);
            for i in full..n {
                let p = $scalar(row, i) * x[i];
                lanes[i % FLOAT_LANES] += p;
            }
            reduce16(lanes)
        }
    };
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load16_f32(p: *const u8) -> __m512 {
    _mm512_loadu_ps(p as *const f32)
}
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load16_f16(p: *const u8) -> __m512 {
    _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load16_bf16(p: *const u8) -> __m512 {
    let v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(p as *const __m256i));
    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(v))
}

float_avx512!(f32_dot_avx512, 4, load16_f32, f32_at);
float_avx512!(bf16_dot_avx512, 2, load16_bf16, bf16_elem);
float_avx512!(f16_dot_avx512, 2, load16_f16, f16_elem);

// ---- chunks: block sums plus weight scales, what `dot::combine_row` consumes --

// ---- whole rows, fused: lanes, scales and the combination in registers --------

// Q8_0Act is read as 9 f32 words per block (d, 32 bytes of quants).
const _: () = assert!(std::mem::size_of::<Q8_0Act>() == 36);

/// The f16 at bytes 0..2 of eight consecutive `bytes`-byte blocks at `p`,
/// widened by F16C (exact).
#[inline]
#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn f16_scales8(p: *const u8, bytes: usize) -> __m256 {
    let h = |b: usize| (p.add(b * bytes) as *const i16).read_unaligned();
    _mm256_cvtph_ps(_mm_setr_epi16(
        h(0),
        h(1),
        h(2),
        h(3),
        h(4),
        h(5),
        h(6),
        h(7),
    ))
}

/// A whole one-term row of 32-weight blocks whose f16 scale is at byte 0
/// (Q8_0, Q5_0) against Q8_0 activations: eight blocks' sums (the format's
/// 8-lane block dot, then one transposing reduction), weight and activation
/// scales in registers, and [`super::dot::combine_row`]'s arithmetic (block
/// b adds `(d_b·y.d)·Σq·y` to lane b % 8, multiply then add, never fused):
/// the scalar path's bits with no chunk arrays. `$lanes(w, y)` takes the
/// block's bytes and the activation quants as raw pointers.
macro_rules! row1_fused {
    ($name:ident, $features:literal, $bytes:expr, $lanes:ident) => {
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(row: &[u8], act: &[Q8_0Act]) -> f32 {
            let n = row.len() / $bytes;
            assert!(
                row.len().is_multiple_of($bytes) && act.len() >= n,
                "row and activations disagree"
            );
            let (w, a) = (row.as_ptr(), act.as_ptr());
            let words = _mm256_setr_epi32(0, 9, 18, 27, 36, 45, 54, 63);
            let mut acc = _mm256_setzero_ps();
            let mut v = [_mm256_setzero_si256(); 8];
            let mut i = 0;
            while i + 8 <= n {
                for (j, lane) in v.iter_mut().enumerate() {
                    *lane = $lanes(w.add((i + j) * $bytes), (*a.add(i + j)).qs.as_ptr());
                }
                let s = _mm256_cvtepi32_ps(reduce8x8(&v));
                let d = f16_scales8(w.add(i * $bytes), $bytes);
                let yd = _mm256_i32gather_ps::<4>(a.add(i) as *const f32, words);
                acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(d, yd), s));
                i += 8;
            }
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            while i < n {
                let y = &*a.add(i);
                let s = hsum_i32_256($lanes(w.add(i * $bytes), y.qs.as_ptr())) as f32;
                let h = (w.add(i * $bytes) as *const u16).read_unaligned();
                let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)));
                lanes[i % 8] += (d * y.d) * s;
                i += 1;
            }
            super::dot::reduce8(lanes)
        }
    };
}
pub(crate) use row1_fused;

/// Q8_0's 8 lanes of one block from raw pointers (for [`row1_fused`]).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q8_0_lanes_raw(w: *const u8, y: *const i8) -> __m256i {
    let wq = _mm256_loadu_si256(w.add(2) as *const __m256i);
    let yq = _mm256_loadu_si256(y as *const __m256i);
    signed_dot_256(wq, yq)
}

// AVX2 serves every x86 ISA for Q8_0: on the AVX-512 host the VNNI chunk
// kernel was no faster per block (docs/performance.md).
row1_fused!(q8_0_row_avx2, "avx2,fma,f16c", 34, q8_0_lanes_raw);

// ---- eight blocks at a time: lanes, then one transposing reduction -----------

/// Eight vectors of 8 i32 lanes -> one vector of their 8 sums, in order.
/// Integer addition is exact in any order, so this equals eight `hsum`s.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn reduce8x8(v: &[__m256i; 8]) -> __m256i {
    let h01 = _mm256_hadd_epi32(v[0], v[1]);
    let h23 = _mm256_hadd_epi32(v[2], v[3]);
    let h45 = _mm256_hadd_epi32(v[4], v[5]);
    let h67 = _mm256_hadd_epi32(v[6], v[7]);
    let a = _mm256_hadd_epi32(h01, h23); // [0lo 1lo 2lo 3lo | 0hi 1hi 2hi 3hi]
    let b = _mm256_hadd_epi32(h45, h67); // [4lo 5lo 6lo 7lo | 4hi 5hi 6hi 7hi]
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(a, b),
        _mm256_permute2x128_si256::<0x31>(a, b),
    )
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tq2_0_lanes_avx2(w: &[u8], y: &Q8K) -> __m256i {
    debug_assert!(w.len() >= 64);
    let mask = _mm256_set1_epi8(3);
    let q = y.qs.as_ptr();
    let mut acc = _mm256_setzero_si256();
    for j in 0..2 {
        let v = _mm256_loadu_si256(w.as_ptr().add(j * 32) as *const __m256i);
        let planes = [
            _mm256_and_si256(v, mask),
            _mm256_and_si256(_mm256_srli_epi16::<2>(v), mask),
            _mm256_and_si256(_mm256_srli_epi16::<4>(v), mask),
            _mm256_and_si256(_mm256_srli_epi16::<6>(v), mask),
        ];
        for (n, codes) in planes.into_iter().enumerate() {
            let yv = _mm256_loadu_si256(q.add(j * 128 + n * 32) as *const __m256i);
            acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(codes, yv));
        }
    }
    _mm256_madd_epi16(acc, _mm256_set1_epi16(1))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tq2_0_lanes_avx512vnni(w: &[u8], y: &Q8K) -> __m256i {
    debug_assert!(w.len() >= 64);
    let mask = _mm512_set1_epi8(3);
    let v = _mm512_loadu_si512(w.as_ptr() as *const _);
    let q = y.qs.as_ptr();
    let mut acc = _mm512_dpbusd_epi32(
        _mm512_setzero_si512(),
        _mm512_and_si512(v, mask),
        tq2_plane_y(q, 0),
    );
    acc = _mm512_dpbusd_epi32(
        acc,
        _mm512_and_si512(_mm512_srli_epi16::<2>(v), mask),
        tq2_plane_y(q, 1),
    );
    acc = _mm512_dpbusd_epi32(
        acc,
        _mm512_and_si512(_mm512_srli_epi16::<4>(v), mask),
        tq2_plane_y(q, 2),
    );
    acc = _mm512_dpbusd_epi32(
        acc,
        _mm512_and_si512(_mm512_srli_epi16::<6>(v), mask),
        tq2_plane_y(q, 3),
    );
    _mm256_add_epi32(
        _mm512_castsi512_si256(acc),
        _mm512_extracti64x4_epi64::<1>(acc),
    )
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn tq2_0_lanes_avx512(w: &[u8], y: &Q8K) -> __m256i {
    debug_assert!(w.len() >= 64);
    let mask = _mm512_set1_epi8(3);
    let v = _mm512_loadu_si512(w.as_ptr() as *const _);
    let q = y.qs.as_ptr();
    let mut acc = _mm512_maddubs_epi16(_mm512_and_si512(v, mask), tq2_plane_y(q, 0));
    acc = _mm512_add_epi16(
        acc,
        _mm512_maddubs_epi16(
            _mm512_and_si512(_mm512_srli_epi16::<2>(v), mask),
            tq2_plane_y(q, 1),
        ),
    );
    acc = _mm512_add_epi16(
        acc,
        _mm512_maddubs_epi16(
            _mm512_and_si512(_mm512_srli_epi16::<4>(v), mask),
            tq2_plane_y(q, 2),
        ),
    );
    acc = _mm512_add_epi16(
        acc,
        _mm512_maddubs_epi16(
            _mm512_and_si512(_mm512_srli_epi16::<6>(v), mask),
            tq2_plane_y(q, 3),
        ),
    );
    let acc = _mm512_madd_epi16(acc, _mm512_set1_epi16(1));
    _mm256_add_epi32(
        _mm512_castsi512_si256(acc),
        _mm512_extracti64x4_epi64::<1>(acc),
    )
}

fn minus_sum(s: i32, y: &Q8K) -> i32 {
    s - y.sum
}
/// A whole row of one-term blocks with any block size (TQ2_0's 256) against
/// `$act` activations with a scale `d`: up to eight blocks' 8-lane sums, one
/// transposing reduction, `$post` (the format's correction of the sum),
/// then [`super::dot::combine_row`]'s arithmetic (block b adds
/// `(d_b·y.d)·s_b` to lane b % 8, multiply then add) with the weight scale
/// the f16 at byte `$at` of the block. A row shorter than eight blocks (the
/// common case at 256 weights a block) is one partial group.
macro_rules! row1_blocks {
    ($name:ident, $features:literal, $act:ty, $bytes:expr, $at:expr, $lanes:ident, $post:expr) => {
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(row: &[u8], act: &[$act]) -> f32 {
            let n = row.len() / $bytes;
            assert!(
                row.len().is_multiple_of($bytes) && act.len() >= n,
                "row and activations disagree"
            );
            let blk = |b: usize| &row[b * $bytes..(b + 1) * $bytes];
            let mut lanes = [0f32; 8];
            let mut v = [_mm256_setzero_si256(); 8];
            let mut i = 0;
            while i < n {
                let k = (n - i).min(8);
                for (j, lane) in v.iter_mut().enumerate() {
                    *lane = if j < k {
                        $lanes(blk(i + j), &act[i + j])
                    } else {
                        _mm256_setzero_si256()
                    };
                }
                let mut s = [0i32; 8];
                _mm256_storeu_si256(s.as_mut_ptr() as *mut __m256i, reduce8x8(&v));
                for (j, lane) in lanes.iter_mut().enumerate().take(k) {
                    let y = &act[i + j];
                    let d = super::f16_at(blk(i + j), $at);
                    *lane += (d * y.d) * $post(s[j], y) as f32;
                }
                i += 8;
            }
            super::dot::reduce8(lanes)
        }
    };
}

row1_blocks!(
    tq2_0_row_avx2,
    "avx2,fma,f16c",
    Q8K,
    66,
    64,
    tq2_0_lanes_avx2,
    minus_sum
);
row1_blocks!(
    tq2_0_row_avx512,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    Q8K,
    66,
    64,
    tq2_0_lanes_avx512,
    minus_sum
);
row1_blocks!(
    tq2_0_row_avx512vnni,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    Q8K,
    66,
    64,
    tq2_0_lanes_avx512vnni,
    minus_sum
);

/// Q4_0's 8 lanes of one block from raw pointers (for [`row1_fused`]):
/// weights nibble − 8, signed products by the sign trick (|y| <= 127).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q4_0_lanes_raw(w: *const u8, y: *const i8) -> __m256i {
    let wq = _mm256_sub_epi8(nibbles(w.add(2)), _mm256_set1_epi8(8));
    signed_dot_256(wq, _mm256_loadu_si256(y as *const __m256i))
}

/// The same as Σ q·y − Σ 8·y, each one `vpdpbusd` on unsigned nibbles.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2")]
unsafe fn q4_0_lanes_vnni(w: *const u8, y: *const i8) -> __m256i {
    let yv = _mm256_loadu_si256(y as *const __m256i);
    let z = _mm256_setzero_si256();
    _mm256_sub_epi32(
        _mm256_dpbusd_epi32(z, nibbles(w.add(2)), yv),
        _mm256_dpbusd_epi32(z, _mm256_set1_epi8(8), yv),
    )
}

row1_fused!(q4_0_row_avx2, "avx2,fma,f16c", 18, q4_0_lanes_raw);
row1_fused!(
    q4_0_row_avx512vnni,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    18,
    q4_0_lanes_vnni
);

/// Codes (trit + 1) of a TQ1_0 byte vector at successive trit positions: `t`
/// holds the bytes already multiplied by 3^n (mod 256); the code is
/// floor(3t / 256) = [t >= 86] + [t >= 171], computed with unsigned compares.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tq1_codes_256(t: __m256i) -> __m256i {
    let ge86 = _mm256_cmpeq_epi8(_mm256_max_epu8(t, _mm256_set1_epi8(86)), t);
    let ge171 = _mm256_cmpeq_epi8(_mm256_max_epu8(t, _mm256_set1_epi8(171u8 as i8)), t);
    _mm256_sub_epi8(_mm256_setzero_si256(), _mm256_add_epi8(ge86, ge171))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tq1_codes_128(t: __m128i) -> __m128i {
    let ge86 = _mm_cmpeq_epi8(_mm_max_epu8(t, _mm_set1_epi8(86)), t);
    let ge171 = _mm_cmpeq_epi8(_mm_max_epu8(t, _mm_set1_epi8(171u8 as i8)), t);
    _mm_sub_epi8(_mm_setzero_si128(), _mm_add_epi8(ge86, ge171))
}

/// TQ1_0 block (54 bytes) · Q8_K block, as 8 lanes of Σ code·y (the caller
/// subtracts Σ y). Byte · 3 mod 256 is two 8-bit adds, so no widening.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tq1_0_lanes_avx2(w: &[u8], y: &Q8K) -> __m256i {
    debug_assert!(w.len() >= 52);
    let q = y.qs.as_ptr();
    let mut acc = _mm256_setzero_si256();
    // qs[0..32]: element m + 32n
    let mut t = _mm256_loadu_si256(w.as_ptr() as *const __m256i);
    for n in 0..5 {
        let yv = _mm256_loadu_si256(q.add(32 * n) as *const __m256i);
        acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(tq1_codes_256(t), yv));
        t = _mm256_add_epi8(t, _mm256_add_epi8(t, t));
    }
    // qs[32..48]: element 160 + m + 16n
    let mut t = _mm_loadu_si128(w.as_ptr().add(32) as *const __m128i);
    let mut acc128 = _mm_setzero_si128();
    for n in 0..5 {
        let yv = _mm_loadu_si128(q.add(160 + 16 * n) as *const __m128i);
        acc128 = _mm_add_epi16(acc128, _mm_maddubs_epi16(tq1_codes_128(t), yv));
        t = _mm_add_epi8(t, _mm_add_epi8(t, t));
    }
    acc = _mm256_add_epi16(acc, _mm256_zextsi128_si256(acc128));
    // qh[0..4]: element 240 + k + 4n, 16 values: plain integer arithmetic
    let mut tail = 0i32;
    for k in 0..4 {
        let mut b = w[48 + k];
        for n in 0..4 {
            let code = ((b as u16 * 3) >> 8) as i32;
            tail += code * y.qs[240 + k + 4 * n] as i32;
            b = b.wrapping_mul(3);
        }
    }
    _mm256_add_epi32(
        _mm256_madd_epi16(acc, _mm256_set1_epi16(1)),
        _mm256_setr_epi32(tail, 0, 0, 0, 0, 0, 0, 0),
    )
}

row1_blocks!(
    tq1_0_row_avx2,
    "avx2,fma,f16c",
    Q8K,
    54,
    52,
    tq1_0_lanes_avx2,
    minus_sum
);
