//! ggml's legacy formats Q4_1 · Q8_1, Q5_0 · Q8_0 and Q5_1 · Q8_1:
//! - every SIMD kernel this host can run returns the scalar kernel's bits, over
//!   random block counts, random and extreme weights and activations, and
//!   every byte value in every weight byte position;
//! - the scalar kernel is right, not just consistent: it is close to the dot
//!   of the dequantized weights and activations;
//! - Q8_1 activations are ggml's `quantize_row_q8_1_ref` (hand-checked blocks:
//!   gguf-py has no Q8_1 quantizer and still sizes Q8_1 as the old 40 bytes).

mod common;
use common::{compare_paths, same, xs};

use parci_core::gguf::GgmlType;
use parci_core::quant::act;
use parci_core::quant::dot::Q8_0Act;
use parci_core::quant::kernels::{Isa, Kernel, Op};
use parci_core::quant::matvec::{checked_dot, Activations};
use parci_core::quant::q8_1::Q8_1Act;
use parci_core::quant::{self, q4_1, q5_0, q5_1};
use proptest::prelude::*;

const OPS: [Op; 3] = [Op::Q4_1Q8_1, Op::Q5_0Q8_0, Op::Q5_1Q8_1];

fn block_bytes(op: Op) -> usize {
    op.weights().type_size() as usize
}

/// Byte offsets of a block's f16 factors (d, and m for the two-term formats).
fn factor_offsets(op: Op) -> &'static [usize] {
    match op {
        Op::Q5_0Q8_0 => &[0],
        _ => &[0, 2],
    }
}

/// A finite, non-zero f16 derived from `s`, of either sign, 2^-14 .. ~2^12.
fn finite_f16(s: u64) -> [u8; 2] {
    let mag = (2f32).powi((s % 27) as i32 - 14) * (1.0 + (s >> 8) as f32 % 1000.0 / 1000.0);
    let v = if s & 0x10000 != 0 { -mag } else { mag };
    half::f16::from_f32(v).to_le_bytes()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Weight bytes of `blocks` blocks of `op`'s format.
fn weights(op: Op, blocks: usize, seed: u64, pattern: u8) -> Vec<u8> {
    let bytes = blocks * block_bytes(op);
    let n = blocks * 32;
    let mut r = Rng(seed | 1);
    match pattern {
        // raw random bytes: every code, NaN/inf/subnormal factors included
        0 => (0..bytes).map(|_| r.next() as u8).collect(),
        // raw random codes, finite non-zero factors
        1 => {
            let mut w: Vec<u8> = (0..bytes).map(|_| r.next() as u8).collect();
            for blk in w.chunks_exact_mut(block_bytes(op)) {
                for &at in factor_offsets(op) {
                    blk[at..at + 2].copy_from_slice(&finite_f16(r.next()));
                }
            }
            w
        }
        // quantized from floats: random, constant, zero, int8 limits, f16 limits
        p => {
            let x: Vec<f32> = (0..n)
                .map(|i| match p {
                    2 => (r.unit() - 0.5) * 4.0,
                    3 => -1.0,
                    4 => 1.0,
                    5 => 0.0,
                    6 => [127.0, -128.0][i % 2],
                    _ => [65504.0, -65504.0, -65504.0][i % 3],
                })
                .collect();
            let mut out = Vec::new();
            quant::quantize(op.weights(), &x, &mut out).unwrap();
            assert_eq!(out.len(), bytes);
            out
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn simd_kernels_equal_scalar(op_i in 0usize..3, blocks in 1usize..150, wseed in any::<u64>(),
                                 pattern in 0u8..8, xseed in any::<u64>(), extreme in any::<bool>()) {
        let op = OPS[op_i];
        let row = weights(op, blocks, wseed, pattern);
        let (ran, mismatch) = compare_paths(op, &row, &xs(blocks * 32, xseed, extreme));
        prop_assert!(mismatch.is_none(), "{blocks} blocks, pattern {pattern}: {}", mismatch.unwrap_or_default());
        prop_assert!(ran >= 1);
    }
}

/// Every block count up to 40 (all tails of the 8-block groups, the 2-block
/// pairs and the 16-block chunks; SmolLM2's 18 and Gemma's 20 blocks), and
/// several 16-block chunks.
#[test]
fn every_small_block_count() {
    for op in OPS {
        for blocks in (1..=40).chain([64, 65, 71, 128, 129]) {
            for pattern in [1, 2] {
                let row = weights(op, blocks, blocks as u64 * 7 + 1, pattern);
                let (ran, mismatch) = compare_paths(op, &row, &xs(blocks * 32, 99, false));
                assert!(mismatch.is_none(), "{blocks} blocks: {mismatch:?}");
                assert!(ran >= 1);
            }
        }
    }
}

/// The SIMD kernels each op lists (Q4_1: AVX2; Q5_1: AVX2, AVX-512; Q5_0:
/// AVX2, AVX-512, VNNI) are the ones this host runs in the tests above.
#[test]
fn this_host_runs_the_simd_kernels() {
    let ids = |op: Op| -> Vec<String> {
        op.isas()
            .iter()
            .filter(|i| i.available())
            .map(|&isa| Kernel { op, isa }.id())
            .collect()
    };
    if Isa::Avx2.available() {
        for op in OPS {
            assert!(ids(op).iter().any(|id| id.ends_with("_avx2")), "{op:?}");
        }
    }
    if Isa::Avx512Vnni.available() {
        assert!(ids(Op::Q5_0Q8_0).contains(&"q5_0_dot_q8_0_avx512vnni".to_string()));
        assert!(ids(Op::Q5_1Q8_1).contains(&"q5_1_dot_q8_1_avx512".to_string()));
    }
}

/// Every byte value (0..=255) in every byte position of a block, `qh` bytes
/// included, at every block slot of an 8-block group (so in both blocks of a
/// 512-bit pair and in every lane of the reduction); the f16 factors are
/// overwritten with finite non-zero values of varying sign and size so every
/// product matters.
#[test]
fn every_byte_value_in_every_position() {
    for op in OPS {
        let bb = block_bytes(op);
        for step in [1usize, 7, 101] {
            let blocks = 256 * 8;
            let mut row: Vec<u8> = (0..blocks * bb)
                .map(|i| {
                    let (b, p) = (i / bb, i % bb);
                    ((b >> 3) + p * step + (b & 7) * 37) as u8
                })
                .collect();
            for (b, blk) in row.chunks_exact_mut(bb).enumerate() {
                for (j, &at) in factor_offsets(op).iter().enumerate() {
                    blk[at..at + 2].copy_from_slice(&finite_f16((b * 3 + j) as u64 * 0x9E37));
                }
            }
            for (xseed, extreme) in [(3, true), (4, false)] {
                let (ran, mismatch) = compare_paths(op, &row, &xs(blocks * 32, xseed, extreme));
                assert!(mismatch.is_none(), "step {step}: {mismatch:?}");
                assert!(ran >= 1);
            }
        }
    }
}

fn dequantized(ty: GgmlType, bytes: &[u8]) -> Vec<f64> {
    let mut v = Vec::new();
    quant::dequantize(ty, bytes, &mut v).unwrap();
    v.into_iter().map(f64::from).collect()
}

/// The scalar dot is the dot of the dequantized operands, up to f32 rounding
/// of the block terms and, for Q8_1, the f16 rounding of `s` (ggml's `s` is
/// d · Σ q rounded to f16, not the exact Σ of the dequantized activations).
#[test]
fn scalar_dot_is_the_dequantized_dot() {
    for (k, op) in OPS.into_iter().enumerate() {
        for case in 0..20u64 {
            let blocks = 1 + (case as usize * 13) % 60;
            let n = blocks * 32;
            let row = weights(op, blocks, case * 31 + k as u64, 2);
            let mut r = Rng(case + 77);
            // activations with a non-zero mean, so the min terms matter
            let x: Vec<f32> = (0..n).map(|_| r.unit() * 3.0 - 1.0).collect();
            let w = dequantized(op.weights(), &row);
            let (a, slack) = match op {
                Op::Q5_0Q8_0 => {
                    let mut act: Vec<Q8_0Act> = Vec::new();
                    act::quantize_q8_0(&x, &mut act);
                    let a: Vec<f64> = act
                        .iter()
                        .flat_map(|b| b.qs.map(|q| q as f64 * b.d as f64))
                        .collect();
                    (a, 0.0)
                }
                _ => {
                    let mut act: Vec<Q8_1Act> = Vec::new();
                    act::quantize_q8_1(&x, &mut act);
                    let a: Vec<f64> = act
                        .iter()
                        .flat_map(|b| b.qs.map(|q| q as f64 * b.d as f64))
                        .collect();
                    // |m| · |s| · 2^-11 per block, m the f16 at byte 2
                    let bb = block_bytes(op);
                    let slack: f64 = act
                        .iter()
                        .zip(row.chunks_exact(bb))
                        .map(|(y, blk)| {
                            let m = half::f16::from_le_bytes([blk[2], blk[3]]).to_f64();
                            m.abs() * (y.s as f64).abs() / 2048.0
                        })
                        .sum();
                    (a, slack)
                }
            };
            let exact: f64 = w.iter().zip(&a).map(|(w, a)| w * a).sum();
            let mag: f64 = w.iter().zip(&a).map(|(w, a)| (w * a).abs()).sum();
            let mut act = Activations::default();
            act.prepare(op, &x);
            let got = checked_dot(
                Kernel {
                    op,
                    isa: Isa::Scalar,
                },
                &row,
                &act,
            )
            .unwrap() as f64;
            let tol = slack + 1e-5 * mag + 1e-6;
            assert!(
                (got - exact).abs() <= tol,
                "{op:?} case {case}: {got} vs {exact} (tolerance {tol})"
            );
            // and close to the float dot itself: the quantization is sane
            let float: f64 = w.iter().zip(&x).map(|(w, &x)| w * x as f64).sum();
            assert!(
                (got - float).abs() <= 0.1 * mag + 1e-3,
                "{op:?} case {case}: {got} vs float {float}"
            );
        }
    }
}

/// The scalar references of the three formats agree with the public
/// `dot_scalar` functions (what `checked_dot` runs at Isa::Scalar).
#[test]
fn scalar_kernel_is_the_format_reference() {
    let x = xs(20 * 32, 5, false);
    let mut a1 = Vec::new();
    act::quantize_q8_1(&x, &mut a1);
    let mut a0 = Vec::new();
    act::quantize_q8_0(&x, &mut a0);
    for op in OPS {
        let row = weights(op, 20, 11, 2);
        let mut act = Activations::default();
        act.prepare(op, &x);
        let k = Kernel {
            op,
            isa: Isa::Scalar,
        };
        let want = match op {
            Op::Q4_1Q8_1 => q4_1::dot_scalar(&row, &a1),
            Op::Q5_1Q8_1 => q5_1::dot_scalar(&row, &a1),
            _ => q5_0::dot_scalar(&row, &a0),
        };
        assert!(same(checked_dot(k, &row, &act).unwrap(), want), "{op:?}");
    }
}

/// Two hand-checked Q8_1 blocks.
/// Block 0: amax 127 -> d = 1. The weight quantizer (`_ref`) rounds halves
/// away from zero (-63.5 -> -64, 2.5 -> 3, -0.5 -> -1), so Σ q is
/// 127 - 64 + 1 - 1 + 2 + 3 = 68 and s = 68 (f16 0x5440). Activations round
/// halves to even, as ggml's x86 kernels do (0.5 -> 0, 1.5 -> 2, 2.5 -> 2):
/// Σ q = 67.
/// Block 1: one value 0.3, rest 0: d = 0.3f / 127 (f16 0x18d6); q0 = 127;
/// s = f16(127 · d) with the f32 d = f16(0.3) = 0x34cd. (With d first rounded
/// to f16, s would be 0x34cc: this pins ggml's order.)
#[test]
fn q8_1_hand_checked_blocks() {
    let mut x = vec![0f32; 64];
    x[..6].copy_from_slice(&[127.0, -63.5, 0.5, -0.5, 1.5, 2.5]);
    x[32] = 0.3;
    let mut bytes = Vec::new();
    quant::quantize(GgmlType::Q8_1, &x, &mut bytes).unwrap();
    let mut want = vec![0x00, 0x3C, 0x40, 0x54, 127, 0xC0, 1, 0xFF, 2, 3];
    want.resize(36, 0);
    want.extend([0xD6, 0x18, 0xCD, 0x34, 127]);
    want.resize(72, 0);
    assert_eq!(bytes, want);

    let mut act = Vec::new();
    act::quantize_q8_1(&x, &mut act);
    assert_eq!(act.len(), 2);
    assert_eq!((act[0].d, act[0].s), (1.0, 67.0));
    assert_eq!(&act[0].qs[..7], &[127, -64, 0, 0, 2, 2, 0]);
    assert_eq!(
        act[1].d.to_bits(),
        half::f16::from_bits(0x18d6).to_f32().to_bits()
    );
    assert_eq!(
        act[1].s.to_bits(),
        half::f16::from_bits(0x34cd).to_f32().to_bits()
    );

    let mut back = Vec::new();
    quant::dequantize(GgmlType::Q8_1, &bytes, &mut back).unwrap();
    assert_eq!(&back[..6], &[127.0, -64.0, 1.0, -1.0, 2.0, 3.0]);
    assert_eq!(back[32], 127.0 * half::f16::from_bits(0x18d6).to_f32());
}
