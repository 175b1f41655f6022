//! Q8_0: blocks of 32 values, `d: f16` then `qs: [i8; 32]`; x = qs * d.

use super::{f16_at, f16_le};

pub const BLOCK: usize = 32;
pub const BYTES: usize = 34;

/// Quantizes `x` (a multiple of 32 values) exactly as ggml's
/// `quantize_row_q8_0_ref`: d = amax / 127, q = roundf(x / d) (half away from zero).
pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    assert_eq!(x.len() % BLOCK, 0, "Q8_0 rows are whole blocks of {BLOCK}");
    for b in x.chunks_exact(BLOCK) {
        let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16_le(d));
        out.extend(b.iter().map(|v| (v * id).round() as i8 as u8));
    }
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f16_at(blk, 0);
        out.extend(blk[2..].iter().map(|&q| q as i8 as f32 * d));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_is_close_and_zero_block_is_zero() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.37).collect();
        let mut q = Vec::new();
        super::quantize(&x, &mut q);
        assert_eq!(q.len(), 2 * super::BYTES);
        let mut y = Vec::new();
        super::dequantize(&q, &mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= 16.0 / 127.0 / 2.0 + 1e-3, "{a} vs {b}");
        }
        let mut z = Vec::new();
        super::quantize(&[0.0; 32], &mut z);
        assert!(z.iter().all(|&b| b == 0));
    }
}
