//! What the kernel-equality tests share: bit equality, activation vectors,
//! and running one row on every path of an op against its scalar kernel.
#![allow(dead_code)]

use parci_core::quant::kernels::{Isa, Kernel, Op};
use parci_core::quant::matvec::{checked_dot, checked_dot_unpacked, Activations};

pub fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

pub fn xs(n: usize, seed: u64, extreme: bool) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if extreme && i % 5 == 0 {
                [127.0, -128.0, 65504.0, -1e-30, 0.0][(s % 5) as usize]
            } else {
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            }
        })
        .collect()
}

/// Runs `row · x` on every path of `op` this host can run; returns how many
/// ran and the first disagreement with the scalar path, if any.
pub fn compare_paths(op: Op, row: &[u8], x: &[f32]) -> (usize, Option<String>) {
    let mut act = Activations::default();
    act.prepare(op, x);
    let want = checked_dot(
        Kernel {
            op,
            isa: Isa::Scalar,
        },
        row,
        &act,
    )
    .unwrap();
    let mut ran = 0;
    for &isa in op.isas() {
        let k = Kernel { op, isa };
        let paths = [
            checked_dot(k, row, &act),
            checked_dot_unpacked(k, row, &act),
        ];
        for got in paths.into_iter().flatten() {
            if !same(want, got) {
                return (
                    ran,
                    Some(format!(
                        "{op:?} {isa:?}: scalar {want} ({:#x}) vs {got} ({:#x})",
                        want.to_bits(),
                        got.to_bits()
                    )),
                );
            }
            ran += 1;
        }
    }
    (ran, None)
}
