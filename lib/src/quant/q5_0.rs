//! Q5_0: blocks of 32 values, `d: f16`, `qh: [u8; 4]`, `qs: [u8; 16]` (22
//! bytes, ggml's `block_q5_0`). The 5-bit code q of element i is laid out as
//! in Q5_1 (low nibbles in `qs`, bit 4 in bit i of the little-endian u32
//! `qh`); x = (q − 16) · d.
//!
//! Dot products run against Q8_0 activations, one term per block:
//! `(d · y.d) · Σ (q − 16)·y_q`.

use super::dot::{combine_row, Q8_0Act};
use super::kernels::Isa;
use super::q5_1::{codes, pack_high_bits};
use super::{f16_at, f16_le};

pub const BLOCK: usize = 32;
pub const BYTES: usize = 22;

/// Quantizes as ggml's `quantize_row_q5_0_ref` (= gguf-py): d = max / −16
/// where max is the value of largest magnitude (first one on ties),
/// q = min(31, trunc(x / d + 16.5)).
pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    assert_eq!(x.len() % BLOCK, 0, "Q5_0 rows are whole blocks of {BLOCK}");
    for b in x.chunks_exact(BLOCK) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in b {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16_le(d));
        let q: [u8; BLOCK] = std::array::from_fn(|j| ((b[j] * id + 16.5) as i8 as u8).min(31));
        out.extend_from_slice(&pack_high_bits(&q));
        for j in 0..BLOCK / 2 {
            out.push((q[j] & 15) | ((q[j + BLOCK / 2] & 15) << 4));
        }
    }
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f16_at(blk, 0);
        out.extend(codes(blk, 2).iter().map(|&q| (q as i32 - 16) as f32 * d));
    }
}

/// Σ (q − 16) · y_q over one block: exact.
pub fn block_sumi(w: &[u8], y: &Q8_0Act) -> i32 {
    codes(w, 2)
        .iter()
        .zip(&y.qs)
        .map(|(&q, &a)| (q as i32 - 16) * a as i32)
        .sum()
}

/// The scalar reference row dot.
pub fn dot_scalar(row: &[u8], act: &[Q8_0Act]) -> f32 {
    let n = row.len() / BYTES;
    assert!(
        row.len().is_multiple_of(BYTES) && act.len() >= n,
        "row and activations disagree"
    );
    combine_row(
        n,
        |b| act[b].d,
        |b0, s, ws| {
            for (i, (o, w)) in s.iter_mut().zip(ws.iter_mut()).enumerate() {
                let blk = &row[(b0 + i) * BYTES..(b0 + i + 1) * BYTES];
                *o = block_sumi(blk, &act[b0 + i]);
                *w = f16_at(blk, 0);
            }
        },
    )
}

/// One row's dot product at `isa` (the dispatcher already mapped it to an
/// ISA this format has a kernel for, and checked the host has it).
pub(crate) fn row(isa: Isa, row: &[u8], act: &[Q8_0Act]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = super::x86_legacy::q5_0_row(isa) {
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
        // max magnitude -16 -> d = 1, q = x + 16 exactly
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        let mut q = Vec::new();
        quantize(&x, &mut q);
        assert_eq!(&q[0..2], &f16_le(1.0));
        assert_eq!(&q[2..6], &[0, 0, 0xFF, 0xFF]);
        assert_eq!(q[6], 0x00);
        assert_eq!(q[21], 0xFF);
        let mut y = Vec::new();
        dequantize(&q, &mut y);
        assert_eq!(x, y);
    }
}
