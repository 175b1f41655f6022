//! Engine benchmarks (docs/performance.md, "Decode and graph build"):
//! - `decode/small/threads-N`: greedy decode of the `small` fixture, 8 prompt
//!   plus 32 decode tokens per pass; only the 32 decode steps are timed
//!   (`iter_custom`), so criterion's throughput is decode tokens/s.
//! - `graph/<model>/<parallel|sequential>`: execution-plan build of the small
//!   fixture and of a synthetic 1 000-layer llama (tiny F32 tensors: the
//!   spec phase's own cost, not I/O), with the spec phase on rayon or not.
//!
//! Run: cargo bench -p parci-core --bench decode

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{GgmlType, Gguf, OwnedValue, Writer};
use parci_core::model::workload::{self, Workload};
use parci_core::model::Model;
use parci_core::quant::kernels::KernelMode;
use std::time::Duration;

const PROMPT: usize = 8;
const TOKENS: usize = 32;

/// A llama file with `n_layer` layers of 32-wide F32 tensors.
fn synthetic(n_layer: u32) -> Vec<u8> {
    let (e, ff, vocab) = (32u64, 64u64, 64u64);
    let mut w = Writer::new();
    let u = |v: u32| OwnedValue::U32(v);
    w.kv("general.architecture", OwnedValue::Str("llama".into()))
        .unwrap();
    for (k, v) in [
        ("llama.context_length", 128),
        ("llama.embedding_length", e as u32),
        ("llama.block_count", n_layer),
        ("llama.feed_forward_length", ff as u32),
        ("llama.attention.head_count", 4),
        ("llama.attention.head_count_kv", 2),
        ("llama.vocab_size", vocab as u32),
    ] {
        w.kv(k, u(v)).unwrap();
    }
    w.kv(
        "llama.attention.layer_norm_rms_epsilon",
        OwnedValue::F32(1e-5),
    )
    .unwrap();
    let mut t = |name: &str, shape: &[u64]| {
        let n: u64 = shape.iter().product();
        w.tensor(name, GgmlType::F32, shape, vec![0u8; 4 * n as usize])
            .unwrap();
    };
    t("token_embd.weight", &[e, vocab]);
    for l in 0..n_layer {
        let p = |s: &str| format!("blk.{l}.{s}.weight");
        t(&p("attn_norm"), &[e]);
        t(&p("attn_q"), &[e, e]);
        t(&p("attn_k"), &[e, e / 2]);
        t(&p("attn_v"), &[e, e / 2]);
        t(&p("attn_output"), &[e, e]);
        t(&p("ffn_norm"), &[e]);
        t(&p("ffn_gate"), &[e, ff]);
        t(&p("ffn_up"), &[e, ff]);
        t(&p("ffn_down"), &[ff, e]);
    }
    t("output_norm.weight", &[e]);
    w.to_bytes()
}

fn bench(c: &mut Criterion) {
    let small = fixture::generate(Preset::Small, 0);
    let g = Gguf::parse(&small).unwrap();
    let plan = parci_core::graph::build(&g, (PROMPT + TOKENS) as u64, true).unwrap();
    let model = Model::new(&g, &plan).unwrap();
    let prompt = workload::prompt(plan.hparams.n_vocab, 0, PROMPT);

    let mut grp = c.benchmark_group("decode");
    grp.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(TOKENS as u64));
    for threads in [1, 2] {
        let w = Workload {
            prompt: prompt.clone(),
            tokens: TOKENS,
            threads,
            mode: KernelMode::Auto,
            stop: vec![],
        };
        grp.bench_function(
            BenchmarkId::new("small", format!("threads-{threads}")),
            |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| workload::run(&model, &w).unwrap().decode())
                        .sum()
                })
            },
        );
    }
    grp.finish();

    let big = synthetic(1000);
    let big_g = Gguf::parse(&big).unwrap();
    let mut grp = c.benchmark_group("graph");
    grp.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, gg) in [("small", &g), ("synthetic-1000-layers", &big_g)] {
        for (mode, parallel) in [("parallel", true), ("sequential", false)] {
            grp.bench_function(BenchmarkId::new(name, mode), |b| {
                b.iter(|| parci_core::graph::build(gg, 2048, parallel).unwrap())
            });
        }
    }
    grp.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
