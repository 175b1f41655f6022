//! Q5_1: blocks of 32 values, `d: f16`, `m: f16`, `qh: [u8; 4]`, `qs: [u8; 16]`
//! (24 bytes, ggml's `block_q5_1`). Element j (j < 16) has its low 4 bits in
//! the low nibble of qs[j], element j+16 in the high nibble; bit i of the
//! little-endian u32 `qh` is bit 4 of element i; x = q · d + m.
//!
//! Dot products run against Q8_1 activations with two terms per block:
//! `(d · y.d) · Σ q·y_q + (m · y.s) · 1` (see [`super::q8_1::min_row`]).

use super::kernels::Isa;
use super::q8_1::{self, Q8_1Act};
use super::{f16_at, f16_le};

pub const BLOCK: usize = 32;
pub const BYTES: usize = 24;

/// Quantizes as ggml's `quantize_row_q5_1_ref`: min and max of the block,
/// d = (max − min) / 31, q = trunc((x − min) / d + 0.5). ggml does not clamp
/// (gguf-py clips to 31): (x − min) / d + 0.5 < 32 for every finite block, so
/// both agree.
pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    assert_eq!(x.len() % BLOCK, 0, "Q5_1 rows are whole blocks of {BLOCK}");
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
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16_le(d));
        out.extend_from_slice(&f16_le(min));
        let q: [u8; BLOCK] = std::array::from_fn(|j| ((b[j] - min) * id + 0.5) as u8);
        out.extend_from_slice(&pack_high_bits(&q));
        for j in 0..BLOCK / 2 {
            out.push((q[j] & 15) | ((q[j + BLOCK / 2] & 15) << 4));
        }
    }
}

/// `qh` of a block of 5-bit codes: bit i = bit 4 of code i, little-endian.
pub(crate) fn pack_high_bits(q: &[u8; 32]) -> [u8; 4] {
    let qh = q
        .iter()
        .enumerate()
        .fold(0u32, |h, (i, &c)| h | (((c as u32 >> 4) & 1) << i));
    qh.to_le_bytes()
}

/// The 32 five-bit codes of a block whose `qh` is at byte `at` (`qs` follows).
#[inline]
pub(crate) fn codes(blk: &[u8], at: usize) -> [u8; 32] {
    let qh = u32::from_le_bytes(blk[at..at + 4].try_into().expect("4 bytes"));
    let qs = &blk[at + 4..at + 20];
    std::array::from_fn(|i| {
        let nib = if i < 16 { qs[i] & 15 } else { qs[i - 16] >> 4 };
        nib | (((qh >> i) & 1) as u8) << 4
    })
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
        out.extend(codes(blk, 4).iter().map(|&q| q as f32 * d + m));
    }
}

/// Σ q · y_q over one block (q the unsigned 5-bit code): exact.
pub fn block_sumi(w: &[u8], y: &Q8_1Act) -> i32 {
    codes(w, 4)
        .iter()
        .zip(&y.qs)
        .map(|(&q, &a)| q as i32 * a as i32)
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
    if let Some(f) = super::x86_legacy::q5_1_row(isa) {
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
        // -1, 0, ..., 30: min -1, max 30 -> d = 1, q = x + 1 exactly
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 1.0).collect();
        let mut q = Vec::new();
        quantize(&x, &mut q);
        assert_eq!(&q[0..2], &f16_le(1.0));
        assert_eq!(&q[2..4], &f16_le(-1.0));
        // codes 16..31 (elements 16..31) have bit 4 set
        assert_eq!(&q[4..8], &[0, 0, 0xFF, 0xFF]);
        assert_eq!(q[8], 0x00); // codes 0 and 16 -> nibbles 0, 0
        assert_eq!(q[23], 0xFF); // codes 15 and 31
        let mut y = Vec::new();
        dequantize(&q, &mut y);
        assert_eq!(x, y);
    }
}
