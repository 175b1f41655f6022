//! TQ2_0: ternary blocks of 256 values, `qs: [u8; 64]` then `d: f16`.
//! Each byte holds four 2-bit codes (value + 1): byte `j*32 + m` (j in 0..2,
//! m in 0..32) holds element `j*128 + n*32 + m` at bits `2n..2n+2`.

use super::{f16_at, f16_le};

pub const BLOCK: usize = 256;
pub const BYTES: usize = 66;

/// Quantizes exactly as ggml's `quantize_row_tq2_0_ref`: d = amax, code =
/// roundf(x / d) + 1.
pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    assert_eq!(x.len() % BLOCK, 0, "TQ2_0 rows are whole blocks of {BLOCK}");
    for b in x.chunks_exact(BLOCK) {
        let d = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for j in 0..2 {
            for m in 0..32 {
                let mut q = 0u8;
                for n in 0..4 {
                    let code = ((b[j * 128 + n * 32 + m] * id).round() as i32 + 1) as u8;
                    q |= (code & 3) << (2 * n);
                }
                out.push(q);
            }
        }
        out.extend_from_slice(&f16_le(d));
    }
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f16_at(blk, 64);
        for j in 0..2 {
            for n in 0..4 {
                for m in 0..32 {
                    let code = (blk[j * 32 + m] >> (2 * n)) & 3;
                    out.push((code as i32 - 1) as f32 * d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ternary_values_survive_exactly() {
        let d = 0.046875f32; // exact in f16
        let x: Vec<f32> = (0..512)
            .map(|i| [(-1.0), 0.0, 1.0][(i * 7 + i / 3) % 3] * d)
            .collect();
        let mut q = Vec::new();
        super::quantize(&x, &mut q);
        assert_eq!(q.len(), 2 * super::BYTES);
        let mut y = Vec::new();
        super::dequantize(&q, &mut y);
        assert_eq!(x, y);
    }
}
