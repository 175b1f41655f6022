//! Kernel benchmarks, single thread, for every kernel this host can run:
//! - `dot/<kernel>`: one 4096-weight row against prepared activations, hot in
//!   L1; report ns per 256 weights = time / 16.
//! - `matvec/<kernel>`: a 4096 x 14336 matrix-vector product (llama-8B FFN up
//!   shape) through `MatVec` on one thread, for each kernel mode this host
//!   has (the production path, 4-row kernels included); report GB/s of
//!   weight bytes.
//!
//! Run: cargo bench -p parci-core --bench kernels   (docs/performance.md)

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parci_core::gguf::fixture::SplitMix64;
use parci_core::quant::kernels::{Counters, Kernel, KernelMode, Op};
use parci_core::quant::matvec::{checked_dot, Activations, MatVec};
use std::time::Duration;

const N_IN: usize = 4096;
const N_OUT: usize = 14336;

/// Byte offsets of the f16 fields (d, dmin) of a K-quant block; `None` for
/// formats parci quantizes.
fn kquant_f16_fields(op: Op) -> Option<&'static [usize]> {
    match op {
        Op::Q2KQ8K => Some(&[80, 82]),
        Op::Q3KQ8K => Some(&[108]),
        Op::Q4KQ8K | Op::Q5KQ8K => Some(&[0, 2]),
        Op::Q6KQ8K => Some(&[208]),
        _ => None,
    }
}

fn weights(op: Op, rows: usize, r: &mut SplitMix64) -> Vec<u8> {
    // K-quants have no quantizer here (gguf-py has none to hold one to):
    // random code, scale and min bytes, with small finite f16 d and dmin
    if let Some(fields) = kquant_f16_fields(op) {
        let ty = op.weights();
        let bytes = ty.type_size() as usize;
        let n = ty.row_bytes((rows * N_IN) as u64).unwrap() as usize;
        let mut w: Vec<u8> = (0..n).map(|_| r.next_u64() as u8).collect();
        for b in 0..n / bytes {
            for &at in fields {
                let d = half::f16::from_f32((r.unit() + 0.1) * 1e-3);
                w[b * bytes + at..b * bytes + at + 2].copy_from_slice(&d.to_le_bytes());
            }
        }
        return w;
    }
    let x: Vec<f32> = (0..rows * N_IN)
        .map(|_| match op {
            Op::Tq2_0Q8K | Op::Tq1_0Q8K => [-0.02f32, 0.0, 0.02][(r.next_u64() % 3) as usize],
            _ => (r.unit() - 0.5) * 0.1,
        })
        .collect();
    let mut out = Vec::new();
    parci_core::quant::quantize(op.weights(), &x, &mut out).unwrap();
    out
}

fn runnable(op: Op) -> impl Iterator<Item = Kernel> {
    op.isas()
        .iter()
        .filter(|i| i.available())
        .map(move |&isa| Kernel { op, isa })
}

fn bench(c: &mut Criterion) {
    let mut r = SplitMix64::new(42);
    let x: Vec<f32> = (0..N_IN).map(|_| r.unit() * 2.0 - 1.0).collect();
    let mut g = c.benchmark_group("dot");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for op in Op::ALL {
        let row = weights(op, 1, &mut r);
        let mut act = Activations::default();
        act.prepare(op, &x);
        g.throughput(Throughput::Elements(N_IN as u64));
        for k in runnable(op) {
            g.bench_function(BenchmarkId::from_parameter(k.id()), |b| {
                b.iter(|| checked_dot(k, std::hint::black_box(&row), &act))
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("matvec");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    let mut out = vec![0f32; N_OUT];
    let counters = Counters::new();
    for op in Op::ALL {
        let w = weights(op, N_OUT, &mut r);
        let mut act = Activations::default();
        act.prepare(op, &x);
        g.throughput(Throughput::Bytes(w.len() as u64));
        let mut seen = Vec::new();
        for mode in [
            KernelMode::Scalar,
            KernelMode::Avx2,
            KernelMode::Avx512,
            KernelMode::Neon,
        ] {
            let Ok(mv) = MatVec::new(mode, 1) else {
                continue;
            };
            let k = mv.kernel(op);
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            g.bench_function(BenchmarkId::from_parameter(k.id()), |b| {
                b.iter(|| mv.matvec(op, &w, &act, &mut out, &counters))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
