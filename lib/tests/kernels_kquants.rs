//! The K-quant dot products (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K against Q8_K):
//! every SIMD kernel this host can run returns the scalar kernel's bits, over
//! random block counts, random and extreme bytes (NaN and infinite f16 scales
//! included) and activations, and every byte value in every weight position;
//! and the scalar kernel computes what the formats mean (the f32 dot of the
//! dequantized weights with the dequantized activations).

mod common;
use common::{compare_paths, xs};

use parci_core::gguf::GgmlType;
use parci_core::quant::kernels::{Isa, Kernel, Op};
use parci_core::quant::matvec::{checked_dot, Activations};
use parci_core::quant::q8_k;
use parci_core::quant::{q2_k, q3_k, q4_k, q5_k, q6_k};
use proptest::prelude::*;

const OPS: [Op; 5] = [Op::Q2KQ8K, Op::Q3KQ8K, Op::Q4KQ8K, Op::Q5KQ8K, Op::Q6KQ8K];

/// Byte offsets of a block's f16 fields (d, then dmin if the format has one).
fn f16_fields(op: Op) -> &'static [usize] {
    match op {
        Op::Q2KQ8K => &[80, 82],
        Op::Q3KQ8K => &[108],
        Op::Q4KQ8K | Op::Q5KQ8K => &[0, 2],
        Op::Q6KQ8K => &[208],
        _ => unreachable!(),
    }
}

fn block_bytes(op: Op) -> usize {
    op.weights().type_size() as usize
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Sets every f16 field of every block to a finite value derived from `r`:
/// magnitudes 2^-14..2^1, either sign, never zero.
fn finite_scales(op: Op, row: &mut [u8], r: &mut Rng) {
    let bytes = block_bytes(op);
    for b in 0..row.len() / bytes {
        for &at in f16_fields(op) {
            let v = r.next();
            // sign, exponent 1..=16 (2^-14 .. 2^1), random mantissa
            let h = ((v & 1) << 15) as u16
                | (((v >> 1) % 16 + 1) << 10) as u16
                | (v >> 8) as u16 & 0x3ff;
            row[b * bytes + at..b * bytes + at + 2].copy_from_slice(&h.to_le_bytes());
        }
    }
}

/// Weight bytes of `n_blocks` blocks: raw random (any f16, NaN and inf
/// included), random with finite scales, or an extreme pattern.
fn weights(op: Op, n_blocks: usize, seed: u64, pattern: u8) -> Vec<u8> {
    let n = n_blocks * block_bytes(op);
    let mut r = Rng(seed | 1);
    let mut row: Vec<u8> = match pattern {
        0 | 1 => (0..n).map(|_| r.next() as u8).collect(),
        2 => vec![0; n],
        3 => vec![0xff; n],
        4 => vec![0x80; n],
        _ => (0..n)
            .map(|_| [0x00, 0xff, 0x55, 0xaa][(r.next() % 4) as usize])
            .collect(),
    };
    match pattern {
        0 => {}
        // the f16 extremes: ±65504 and the smallest subnormal
        5 => {
            let bytes = block_bytes(op);
            for b in 0..n_blocks {
                for (k, &at) in f16_fields(op).iter().enumerate() {
                    let h: u16 = [0x7bff, 0xfbff, 0x0001][(b + k) % 3];
                    row[b * bytes + at..b * bytes + at + 2].copy_from_slice(&h.to_le_bytes());
                }
            }
        }
        _ => finite_scales(op, &mut row, &mut r),
    }
    row
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn kquant_kernels_equal_scalar(op_i in 0usize..5, blocks in 1usize..40, wseed in any::<u64>(),
                                   pattern in 0u8..6, xseed in any::<u64>(), extreme in any::<bool>()) {
        let op = OPS[op_i];
        let row = weights(op, blocks, wseed, pattern);
        let x = xs(blocks * 256, xseed, extreme);
        let (ran, mismatch) = compare_paths(op, &row, &x);
        prop_assert!(mismatch.is_none(), "{} blocks, pattern {pattern}: {}", blocks, mismatch.unwrap_or_default());
        prop_assert!(ran >= 1);
    }
}

/// Long rows: several 16-block chunks, with and without a tail of the 8-block groups.
#[test]
fn long_rows_equal_scalar() {
    for op in OPS {
        for (i, blocks) in [16usize, 17, 64, 71, 160].into_iter().enumerate() {
            for pattern in [0u8, 1] {
                let row = weights(op, blocks, 7 + i as u64, pattern);
                let x = xs(blocks * 256, 11 + i as u64, i % 2 == 0);
                let (_, mismatch) = compare_paths(op, &row, &x);
                assert!(
                    mismatch.is_none(),
                    "{blocks} blocks: {}",
                    mismatch.unwrap_or_default()
                );
            }
        }
    }
}

/// Every byte value in every weight byte position (scales fixed to finite,
/// non-zero powers of two so every integer difference shows in the result):
/// block b has byte (b + 5p + shift) mod 256 at position p. Checked block by
/// block (the one-block tail path) and as one 256-block row (8-block groups).
#[test]
fn every_byte_value_in_every_position() {
    let scales: [u16; 2] = [0x3800, 0x3400]; // 0.5, 0.25
    for op in OPS {
        let bytes = block_bytes(op);
        for shift in [0usize, 1, 7] {
            let mut row: Vec<u8> = (0..256 * bytes)
                .map(|i| ((i / bytes + 5 * (i % bytes) + shift) % 256) as u8)
                .collect();
            for b in 0..256 {
                for (k, &at) in f16_fields(op).iter().enumerate() {
                    row[b * bytes + at..b * bytes + at + 2]
                        .copy_from_slice(&scales[k].to_le_bytes());
                }
            }
            let x = xs(256 * 256, shift as u64 + 3, true);
            let (ran, mismatch) = compare_paths(op, &row, &x);
            assert!(
                mismatch.is_none(),
                "{op:?} shift {shift}: {}",
                mismatch.unwrap_or_default()
            );
            assert!(ran >= 1);
            for b in 0..256 {
                let (_, mismatch) = compare_paths(
                    op,
                    &row[b * bytes..(b + 1) * bytes],
                    &x[b * 256..(b + 1) * 256],
                );
                assert!(
                    mismatch.is_none(),
                    "{op:?} shift {shift} block {b}: {}",
                    mismatch.unwrap_or_default()
                );
            }
        }
    }
}

/// The scalar kernels' integer structure is the format's meaning: each equals,
/// up to f32 rounding, the dot of parci's dequantized row with the Q8_K
/// activations dequantized (q · d).
#[test]
fn scalar_dot_is_the_dequantized_dot() {
    type Dot = fn(&[u8], &[q8_k::Q8K]) -> f32;
    let dots: [(Op, Dot); 5] = [
        (Op::Q2KQ8K, q2_k::dot_scalar),
        (Op::Q3KQ8K, q3_k::dot_scalar),
        (Op::Q4KQ8K, q4_k::dot_scalar),
        (Op::Q5KQ8K, q5_k::dot_scalar),
        (Op::Q6KQ8K, q6_k::dot_scalar),
    ];
    for (op, dot) in dots {
        for seed in 1..6u64 {
            let blocks = 16;
            let row = weights(op, blocks, seed * 977, 1);
            let x = xs(blocks * 256, seed, seed % 2 == 0);
            let mut act = Vec::new();
            q8_k::quantize(&x, &mut act);
            let mut w = Vec::new();
            parci_core::quant::dequantize(op.weights(), &row, &mut w).unwrap();
            let y: Vec<f64> = act
                .iter()
                .flat_map(|a| a.qs.iter().map(move |&q| q as f64 * a.d as f64))
                .collect();
            let want: f64 = w.iter().zip(&y).map(|(&a, &b)| a as f64 * b).sum();
            let wmax = w.iter().fold(0f64, |m, &v| m.max((v as f64).abs()));
            let ysum: f64 = y.iter().map(|v| v.abs()).sum();
            let got = dot(&row, &act) as f64;
            let tol = 1e-5 * wmax * ysum;
            assert!(
                (got - want).abs() <= tol,
                "{op:?} seed {seed}: kernel {got} vs dequantized {want} (tolerance {tol})"
            );
            // and the dispatcher's scalar kernel is that function
            let mut prepared = Activations::default();
            prepared.prepare(op, &x);
            let k = Kernel {
                op,
                isa: Isa::Scalar,
            };
            assert_eq!(
                checked_dot(k, &row, &prepared).unwrap().to_bits(),
                (got as f32).to_bits()
            );
        }
    }
}

#[test]
fn every_kquant_has_simd_kernels_on_x86() {
    if cfg!(target_arch = "x86_64") && Isa::Avx2.available() {
        for op in OPS {
            assert!(op.isas().contains(&Isa::Avx2), "{op:?}");
        }
    }
    for op in OPS {
        assert!(matches!(
            op.weights(),
            GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K
        ));
    }
}
