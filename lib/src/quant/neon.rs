//! aarch64 NEON kernels for TQ2_0, Q8_0 and F32: the same integer block sums
//! and the same 16 float lanes as the scalar kernels in `dot.rs`, so results
//! are bit-identical (tested under qemu-aarch64, see docs/kernels.md).
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
