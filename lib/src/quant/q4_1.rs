//! Q4_1: blocks of 32 values, `d: f16`, `m: f16`, `qs: [u8; 16]` (20 bytes,
//! ggml's `block_q4_1`); byte j holds element j in its low nibble and element
//! j+16 in its high nibble; x = nibble · d + m.
//!
//! Dot products run against Q8_1 activations with two terms per block:
//! `(d · y.d) · Σ q·y_q + (m · y.s) · 1` (see [`super::q8_1::min_row`]).

use super::kernels::Isa;
use super::q8_1::{self, Q8_1Act};
use super::{f16_at, f16_le};

pub const BLOCK: usize = 32;
pub const BYTES: usize = 20;

/// Quantizes as ggml's `quantize_row_q4_1_ref` (= gguf-py): min and max of the
/// block, d = (max − min) / 15, q = min(15, trunc((x − min) / d + 0.5)).
pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    assert_eq!(x.len() % BLOCK, 0, "Q4_1 rows are whole blocks of {BLOCK}");
    for b in x.chunks_exact(BLOCK) {
        let (mut min, mut max) = (f32::MAX, -f32::MAX);
        for &v in b {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16_le(d));
        out.extend_from_slice(&f16_le(min));
        let q = |v: f32| (((v - min) * id + 0.5) as i8 as u8).min(15);
        for j in 0..BLOCK / 2 {
            out.push(q(b[j]) | (q(b[j + BLOCK / 2]) << 4));
        }
    }
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
        let qs = &blk[4..];
        out.extend(qs.iter().map(|&q| (q & 15) as f32 * d + m));
        out.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
    }
}

/// Σ q · y_q over one block (q the unsigned 4-bit code): exact.
pub fn block_sumi(w: &[u8], y: &Q8_1Act) -> i32 {
    let (lo, hi) = y.qs.split_at(16);
    w[4..BYTES]
        .iter()
        .zip(lo.iter().zip(hi))
        .map(|(&q, (&a, &b))| (q & 15) as i32 * a as i32 + (q >> 4) as i32 * b as i32)
        .sum()
}

/// The scalar reference row dot.
pub fn dot_scalar(row: &[u8], act: &[Q8_1Act]) -> f32 {
    q8_1::min_row(row, BYTES, act, block_sumi)
}

/// One row's dot product at `isa` (the dispatcher already mapped it to an
/// ISA this format has a kernel for, and checked the host has it).
pub(crate) fn row(isa: Isa, row: &[u8], act: &[Q8_1Act]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = super::x86_legacy::q4_1_row(isa) {
        // SAFETY: the dispatcher checked the host has `isa`.
        return unsafe { f(row, act) };
    }
    let _ = isa;
    dot_scalar(row, act)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_block() {
        // 0, 1, ..., 31 scaled: min 0, max 31 -> d = 31/15
        let x: Vec<f32> = (0..32).map(|i| i as f32).collect();
        let mut q = Vec::new();
        quantize(&x, &mut q);
        assert_eq!(q.len(), BYTES);
        assert_eq!(&q[0..2], &f16_le(31.0 / 15.0));
        assert_eq!(&q[2..4], &[0, 0]);
        // element 0 -> 0, element 16 -> trunc(16 * 15/31 + 0.5) = 8
        assert_eq!(q[4], 0x80);
        // element 15 -> trunc(15 * 15/31 + 0.5) = 7, element 31 -> 15
        assert_eq!(q[19], 0xF7);
        let mut y = Vec::new();
        dequantize(&q, &mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= 31.0 / 15.0 / 2.0 + 1e-2, "{a} vs {b}");
        }
    }

    #[test]
    fn block_sum_matches_dequantized_codes() {
        let w: Vec<u8> = (0..BYTES as u8).map(|i| i.wrapping_mul(73)).collect();
        let y = Q8_1Act {
            d: 1.0,
            s: 0.0,
            qs: std::array::from_fn(|i| (i as i8 - 16) * 7),
        };
        let want: i32 = (0..32)
            .map(|i| {
                let q = if i < 16 {
                    w[4 + i] & 15
                } else {
                    w[4 + i - 16] >> 4
                };
                q as i32 * y.qs[i] as i32
            })
            .sum();
        assert_eq!(block_sumi(&w, &y), want);
    }
}
