//! Q8_K: the activation format for the K-quants and ternary formats. Blocks of
//! 256: `d: f32`, `qs: [i8; 256]`, `bsums: [i16; 16]` (sums of 16 consecutive
//! qs), 292 bytes. Quantized as ggml's `quantize_row_q8_K_ref`.
//!
//! In memory parci keeps activations as [`Q8K`] structs (aligned, no parsing
//! in the hot loop); `to_bytes` gives ggml's byte layout for comparisons.

pub const BLOCK: usize = 256;
pub const BYTES: usize = 292;

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub struct Q8K {
    pub qs: [i8; BLOCK],
    pub d: f32,
    pub bsums: [i16; 16],
    /// Sum of all 256 qs (what the ternary kernels subtract); not in ggml's layout.
    pub sum: i32,
}

/// ggml's `nearest_int`: round half to even through the 1.5·2^23 trick.
#[inline]
fn nearest_int(f: f32) -> i32 {
    let v = f + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// Quantizes `x` (a multiple of 256 values) into `out` (cleared first).
pub fn quantize(x: &[f32], out: &mut Vec<Q8K>) {
    assert_eq!(x.len() % BLOCK, 0, "Q8_K rows are whole blocks of {BLOCK}");
    out.clear();
    for b in x.chunks_exact(BLOCK) {
        let mut blk = Q8K {
            qs: [0; BLOCK],
            d: 0.0,
            bsums: [0; 16],
            sum: 0,
        };
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in b {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax != 0.0 {
            let iscale = -127.0 / max;
            for (q, &v) in blk.qs.iter_mut().zip(b) {
                *q = nearest_int(iscale * v).min(127) as i8;
            }
            for (s, chunk) in blk.bsums.iter_mut().zip(blk.qs.chunks_exact(16)) {
                *s = chunk.iter().map(|&q| q as i16).sum();
            }
            blk.sum = blk.bsums.iter().map(|&s| s as i32).sum();
            blk.d = 1.0 / iscale;
        }
        out.push(blk);
    }
}

impl Q8K {
    /// ggml's byte layout: d (f32 LE), qs, bsums (i16 LE).
    pub fn to_bytes(&self) -> [u8; BYTES] {
        let mut b = [0u8; BYTES];
        b[..4].copy_from_slice(&self.d.to_le_bytes());
        for (o, &q) in b[4..260].iter_mut().zip(&self.qs) {
            *o = q as u8;
        }
        for (i, s) in self.bsums.iter().enumerate() {
            b[260 + 2 * i..262 + 2 * i].copy_from_slice(&s.to_le_bytes());
        }
        b
    }
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f32::from_le_bytes(blk[..4].try_into().expect("4 bytes"));
        out.extend(blk[4..260].iter().map(|&q| q as i8 as f32 * d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(
            [0.5, 1.5, 2.5, -0.5, -1.5, 126.6, -127.0].map(nearest_int),
            [0, 2, 2, 0, -2, 127, -127]
        );
    }

    #[test]
    fn bsums_and_scale() {
        let x: Vec<f32> = (0..512).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
        let mut q = Vec::new();
        quantize(&x, &mut q);
        assert_eq!(q.len(), 2);
        for blk in &q {
            for (j, s) in blk.bsums.iter().enumerate() {
                assert_eq!(
                    *s as i32,
                    blk.qs[16 * j..16 * j + 16]
                        .iter()
                        .map(|&v| v as i32)
                        .sum::<i32>()
                );
            }
            assert!(blk.qs.iter().any(|&v| v == -127 || v == 127));
        }
        let mut y = Vec::new();
        dequantize(&q[0].to_bytes(), &mut y);
        for (a, b) in x[..256].iter().zip(&y) {
            assert!((a - b).abs() <= 50.0 / 127.0, "{a} {b}");
        }
    }
}
