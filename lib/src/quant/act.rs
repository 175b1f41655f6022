//! How an activation vector becomes 8-bit blocks before integer dot products.
//!
//! Weights are quantized as ggml's `_ref` functions do (gguf-py agrees with
//! those byte for byte). Activations are not: on x86 (AVX, AVX2, AVX-512) ggml
//! quantizes them to Q8_0 and Q8_1 with its own kernels (`quantize_row_q8_0`,
//! `quantize_row_q8_1` and the repacked `ggml_quantize_mat_q8_0_4x8` in
//! `ggml-cpu/arch/x86/`), which differ from `_ref` in two ways:
//! - the inverse scale is `127 / amax`, not `1 / (amax / 127)` (one ulp apart
//!   for most `amax`, which moves values that sit near a rounding boundary);
//! - rounding is to nearest, ties to even (`_mm256_round_ps`), not `roundf`
//!   (ties away from zero).
//!
//! A quant that differs by one step moves a dot product by `d · w`, far more
//! than float reordering does, so parci follows the x86 convention on every
//! ISA: its logits then agree with llama.cpp's on the machines CI runs on
//! (docs/parity.md). Q8_K needs nothing here: x86 ggml uses its `_ref` (see
//! [`super::q8_k`]).

use super::dot::Q8_0Act;
use super::q8_1::Q8_1Act;

/// Values per Q8_0 / Q8_1 block.
pub const BLOCK: usize = 32;

/// `v.round_ties_even()` for |v| <= 2^22 without a libm call: adding and
/// subtracting 1.5 · 2^23 leaves no fraction bits, and the float addition
/// rounds to nearest, ties to even.
#[inline]
fn ties_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// One block the x86 way: `d` rounded to f16 and widened back, the quants,
/// and their sum.
fn block(x: &[f32]) -> (f32, [i8; BLOCK], i32) {
    debug_assert_eq!(x.len(), BLOCK);
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = half::f16::from_f32(amax / 127.0).to_f32();
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut qs = [0i8; BLOCK];
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(x) {
        // |v · id| <= 127 up to an ulp, which rounds back to 127.
        *q = ties_even(v * id) as i8;
        sum += *q as i32;
    }
    (d, qs, sum)
}

/// Q8_0 activations of `x` (whole blocks of 32) into `out`, cleared first.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<Q8_0Act>) {
    assert_eq!(x.len() % BLOCK, 0, "Q8_0 rows are whole blocks of {BLOCK}");
    out.clear();
    out.extend(x.chunks_exact(BLOCK).map(|b| {
        let (d, qs, _) = block(b);
        Q8_0Act { d, qs }
    }));
}

/// Q8_1 activations of `x` (whole blocks of 32) into `out`, cleared first.
/// `s = d · Σ q`, computed in f32 from the f32 `d` and rounded to f16, as
/// ggml does.
pub fn quantize_q8_1(x: &[f32], out: &mut Vec<Q8_1Act>) {
    assert_eq!(x.len() % BLOCK, 0, "Q8_1 rows are whole blocks of {BLOCK}");
    out.clear();
    out.extend(x.chunks_exact(BLOCK).map(|b| {
        let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let (d, qs, sum) = block(b);
        let s = half::f16::from_f32(amax / 127.0 * sum as f32).to_f32();
        Q8_1Act { d, s, qs }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{f16_at, q8_0, q8_1};

    /// A block whose amax is 127 puts v · id exactly on integers and halves:
    /// 2.5 rounds to 2 here (ties to even) and to 3 in `_ref` (away from zero).
    #[test]
    fn ties_round_to_even_unlike_ref() {
        let mut x = [0f32; BLOCK];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -3.5;
        x[3] = 1.25;
        let mut act = Vec::new();
        quantize_q8_0(&x, &mut act);
        assert_eq!(&act[0].qs[..4], &[127, 2, -4, 1]);
        assert_eq!(act[0].d, 1.0);
        let mut reference = Vec::new();
        q8_0::quantize(&x, &mut reference);
        assert_eq!(&reference[2..6], &[127u8, 3, (-4i8) as u8, 1]);
    }

    /// Where 127 / amax and 1 / (amax / 127) differ by an ulp, a value that
    /// lands on a boundary under one lands off it under the other. Searches
    /// for such a block and checks the x86 convention wins.
    #[test]
    fn inverse_scale_is_127_over_amax() {
        let found = (1..20_000u32).find_map(|i| {
            let amax = 1.0 + i as f32 * 1e-4;
            let (a, b) = (127.0 / amax, 1.0 / (amax / 127.0));
            if a == b {
                return None;
            }
            // v with v · a on a tie and v · b off it (or the reverse).
            (1..127).find_map(|k| {
                let v = (k as f32 + 0.5) / a;
                let (ra, rb) = ((v * a).round_ties_even(), (v * b).round_ties_even());
                (ra != rb).then_some((amax, v, ra))
            })
        });
        let (amax, v, want) = found.expect("some amax separates the two inverses");
        let mut x = [0f32; BLOCK];
        x[0] = amax;
        x[1] = v;
        let mut act = Vec::new();
        quantize_q8_0(&x, &mut act);
        assert_eq!(act[0].qs[1] as f32, want);
    }

    #[test]
    fn q8_1_sum_and_scale_match_q8_0() {
        let x: Vec<f32> = (0..96)
            .map(|i| ((i * 37) % 23) as f32 * 0.31 - 3.3)
            .collect();
        let (mut a0, mut a1) = (Vec::new(), Vec::new());
        quantize_q8_0(&x, &mut a0);
        quantize_q8_1(&x, &mut a1);
        for (b0, b1) in a0.iter().zip(&a1) {
            assert_eq!(b0.d, b1.d);
            assert_eq!(b0.qs, b1.qs);
            let sum: i32 = b1.qs.iter().map(|&q| q as i32).sum();
            // s comes from the unrounded d: within f16 rounding of d · Σq.
            let tol = (b1.d * sum as f32).abs() * 2e-3;
            assert!(
                (b1.s - b1.d * sum as f32).abs() <= tol,
                "{} vs {}",
                b1.s,
                b1.d * sum as f32
            );
        }
        // Bytes written by the weight quantizer decode to the same values to
        // within one step: the two conventions differ only at boundaries.
        let mut bytes = Vec::new();
        q8_1::quantize(&x, &mut bytes);
        for (a, b) in a1.iter().zip(bytes.chunks_exact(q8_1::BYTES)) {
            assert_eq!(a.d, f16_at(b, 0));
            assert!(a
                .qs
                .iter()
                .zip(&b[4..])
                .all(|(&q, &v)| (q as i32 - v as i8 as i32).abs() <= 1));
        }
    }

    #[test]
    fn ties_even_is_round_ties_even() {
        for i in -130_000..130_000 {
            for v in [
                i as f32 / 1000.0,
                i as f32 / 1000.0 + 0.0005,
                (i as f32 + 0.5) / 1000.0,
            ] {
                assert_eq!(ties_even(v), v.round_ties_even(), "{v}");
            }
        }
        for v in [0.5f32, 1.5, 2.5, -0.5, -2.5, 126.5, -127.5, 0.49999997] {
            assert_eq!(ties_even(v), v.round_ties_even(), "{v}");
        }
    }

    #[test]
    fn zero_block_is_zero() {
        let mut act = Vec::new();
        quantize_q8_1(&[0.0; BLOCK], &mut act);
        assert_eq!(
            act[0],
            Q8_1Act {
                d: 0.0,
                s: 0.0,
                qs: [0; BLOCK]
            }
        );
    }
}
