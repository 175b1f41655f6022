//! aarch64 NEON kernels for TQ2_0, Q8_0, Q4_K, Q6_K and F32: the same integer
//! block sums and the same 16 float lanes as the scalar kernels (`dot.rs`,
//! `q4_k.rs`, `q6_k.rs`), so results are bit-identical (tested under
//! qemu-aarch64, see docs/kernels.md).
//! NEON is part of the aarch64 baseline, so no run-time check is needed;
//! the functions are still `unsafe` for their raw-pointer loads, which stay
//! inside the slices whose lengths the callers check.

#![allow(unsafe_op_in_unsafe_fn)]

use super::dot::{reduce16, Q8_0Act, FLOAT_LANES};
use super::q8_k::Q8K;
use std::arch::aarch64::*;

/// Σ a·b over 16 signed bytes, accumulated pairwise into 4 i32 lanes.
#[inline]
unsafe fn dot16(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    let hi = vmull_high_s8(a, b);
    vpadalq_s16(vpadalq_s16(acc, lo), hi)
}

/// TQ2_0 block (66 bytes) · Q8_K block: Σ code·y − Σ y.
pub unsafe fn tq2_0_sumi(w: &[u8], y: &Q8K) -> i32 {
    debug_assert!(w.len() >= 64);
    let q = y.qs.as_ptr();
    let mask = vdupq_n_u8(3);
    let mut acc = vdupq_n_s32(0);
    for c in 0..4 {
        // bytes c*16..c*16+16: half j = c / 2, elements m0..m0+16 of each plane
        let (j, m0) = (c / 2, (c % 2) * 16);
        let v = vld1q_u8(w.as_ptr().add(c * 16));
        let planes = [
            vandq_u8(v, mask),
            vandq_u8(vshrq_n_u8::<2>(v), mask),
            vandq_u8(vshrq_n_u8::<4>(v), mask),
            vshrq_n_u8::<6>(v),
        ];
        for (n, codes) in planes.into_iter().enumerate() {
            let yv = vld1q_s8(q.add(j * 128 + n * 32 + m0));
            acc = dot16(acc, vreinterpretq_s8_u8(codes), yv);
        }
    }
    vaddvq_s32(acc) - y.sum
}

/// Q8_0 block (34 bytes) · Q8_0 activation block.
pub unsafe fn q8_0_sumi(w: &[u8], y: &Q8_0Act) -> i32 {
    debug_assert!(w.len() >= 34);
    let p = w.as_ptr().add(2) as *const i8;
    let q = y.qs.as_ptr();
    let acc = dot16(vdupq_n_s32(0), vld1q_s8(p), vld1q_s8(q));
    vaddvq_s32(dot16(acc, vld1q_s8(p.add(16)), vld1q_s8(q.add(16))))
}

/// F32 · F32 with the canonical 16 lanes (four 4-lane registers), unfused.
pub unsafe fn f32_dot(row: &[u8], x: &[f32]) -> f32 {
    let n = x.len();
    debug_assert!(row.len() >= 4 * n);
    let w = row.as_ptr() as *const f32;
    let mut acc = [vdupq_n_f32(0.0); 4];
    let full = n / 16 * 16;
    let mut i = 0;
    while i < full {
        for (r, a) in acc.iter_mut().enumerate() {
            let wv = vreinterpretq_f32_u8(vld1q_u8((w as *const u8).add(4 * (i + 4 * r))));
            *a = vaddq_f32(*a, vmulq_f32(wv, vld1q_f32(x.as_ptr().add(i + 4 * r))));
        }
        i += 16;
    }
    let mut lanes = [0f32; FLOAT_LANES];
    for (r, a) in acc.iter().enumerate() {
        vst1q_f32(lanes.as_mut_ptr().add(4 * r), *a);
    }
    for i in full..n {
        let wi = f32::from_le_bytes(row[4 * i..4 * i + 4].try_into().expect("4 bytes"));
        let p = wi * x[i];
        lanes[i % FLOAT_LANES] += p;
    }
    reduce16(lanes)
}

// ---- K-quants: Q4_K and Q6_K (the Gemma 3 Q4_K_M formats) --------------------

/// Q4_K block (144 bytes) · Q8_K block with the block's 6-bit scales `sc`
/// already unpacked: Σ_j sc_j Σ q·y, the first integer of
/// `q4_k::block_sums` (q4_k.rs adds the mins' term). Codes 0..15 times int8
/// fit i16.
pub(crate) unsafe fn q4_k_scaled_sumi(w: &[u8], sc: &[u8; 8], y: &Q8K) -> i32 {
    debug_assert!(w.len() >= 144);
    let qs = w.as_ptr().add(16);
    let q = y.qs.as_ptr();
    let m4 = vdupq_n_u8(15);
    let mut acc = vdupq_n_s32(0);
    for c in 0..4 {
        let b0 = vld1q_u8(qs.add(32 * c));
        let b1 = vld1q_u8(qs.add(32 * c + 16));
        let y0 = q.add(64 * c);
        // sub-block 2c: low nibbles; 2c + 1: high nibbles
        let lo = dot16(
            dot16(
                vdupq_n_s32(0),
                vreinterpretq_s8_u8(vandq_u8(b0, m4)),
                vld1q_s8(y0),
            ),
            vreinterpretq_s8_u8(vandq_u8(b1, m4)),
            vld1q_s8(y0.add(16)),
        );
        let hi = dot16(
            dot16(
                vdupq_n_s32(0),
                vreinterpretq_s8_u8(vshrq_n_u8::<4>(b0)),
                vld1q_s8(y0.add(32)),
            ),
            vreinterpretq_s8_u8(vshrq_n_u8::<4>(b1)),
            vld1q_s8(y0.add(48)),
        );
        acc = vmlaq_n_s32(acc, lo, sc[2 * c] as i32);
        acc = vmlaq_n_s32(acc, hi, sc[2 * c + 1] as i32);
    }
    vaddvq_s32(acc)
}

/// Q6_K block (210 bytes) · Q8_K block: Σ_j sc_j Σ (q − 32)·y, the integer of
/// `q6_k::block_sumi`. Values −32..31 times int8 fit i16.
pub(crate) unsafe fn q6_k_sumi(w: &[u8], y: &Q8K) -> i32 {
    debug_assert!(w.len() >= 210);
    let p = w.as_ptr();
    let q = y.qs.as_ptr();
    let (m4, m3, off) = (vdupq_n_u8(15), vdupq_n_u8(3), vdupq_n_s8(32));
    let mut acc = vdupq_n_s32(0);
    for n in 0..2 {
        for l0 in [0, 16] {
            let a = vld1q_u8(p.add(64 * n + l0));
            let b = vld1q_u8(p.add(64 * n + 32 + l0));
            let h = vld1q_u8(p.add(128 + 32 * n + l0));
            let vals = [
                vorrq_u8(vandq_u8(a, m4), vshlq_n_u8::<4>(vandq_u8(h, m3))),
                vorrq_u8(
                    vandq_u8(b, m4),
                    vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<2>(h), m3)),
                ),
                vorrq_u8(
                    vshrq_n_u8::<4>(a),
                    vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<4>(h), m3)),
                ),
                vorrq_u8(vshrq_n_u8::<4>(b), vshlq_n_u8::<4>(vshrq_n_u8::<6>(h))),
            ];
            // value k covers elements 128n + 32k + l0 .. + 16: sub-block 8n + 2k + l0 / 16
            for (k, v) in vals.into_iter().enumerate() {
                let e = 128 * n + 32 * k + l0;
                let s = dot16(
                    vdupq_n_s32(0),
                    vsubq_s8(vreinterpretq_s8_u8(v), off),
                    vld1q_s8(q.add(e)),
                );
                acc = vmlaq_n_s32(acc, s, w[192 + e / 16] as i8 as i32);
            }
        }
    }
    vaddvq_s32(acc)
}
