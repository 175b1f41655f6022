//! Every SIMD kernel this host can run returns the scalar kernel's result bit
//! for bit, over random lengths and values and the extremes (all -1, all +1,
//! zero scales, int8 limits, f16 limits).

mod common;
use common::{compare_paths, xs};

use parci_core::gguf::GgmlType;
use parci_core::quant::kernels::{Isa, Kernel, Op};
use proptest::prelude::*;

/// Weight bytes of `n_blocks` blocks of `op`'s format: random, or an extreme pattern.
fn weights(op: Op, n_elems: usize, seed: &[u8], pattern: u8) -> Vec<u8> {
    let ty = op.weights();
    let n = ty.row_bytes(n_elems as u64).unwrap() as usize;
    match pattern {
        // raw random bytes: every code, every scale including NaN/inf for floats
        0 => (0..n)
            .map(|i| seed[i % seed.len()].wrapping_mul(31).wrapping_add(i as u8))
            .collect(),
        // quantized extremes from floats
        p => {
            let x: Vec<f32> = (0..n_elems)
                .map(|i| match p {
                    1 => -1.0,
                    2 => 1.0,
                    3 => 0.0,
                    4 => {
                        if i % 2 == 0 {
                            127.0
                        } else {
                            -128.0
                        }
                    }
                    _ => {
                        if i % 3 == 0 {
                            65504.0
                        } else {
                            -65504.0
                        }
                    }
                })
                .collect();
            let mut out = Vec::new();
            parci_core::quant::quantize(ty, &x, &mut out).unwrap();
            out
        }
    }
}

fn check(
    op: Op,
    n_elems: usize,
    wseed: &[u8],
    pattern: u8,
    x: &[f32],
) -> Result<(), TestCaseError> {
    let row = weights(op, n_elems, wseed, pattern);
    let (ran, mismatch) = compare_paths(op, &row, x);
    prop_assert!(
        mismatch.is_none(),
        "n={n_elems} pattern {pattern}: {}",
        mismatch.unwrap_or_default()
    );
    prop_assert!(ran >= 1);
    Ok(())
}

fn block(op: Op) -> usize {
    match op.weights() {
        GgmlType::TQ2_0 | GgmlType::TQ1_0 => 256,
        GgmlType::Q8_0 | GgmlType::Q4_0 => 32,
        _ => 1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn quantized_kernels_equal_scalar(op_i in 0usize..4, blocks in 1usize..150, wseed in prop::collection::vec(any::<u8>(), 1..64),
                                      pattern in 0u8..6, xseed in any::<u64>(), extreme in any::<bool>()) {
        let op = [Op::Tq2_0Q8K, Op::Tq1_0Q8K, Op::Q8_0Q8_0, Op::Q4_0Q8_0][op_i];
        // any block count: tails of a group of 8 and several 64-block chunks
        let n = blocks * block(op);
        check(op, n, &wseed, pattern, &xs(n, xseed, extreme))?;
    }

    #[test]
    fn float_kernels_equal_scalar(op_i in 0usize..3, n in 1usize..1200, wseed in prop::collection::vec(any::<u8>(), 1..64),
                                  pattern in 0u8..6, xseed in any::<u64>(), extreme in any::<bool>()) {
        let op = [Op::F32F32, Op::F16F32, Op::Bf16F32][op_i];
        check(op, n, &wseed, pattern, &xs(n, xseed, extreme))?;
    }
}

#[test]
fn this_host_runs_some_simd_path() {
    // On this project's machines (AVX-512 VNNI) every listed ISA is exercised.
    if Isa::Avx2.available() {
        let runnable: Vec<String> = Kernel::all()
            .into_iter()
            .filter(|k| k.isa.available())
            .map(|k| k.id())
            .collect();
        assert!(
            runnable.iter().any(|id| id.ends_with("_avx2")),
            "{runnable:?}"
        );
    }
}

/// Every byte value in every weight position of the bit-packed formats: the
/// ternary decoders' thresholds are exercised exhaustively, not by chance.
#[test]
fn every_byte_value_in_every_position() {
    for op in [Op::Tq1_0Q8K, Op::Tq2_0Q8K, Op::Q4_0Q8_0, Op::Q8_0Q8_0] {
        let n = 256 * 32;
        let bytes = op.weights().row_bytes(n as u64).unwrap() as usize;
        let block = op.weights().type_size() as usize;
        for shift in [0usize, 1, 7] {
            let mut row: Vec<u8> = (0..bytes).map(|i| ((i * 5 + shift) % 256) as u8).collect();
            // keep scales finite and non-zero so every product matters
            for b in 0..bytes / block {
                let at = match op {
                    Op::Tq1_0Q8K => 52,
                    Op::Tq2_0Q8K => 64,
                    _ => 0,
                };
                row[b * block + at..b * block + at + 2]
                    .copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
            }
            let (_, mismatch) = compare_paths(op, &row, &xs(n, shift as u64 + 3, true));
            assert!(
                mismatch.is_none(),
                "shift {shift}: {}",
                mismatch.unwrap_or_default()
            );
        }
    }
}
