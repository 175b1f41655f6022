//! Q8_1: the activation format of Q4_1 and Q5_1 dot products. Blocks of 32:
//! `d: f16`, `s: f16` (d · Σ qs), `qs: [i8; 32]`, 36 bytes (ggml-common.h's
//! `block_q8_1`; gguf-py still sizes it 40 bytes, the pre-2024 f32 layout, and
//! has no Q8_1 quantizer, so the tests check it against hand-computed blocks).
//! Quantized as ggml's `quantize_row_q8_1_ref`; x = qs · d.

use super::dot::combine_row2;
use super::f16_at;

pub const BLOCK: usize = 32;
pub const BYTES: usize = 36;

/// One Q8_1 block as kernels read it: `d` and `s` already widened from f16.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Q8_1Act {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

/// One block as ggml's `quantize_row_q8_1_ref` makes it: d = amax / 127,
/// q = roundf(x / d) (half away from zero) with the f32 `d`, s = (Σ q) · d in
/// f32; then d and s are both rounded to f16 (nearest even). Returns d and s
/// as f16 and the quants.
fn block(x: &[f32]) -> (half::f16, half::f16, [i8; 32]) {
    debug_assert_eq!(x.len(), BLOCK);
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut qs = [0i8; 32];
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = (v * id).round() as i8;
        sum += *q as i32;
    }
    (
        half::f16::from_f32(d),
        half::f16::from_f32(sum as f32 * d),
        qs,
    )
}

/// Quantizes `x` (whole blocks of 32) to Q8_1 bytes, appending to `out`.
pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    assert_eq!(x.len() % BLOCK, 0, "Q8_1 rows are whole blocks of {BLOCK}");
    for b in x.chunks_exact(BLOCK) {
        let (d, s, qs) = block(b);
        out.extend_from_slice(&d.to_le_bytes());
        out.extend_from_slice(&s.to_le_bytes());
        out.extend(qs.iter().map(|&q| q as u8));
    }
}

/// x = qs · d (`s` is a by-product for dot products, not a value).
pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f16_at(blk, 0);
        out.extend(blk[4..].iter().map(|&q| q as i8 as f32 * d));
    }
}

/// The scalar row dot of a weight format whose blocks start with `d: f16`,
/// `m: f16` (x = q · d + m, as Q4_1 and Q5_1): block b's terms are
/// `(d_b · y.d) · Σ q·y_q` and `(m_b · y.s) · 1`, combined by
/// [`combine_row2`]. `sumi` is the format's exact Σ q·y_q of one block.
pub(crate) fn min_row(
    row: &[u8],
    bytes: usize,
    act: &[Q8_1Act],
    sumi: fn(&[u8], &Q8_1Act) -> i32,
) -> f32 {
    let n = row.len() / bytes;
    assert!(
        row.len().is_multiple_of(bytes) && act.len() >= n,
        "row and activations disagree"
    );
    combine_row2(
        n,
        |b| (act[b].d, act[b].s),
        |b0, s1, w1, s2, w2| {
            for i in 0..s1.len() {
                let blk = &row[(b0 + i) * bytes..(b0 + i + 1) * bytes];
                s1[i] = sumi(blk, &act[b0 + i]);
                w1[i] = f16_at(blk, 0);
                s2[i] = 1;
                w2[i] = f16_at(blk, 2);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_within_one_step() {
        let x: Vec<f32> = (0..96)
            .map(|i| ((i * 37) % 23) as f32 * 0.31 - 3.3)
            .collect();
        let mut bytes = Vec::new();
        quantize(&x, &mut bytes);
        assert_eq!(bytes.len(), 3 * BYTES);
        let mut y = Vec::new();
        dequantize(&bytes, &mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= 3.3 / 127.0, "{a} vs {b}");
        }
    }

    #[test]
    fn zero_block_is_zero() {
        let mut bytes = Vec::new();
        quantize(&[0.0; 32], &mut bytes);
        assert_eq!(bytes, vec![0u8; BYTES]);
    }
}
