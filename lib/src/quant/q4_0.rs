//! Q4_0: blocks of 32 values, `d: f16` then `qs: [u8; 16]`; byte j holds
//! element j in its low nibble and element j+16 in its high nibble;
//! x = (nibble - 8) * d.

use super::{f16_at, f16_le};

pub const BLOCK: usize = 32;
pub const BYTES: usize = 18;

/// Quantizes as ggml's `quantize_row_q4_0_ref`: d = max / -8 where max is the
/// value of largest magnitude (first one on ties), q = min(15, trunc(x/d + 8.5)).
pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    assert_eq!(x.len() % BLOCK, 0, "Q4_0 rows are whole blocks of {BLOCK}");
    for b in x.chunks_exact(BLOCK) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in b {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16_le(d));
        let q = |v: f32| ((v * id + 8.5) as i8 as u8).min(15);
        for j in 0..BLOCK / 2 {
            out.push(q(b[j]) | (q(b[j + BLOCK / 2]) << 4));
        }
    }
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f16_at(blk, 0);
        let qs = &blk[2..];
        out.extend(qs.iter().map(|&q| ((q & 15) as i32 - 8) as f32 * d));
        out.extend(qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
    }
}
